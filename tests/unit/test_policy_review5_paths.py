"""Review 5, policy paths: resource patterns read like the URIs they are compared with, /proc links refused by
the server resolver, and path conditions for taint rules. The end-to-end versions, through a real ``lilith``
process, are in tests/integration/test_policy_review5_paths.py."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from lilith.errors import PolicyError
from lilith.policy.access_rules import AccessRules
from lilith.policy.conditions import ARG_OPS, CallContext, settle
from lilith.policy.loader import parse_policy
from lilith.policy.paths import readings_within
from lilith.policy.schema import policy_schema
from lilith.runtime.resolver import ServerPathResolver
from tests.unit.test_paths import FakeResolver

LINKS = FakeResolver(
    {
        "/var/run": "/run",
        "/srv/link_dir": "/srv/real_dir",
        "/srv/secrets/to_public": "/srv/public/x",
        "/srv/allowed/to_deep": "/srv/other/deep",
        "/srv/loop": "/srv/loop",
        "/home/u/keys": "/home/u/.ssh",
        "/home/u/.ssh/to_tmp": "/tmp/harmless",
    }
)


class RefusingResolver(FakeResolver):
    """Refuses what passes through /proc/self, as the server resolver does."""

    def realpath(self, path: str) -> str:
        if path.startswith("/proc/self"):
            raise ValueError("a /proc link")
        return super().realpath(path)


def _resources(rules: str) -> AccessRules:
    found = parse_policy("version: 1\nresource_rules:\n" + rules, "p.yaml").resource_rules
    assert found is not None
    return found


# --- Q1: resource patterns --------------------------------------------------------------------------


BLOCKS = _resources(
    """\
  - {uri_pattern: "file:///var/run/secrets/*", action: BLOCK}
  - {uri_pattern: "file:///srv/link_dir/secret*", action: BLOCK}
  - {uri_pattern: "file:///srv/My%20Docs/*", action: BLOCK}
  - {uri_pattern: "file:///srv/secrets/*", action: BLOCK}
  - {uri_pattern: "file:///srv/allowed/secret", action: BLOCK}
  - {uri_pattern: "file:///srv/lit%2Aeral", action: BLOCK}
  - {uri_pattern: "file:///*", action: ALLOW}
"""
)


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        ("file:///var/run/secrets/token", "resource_rules[0]"),  # the pattern's directory is a link
        ("file:///run/secrets/token", "resource_rules[0]"),  # the link's target, spelled directly
        ("file:///srv/link_dir/secret.txt", "resource_rules[1]"),
        ("file:///srv/real_dir/secret.txt", "resource_rules[1]"),
        ("file:///srv/My%20Docs/salaries.xlsx", "resource_rules[2]"),  # copied from resources/list
        ("file:///srv/My Docs/salaries.xlsx", "resource_rules[2]"),
        ("file:///srv/secrets/to_public", "resource_rules[3]"),  # as written, though it leads to /srv/public
        ("file:///srv/allowed/to_deep/../secret", "resource_rules[4]"),  # the reading of a lexical server
        ("file:///srv/lit*eral", "resource_rules[5]"),  # a decoded %2A is a literal star
        ("file:///srv/litteral", "resource_rules[6]"),
        ("file:///srv/public/x", "resource_rules[6]"),
        ("file:///srv/real_dir/notes.txt", "resource_rules[6]"),
    ],
)
def test_a_block_meets_its_uri_in_every_spelling(uri: str, rule: str) -> None:
    decision = BLOCKS.decide_uri(uri, LINKS)
    assert decision.rule == rule
    assert decision.allowed is (rule == "resource_rules[6]")


def test_an_allow_and_its_taints_need_the_canonical_reading() -> None:
    rules = _resources(
        """\
  - {uri_pattern: "file:///var/run/app/*", action: ALLOW, taints_to_add: [PRIVATE]}
  - {uri_pattern: "file:///srv/allowed/*", action: ALLOW}
"""
    )
    decision, taints = rules.decide_uri_with_taints("file:///var/run/app/state", LINKS)
    assert decision.allowed and taints == {"PRIVATE"}
    decision, taints = rules.decide_uri_with_taints("file:///run/app/state", LINKS)
    assert decision.allowed and taints == {"PRIVATE"}
    # One reading (the kernel's) leaves /srv/allowed: no ALLOW covers every reading, so none decides.
    assert not rules.decide_uri("file:///srv/allowed/to_deep/../x", LINKS).allowed
    assert rules.decide_uri("file:///srv/allowed/x", LINKS).allowed


def test_a_rule_that_cannot_be_resolved_denies_what_reaches_it() -> None:
    rules = _resources(
        """\
  - {uri_pattern: "file:///tmp/*", action: ALLOW}
  - {uri_pattern: "file:///proc/self/environ", action: BLOCK}
  - {uri_pattern: "file:///srv/*", action: ALLOW, taints_to_add: [PRIVATE]}
  - {uri_pattern: "*", action: ALLOW}
