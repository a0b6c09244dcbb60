from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilith.policy.paths import Resolver, is_within, normalise_file_uri, normalise_path, path_readings


class FakeResolver:
    """An in-memory filesystem: home /home/u, cwd /srv/app, and a table of symlinks (absolute link path -> target)."""

    def __init__(self, links: dict[str, str] | None = None, home: str = "/home/u", cwd: str = "/srv/app") -> None:
        self.links = links or {}
        self._home = home
        self._cwd = cwd

    def home(self) -> str:
        return self._home

    def cwd(self) -> str:
        return self._cwd

    def realpath(self, path: str) -> str:
        # Component by component, in order, like the kernel: '..' after a link goes to the target's parent.
        todo = [segment for segment in path.split("/") if segment]
        done: list[str] = []
        hops = 0
        while todo:
            segment = todo.pop(0)
            if segment == ".":
                continue
            if segment == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join([*done, segment])
            target = self.links.get(candidate)
            if target is None:
                done.append(segment)
                continue
            hops += 1
            if hops > 40:  # a loop: leave the rest unresolved, as os.path.realpath does
                done.append(segment)
                continue
            if target.startswith("/"):
                done = []
            todo = [s for s in target.split("/") if s] + todo
        return "/" + "/".join(done)


class OsResolver:
    """The kind of resolver the shell will supply: os.path on the local machine, with a chosen home."""

    def __init__(self, home: Path) -> None:
        self._home = str(home)

    def home(self) -> str:
        return self._home

    def cwd(self) -> str:
        return os.getcwd()

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)


FAKE = FakeResolver()


def test_resolvers_satisfy_the_protocol() -> None:
    resolvers: list[Resolver] = [FAKE, OsResolver(Path("/"))]
    assert len(resolvers) == 2


# --- normalise_path ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/etc/passwd", "/etc/passwd"),
        ("/ETC/passwd", "/ETC/passwd"),
        ("../../etc/passwd", "/etc/passwd"),
        ("../../../../../../etc/passwd", "/etc/passwd"),
        ("data/x.txt", "/srv/app/data/x.txt"),
        ("./data/./x.txt", "/srv/app/data/x.txt"),
        (".", "/srv/app"),
        ("~", "/home/u"),
        ("~/", "/home/u"),
        ("~/projects/x", "/home/u/projects/x"),
        ("~/../../etc", "/etc"),
        ("//double//slashes//", "/double/slashes"),
        ("///etc///passwd", "/etc/passwd"),
        ("/tmp/root/", "/tmp/root"),
        ("/tmp/root/.", "/tmp/root"),
        ("/tmp/root/x/..", "/tmp/root"),
        ("/..", "/"),
        ("/", "/"),
        ("/tmp/~", "/tmp/~"),
        ("/tmp/a b/ü/\u0430", "/tmp/a b/ü/\u0430"),
        ("/tmp/...", "/tmp/..."),
    ],
)
def test_normalise_path(raw: str, expected: str) -> None:
    assert normalise_path(raw, FAKE) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("/etc/passwd\x00.txt", "NUL"),
        ("\x00", "NUL"),
        ("", "empty"),
        ("~root/.ssh", "another user"),
        ("~root", "another user"),
    ],
)
def test_normalise_path_rejects(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalise_path(raw, FAKE)


@pytest.mark.parametrize(
    ("resolver", "raw"),
    [
        (FakeResolver(home="relative/home"), "~/x"),
        (FakeResolver(cwd="relative"), "x"),
        (FakeResolver(cwd="/srv/\x00"), "x"),
    ],
)
def test_a_broken_resolver_is_an_error_not_a_guess(resolver: FakeResolver, raw: str) -> None:
    with pytest.raises(ValueError, match="resolver returned"):
        normalise_path(raw, resolver)


def test_symlinks_are_followed() -> None:
    resolver = FakeResolver({"/home/u/projects/evil": "/etc", "/home/u/projects/rel": "../docs"})
    assert normalise_path("~/projects/evil/passwd", resolver) == "/etc/passwd"
    assert normalise_path("/home/u/projects/rel/a", resolver) == "/home/u/docs/a"
    assert not is_within(normalise_path("~/projects/evil/passwd", resolver), [normalise_path("~/projects", resolver)])


def test_dotdot_after_a_symlink_follows_the_kernel_and_both_readings_are_reported() -> None:
    resolver = FakeResolver({"/allowed/link": "/outside/deep"})
    raw = "/allowed/link/../secret"
    assert normalise_path(raw, resolver) == "/outside/secret"
    assert path_readings(raw, resolver) == {"/outside/secret", "/allowed/secret"}
    readings = path_readings(raw, resolver)
    assert not all(is_within(p, ["/allowed"]) for p in readings)
    assert path_readings("/allowed/x/../y", resolver) == {"/allowed/y"}


def test_symlink_loop_terminates() -> None:
    resolver = FakeResolver({"/a": "/b", "/b": "/a"})
    assert normalise_path("/a/x", resolver).startswith("/")


# --- is_within ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "roots", "expected"),
    [
        ("/tmp/root", ["/tmp/root"], True),
        ("/tmp/root/a/b", ["/tmp/root"], True),
        ("/tmp/root-evil", ["/tmp/root"], False),
        ("/tmp/rootx/a", ["/tmp/root"], False),
        ("/tmp", ["/tmp/root"], False),
        ("/etc/passwd", ["/tmp", "/home/u/projects"], False),
        ("/home/u/projects/x", ["/tmp", "/home/u/projects"], True),
        ("/anything", ["/"], True),
        ("/", ["/"], True),
        ("/", ["/tmp"], False),
        ("/tmp/x", [], False),
        ("/TMP/x", ["/tmp"], False),
    ],
)
def test_is_within(path: str, roots: list[str], expected: bool) -> None:
    assert is_within(path, roots) is expected


@pytest.mark.parametrize(
    ("path", "roots"),
    [("tmp/x", ["/tmp"]), ("/tmp/x/", ["/tmp"]), ("/tmp/../etc", ["/tmp"]), ("/tmp/x", ["/tmp/"]), ("/x", ["//x"])],
)
def test_is_within_refuses_unnormalised_input(path: str, roots: list[str]) -> None:
    with pytest.raises(ValueError, match="not a normalised absolute path"):
        is_within(path, roots)


def test_policy_roots_with_tilde_and_trailing_slashes() -> None:
    roots = [normalise_path(r, FAKE) for r in ["/tmp/", "~/projects//"]]
    assert roots == ["/tmp", "/home/u/projects"]
    assert is_within(normalise_path("~/projects/a/../b", FAKE), roots)
    assert not is_within(normalise_path("~/projects/../secrets", FAKE), roots)
    assert not is_within(normalise_path("~/projects-old/x", FAKE), roots)
    assert not is_within(normalise_path("/tmp/../etc/shadow", FAKE), roots)


# --- URIs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///%65tc/passwd", "file:///etc/passwd"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        ("file://localhost/etc/passwd", "file:///etc/passwd"),
        ("FILE://LocalHost/etc/passwd", "file:///etc/passwd"),
        ("file:/etc/passwd", "file:///etc/passwd"),
        ("file:///tmp/%2e%2e/etc/passwd", "file:///etc/passwd"),
        ("file:///tmp/%2E%2E/%2E%2E/etc", "file:///etc"),
        ("file:///ETC/passwd", "file:///ETC/passwd"),
        ("file:///tmp/a%20b", "file:///tmp/a b"),
        ("file:///tmp/%C3%BC", "file:///tmp/ü"),
        ("file:///tmp/%2565", "file:///tmp/%65"),  # decoded exactly once
        ("file:///tmp/a%2Fb", "file:///tmp/a/b"),
        ("file:////double//slash/", "file:///double/slash"),
        ("file:///home/u/projects/evil/passwd", "file:///etc/passwd"),
        ("file:///~/x", "file:///~/x"),
    ],
)
def test_file_uris(uri: str, expected: str) -> None:
    resolver = FakeResolver({"/home/u/projects/evil": "/etc"})
    assert normalise_file_uri(uri, resolver) == expected


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("file:///etc/passwd%00.txt", "NUL"),
        ("file://evil.example/etc/passwd", "host"),
        ("file://localhost.evil/etc", "host"),
        ("file://user@localhost/etc", "host"),
        ("file://localhost", "no path"),
        ("file:relative/path", "not absolute"),
        ("file:", "not absolute"),
        ("file:///etc/passwd?x", "raw '\\?' or '#'"),
        ("file:///etc/passwd#x", "raw '\\?' or '#'"),
        ("file:///tmp/%zz", "malformed percent-escape"),
        ("file:///tmp/%4", "malformed percent-escape"),
        ("file:///tmp/%", "malformed percent-escape"),
        ("file:///tmp/%ff", "not UTF-8"),
        ("file:///tmp/a\nb", "control character"),
        ("file:///tmp/a\x00b", "control character"),
        ("file:///tmp/\udc80", "lone surrogate"),
        ("https://example.com/\ud800", "lone surrogate"),
        ("/etc/passwd", "no scheme"),
        ("", "no scheme"),
        ("1http://x", "no scheme"),
        ("ht^tp://x", "invalid scheme"),
    ],
)
def test_bad_uris(uri: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalise_file_uri(uri, FAKE)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("HTTP://Example.COM/a/b", "http://example.com/a/b"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a/%2e%2E/b", "https://example.com/b"),
        ("https://example.com/%7Euser/%61", "https://example.com/~user/a"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/a%2Fb/..", "https://example.com/"),
        ("https://User@Example.com:8080/x", "https://User@example.com:8080/x"),
        ("https://example.com/../../x", "https://example.com/x"),
        ("https://example.com/p?q=%7e&r=A#Frag%2e", "https://example.com/p?q=~&r=A#Frag."),
        ("https://example.com/p?q=../x", "https://example.com/p?q=../x"),
        ("https://example.com", "https://example.com"),
        ("https://[::1]:443/", "https://[::1]:443/"),
        ("mem://Bucket/Key", "mem://bucket/Key"),
        ("urn:ISBN:0451450523", "urn:ISBN:0451450523"),
        ("mailto:User@Example.com", "mailto:User@Example.com"),
        ("db:/tables/./users/../orders", "db:/tables/orders"),
    ],
)
def test_other_schemes_get_rfc3986_normalisation(uri: str, expected: str) -> None:
    assert normalise_file_uri(uri, FAKE) == expected


# --- property tests ----------------------------------------------------------------------------

_SEGMENTS = st.lists(st.sampled_from(["a", "..", ".", ""]), max_size=12)


@given(segments=_SEGMENTS, absolute=st.booleans())
def test_normalised_paths_are_absolute_and_dot_free(segments: list[str], absolute: bool) -> None:
    raw = ("/" if absolute else "") + "/".join(segments)
    if not raw:
        return
    result = normalise_path(raw, FAKE)
    assert result.startswith("/")
    assert "/../" not in result + "/"
    assert "/./" not in result + "/"
    assert "//" not in result
    assert result == "/" or not result.endswith("/")
    assert normalise_path(result, FAKE) == result  # idempotent
    assert is_within(result, [result])


@given(segments=_SEGMENTS)
def test_file_uri_agrees_with_path_normalisation(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    assert normalise_file_uri("file://" + path, FAKE) == "file://" + normalise_path(path, FAKE)
    encoded = path.replace(".", "%2e")
    assert normalise_file_uri("file://" + encoded, FAKE) == "file://" + normalise_path(path, FAKE)


# --- against the real filesystem -----------------------------------------------------------------


@pytest.fixture
def real(tmp_path: Path) -> tuple[OsResolver, Path]:
    base = Path(os.path.realpath(tmp_path))
    (base / "home").mkdir()
    (base / "allowed").mkdir()
    (base / "outside" / "deep").mkdir(parents=True)
    (base / "outside" / "secret").write_text("s")
    (base / "allowed" / "to_etc").symlink_to("/etc")
    (base / "allowed" / "to_outside").symlink_to(base / "outside" / "deep")
    (base / "allowed" / "relative").symlink_to("../outside")
    return OsResolver(base / "home"), base


def test_real_symlink_to_etc_is_not_within_the_allowed_dir(real: tuple[OsResolver, Path]) -> None:
    resolver, base = real
    allowed = normalise_path(str(base / "allowed"), resolver)
    target = normalise_path(str(base / "allowed" / "to_etc" / "passwd"), resolver)
    assert target == os.path.realpath("/etc/passwd")
    assert not is_within(target, [allowed])
    via_uri = normalise_file_uri("file://" + str(base / "allowed" / "to_etc" / "passwd"), resolver)
    assert via_uri == "file://" + target


def test_real_relative_symlink(real: tuple[OsResolver, Path]) -> None:
    resolver, base = real
    assert normalise_path(str(base / "allowed" / "relative" / "secret"), resolver) == str(base / "outside" / "secret")


def test_real_dotdot_after_symlink_matches_what_open_reaches(real: tuple[OsResolver, Path]) -> None:
    resolver, base = real
    raw = str(base / "allowed" / "to_outside") + "/../secret"
    assert os.path.exists(raw)  # the kernel reaches outside/secret through the link's parent
    assert normalise_path(raw, resolver) == str(base / "outside" / "secret")
    assert str(base / "allowed" / "secret") in path_readings(raw, resolver)


def test_real_tilde_and_missing_components(real: tuple[OsResolver, Path]) -> None:
    resolver, base = real
    assert normalise_path("~/../allowed/new/file", resolver) == str(base / "allowed" / "new" / "file")
    assert normalise_path("~/does/not/../exist", resolver) == str(base / "home" / "does" / "exist")


def test_real_relative_paths_use_the_working_directory(
    real: tuple[OsResolver, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver, base = real
    monkeypatch.chdir(base / "allowed")
    assert normalise_path("../outside/secret", resolver) == str(base / "outside" / "secret")
    assert normalise_path("to_etc", resolver) == os.path.realpath("/etc")