"""
    )
    assert rules.decide_uri("file:///tmp/a", RefusingResolver()).allowed  # decided before the broken rule
    decision, taints = rules.decide_uri_with_taints("file:///etc/x", RefusingResolver())
    assert not decision.allowed and decision.rule == "resource_rules[1]" and taints == frozenset()
    assert "cannot be resolved" in decision.reason


@pytest.mark.parametrize(
    "pattern",
    [
        "file:///srv/./x",
        "file:///srv/../etc/*",
        "file:///srv//x",
        "file:///srv/",
        "file://localhost/srv/*",
        "file://host/srv/*",
        "file:/srv/*",
        "file:///srv/%zz",
        "file:///srv/%ff",
        "file:///srv/%00x",
        "FILE:///srv/*",
        "HTTPS://example.com/*",
    ],
)
def test_patterns_that_can_never_match_are_refused_with_their_place(pattern: str) -> None:
    text = f"version: 1\nresource_rules:\n  - uri_pattern: '{pattern}'\n    action: BLOCK\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    assert str(caught.value).startswith("p.yaml:3:") and "can never match" in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "uri", "matched"),
    [
        ("file:///", "file:///", True),
        ("file:///*", "file:///etc/passwd", True),
        ("file://*", "file:///etc/passwd", True),  # starts with a wildcard: a glob over the URI string
        ("*secret*", "file:///srv/secret/x", True),
        ("file:///srv/[%]x", "file:///srv/%25x", True),  # no decoding inside a bracket expression
        ("file:///srv/a\\*b/*", "file:///srv/a*b/c", True),
        ("file:///srv/a\\*b/*", "file:///srv/aXb/c", False),
        ("file:///srv/*/My%20Docs/*", "file:///srv/x/My Docs/y", True),
        ("file:///tmp*", "file:///tmp/x", True),
        ("file:///srv/x", "file:///srv/x/y", False),
        ("demo://r/*", "demo://r/a", True),
    ],
)
def test_pattern_forms(pattern: str, uri: str, matched: bool) -> None:
    rules = _resources(f"  - {{uri_pattern: '{pattern}', action: ALLOW}}\n")
    assert rules.decide_uri(uri, FakeResolver()).allowed is matched


# --- Q4: the server resolver ------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    base = Path(os.path.realpath(tmp_path))
    (base / "a" / "b").mkdir(parents=True)
    (base / "l1").symlink_to("a/b")
    (base / "l2").symlink_to(base / "a")
    (base / "a" / "b" / "up").symlink_to("../..")
    (base / "a" / "etc").symlink_to("/etc")
    (base / "to_self").symlink_to("/proc/self/cwd")
    (base / "loop1").symlink_to("loop2")
    (base / "loop2").symlink_to("loop1")
    return base


def test_the_server_resolver_agrees_with_realpath_off_proc(tree: Path) -> None:
    resolver = ServerPathResolver({}, str(tree))
    names = ["a", "b", "l1", "l2", "up", "..", ".", "", "missing", "etc", "passwd"]
    for parts in itertools.product(names, repeat=3):
        path = str(tree) + "/" + "/".join(parts)
        assert resolver.realpath(path) == os.path.realpath(path), path


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs procfs at /proc")
@pytest.mark.parametrize(
    "path",
    [
        "/proc/self/cwd/x",
        "/proc/thread-self/root/etc",
        "/proc/1/cwd",
        "/dev/fd/0",
        "/dev/stdin",
        "/dev/fd",
        "to_self/x",
    ],
)
def test_the_server_resolver_refuses_process_relative_links(tree: Path, path: str) -> None:
    resolver = ServerPathResolver({}, str(tree))
    with pytest.raises(ValueError, match=r"/proc|file descriptor"):
        resolver.realpath(path if path.startswith("/") else f"{tree}/{path}")


def test_a_block_rule_whose_directory_loops_denies_what_reaches_it(tree: Path) -> None:
    rules = _resources(
        f'  - {{uri_pattern: "file://{tree}/loop1/*", action: BLOCK}}\n  - {{uri_pattern: "*", action: ALLOW}}\n'
    )
    decision = rules.decide_uri("file:///etc/hostname", ServerPathResolver({}, str(tree)))
    assert not decision.allowed and decision.rule == "resource_rules[0]" and "cannot be resolved" in decision.reason


def test_the_server_resolver_reads_proc_files_and_refuses_loops(tree: Path) -> None:
    resolver = ServerPathResolver({}, str(tree))
    if os.path.exists("/proc/cpuinfo"):
        assert resolver.realpath("/proc/cpuinfo") == "/proc/cpuinfo"
    with pytest.raises(ValueError, match="symbolic links"):
        resolver.realpath(f"{tree}/loop1/x")


# --- Q5: path conditions ----------------------------------------------------------------------------


def _condition_policy(op: str, value: str, action: str = "ADD_TAINT") -> str:
    return (
        "version: 1\nstatic_rules: {read_file: ALLOW}\ntaint_rules:\n"
        f"  - {{tool: read_file, action: {action}, tag: SECRET, when: {{arg: path, op: {op}, value: {value}}}}}\n"
    )


@pytest.mark.parametrize(
    ("path", "verdict"),
    [
        ("/home/u/.ssh/id_rsa", True),
        ("~/.ssh/id_rsa", True),
        ("../../home/u/.ssh/id_rsa", True),  # relative to the server's cwd, /srv/app
        ("/home/u/keys/id_rsa", None),  # a symlink into the root: the readings disagree
        ("/home/u/.ssh/to_tmp", None),  # a symlink out of it
        ("/home/u/.sshx", False),
        ("/etc/passwd", False),
        ("", None),
        ("~other/.ssh/id_rsa", None),
        ("file:///home/u/.ssh/id_rsa", None),
        (42, None),
    ],
)
def test_path_within_reads_the_value_as_the_server_will(path: object, verdict: bool | None) -> None:
    policy = parse_policy(_condition_policy("path_within", "[~/.ssh]"), "p.yaml")
    assert policy.taint is not None
    when = policy.taint.rules[0].when
    assert when is not None
    context = CallContext({"path": path}, frozenset(), 0, LINKS)
    assert when.evaluate(context) is verdict
    negated = parse_policy(_condition_policy("path_not_within", "~/.ssh"), "p.yaml").taint
    assert negated is not None and negated.rules[0].when is not None
    assert negated.rules[0].when.evaluate(context) is (None if verdict is None else not verdict)
    assert settle(when.evaluate(context), True) is (verdict is not False)  # an ADD_TAINT taints when unsure


def test_path_conditions_without_a_resolver_or_argument_are_unknown() -> None:
    policy = parse_policy(_condition_policy("path_within", "[/srv]"), "p.yaml")
    assert policy.taint is not None and policy.taint.rules[0].when is not None
    when = policy.taint.rules[0].when
    assert when.evaluate(CallContext({"path": "/srv/x"}, frozenset(), 0)) is None
    assert when.evaluate(CallContext({}, frozenset(), 0, LINKS)) is None
    assert when.evaluate(CallContext({"path": "/proc/self/x"}, frozenset(), 0, RefusingResolver())) is None


def test_taint_evaluation_hands_the_resolver_to_conditions() -> None:
    policy = parse_policy(_condition_policy("path_within", "[~/.ssh]"), "p.yaml")
    assert policy.taint is not None
    assert policy.taint.evaluate("read_file", frozenset(), {"path": "~/.ssh/id_rsa"}, 0, LINKS).add == {"SECRET"}
    assert policy.taint.evaluate("read_file", frozenset(), {"path": "/srv/x"}, 0, LINKS).add == frozenset()


def test_readings_within_counts_each_root_as_written_and_resolved() -> None:
    assert readings_within("/var/run/x", ["/var/run"], LINKS) == (True, True)
    assert readings_within("/run/x", ["/var/run"], LINKS) == (True,)
    assert sorted(readings_within("/home/u/keys/a", ["/home/u/.ssh"], LINKS)) == [False, True]


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("[]", "p.yaml:4:"),
        ("[1]", "p.yaml:4:"),
        ('[""]', "p.yaml:4:"),
        ("[~bob/x]", "p.yaml:4:"),
        ("file:///x", "p.yaml:4:"),
    ],
)
def test_bad_path_condition_roots_are_refused(value: str, where: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_condition_policy("path_within", value), "p.yaml")
    assert str(caught.value).startswith(where)


def test_the_schema_lists_every_condition_operator() -> None:
    arg_test = policy_schema()["$defs"]["condition"]["oneOf"][6]
    assert arg_test["properties"]["op"]["enum"] == list(ARG_OPS)
