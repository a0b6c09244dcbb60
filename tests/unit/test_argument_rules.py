from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilith.errors import PolicyError
from lilith.policy.argument_rules import ArgumentRules, compile_argument_rules
from lilith.policy.decision import Decision
from lilith.policy.yaml_source import load_yaml


class FakeResolver:
    """home /home/u, cwd /srv, and one symlink /srv/link -> /etc."""

    links: ClassVar[dict[str, str]] = {"/srv/link": "/etc"}

    def home(self) -> str:
        return "/home/u"

    def cwd(self) -> str:
        return "/srv"

    def realpath(self, path: str) -> str:
        todo = [segment for segment in path.split("/") if segment]
        done: list[str] = []
        while todo:
            segment = todo.pop(0)
            if segment == ".":
                continue
            if segment == "..":
                if done:
                    done.pop()
                continue
            target = self.links.get("/" + "/".join([*done, segment]))
            if target is None:
                done.append(segment)
            else:
                done = []
                todo = [s for s in target.split("/") if s] + todo
        return "/" + "/".join(done)


RESOLVER = FakeResolver()


def rules(text: str) -> ArgumentRules:
    doc = load_yaml(text, "p.yaml")
    return compile_argument_rules(doc, ("argument_rules",), doc.value["argument_rules"])


def one(tool: str, arg: str, check: str) -> ArgumentRules:
    return rules(f"argument_rules:\n  - tool: {tool}\n    arg: {arg}\n    {check}\n")


def decide(compiled: ArgumentRules, arguments: Any, tool: str = "t") -> Decision | None:
    return compiled.check(tool, arguments, RESOLVER)


def allowed(compiled: ArgumentRules, value: Any, arg: str = "x") -> bool:
    decision = decide(compiled, {arg: value})
    assert decision is None or not decision.allowed
    return decision is None


def error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        rules(text)
    return str(info.value)


# --- match / not_match ---------------------------------------------------------------------------

LS = one("run_command", "command", r"""match: '^ls( -[al]+)? /tmp(/[\w.-]+)*$'""")


@pytest.mark.parametrize("command", ["ls /tmp", "ls -la /tmp/a.txt", "ls /tmp/x/y-z"])
def test_match_allows_full_matches(command: str) -> None:
    assert LS.check("run_command", {"command": command}, RESOLVER) is None


@pytest.mark.parametrize(
    "command",
    [
        "ls /tmp; rm -rf /",
        "ls /tmp\nrm -rf /",
        "ls /tmp\n",
        "ls $(id)",
        "ls `id`",
        "ls /tmp/`id`",
        "ls /tmp && id",
        "ls /tmp | sh",
        " ls /tmp",
        "ls /tmp ",
        "ls\t/tmp",
        "ls /tmp/a\u200b",
        "",
    ],
)
def test_match_denies_injection(command: str) -> None:
    decision = LS.check("run_command", {"command": command}, RESOLVER)
    assert decision is not None
    assert not decision.allowed
    assert decision.rule == "argument_rules[0]"
    assert "'command'" in decision.reason and "match" in decision.reason
    assert command not in decision.reason or command == ""


def test_a_regex_is_not_a_path_check() -> None:
    # '[\w.-]+' accepts '..': the regex allows this, which is why path rules use path_within.
    assert LS.check("run_command", {"command": "ls /tmp/../etc"}, RESOLVER) is None


def test_not_match_searches_anywhere() -> None:
    compiled = one("t", "x", "not_match: 'rm\\s+-rf'")
    assert allowed(compiled, "ls -la")
    assert not allowed(compiled, "ls; rm  -rf /")
    assert not allowed(compiled, "ok\nrm -rf /")
    decision = decide(compiled, {"x": "hunter2 rm -rf /"})
    assert decision is not None and "hunter2" not in decision.reason


def test_dot_crosses_newlines_in_deny_patterns() -> None:
    compiled = one("t", "x", "not_match: 'curl.*\\|.*sh'")
    assert not allowed(compiled, "curl x\n| \nsh")


def test_match_on_non_string_fails() -> None:
    compiled = one("t", "x", "match: '.*'")
    for value in (1, True, None, ["a"], {"a": "b"}):
        decision = decide(compiled, {"x": value})
        assert decision is not None and "not a string" in decision.reason


@given(st.text())
def test_match_agrees_with_re_fullmatch(text: str) -> None:
    compiled = one("t", "x", "match: '^[a-z]+$'")
    expected = re.fullmatch("^[a-z]+$", text) is not None
    assert allowed(compiled, text) is expected


# --- lone surrogates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        "match: '.*'",
        "not_match: 'evil'",
        "path_not_within: [/etc]",
        "one_of: [a]",
        "max_length: 100",
        "url_host_not_in: [evil.com]",
        "no_leading_dash: true",
    ],
)
def test_lone_surrogates_are_denied(check: str) -> None:
    compiled = one("t", "x", check)
    decision = decide(compiled, {"x": "ok\ud800"})
    assert decision is not None and "Unicode" in decision.reason


def test_lone_surrogate_in_a_key_fails_a_star_star_rule() -> None:
    compiled = one("t", "'**'", "match: '.*'")
    assert decide(compiled, {"a": {"k\udc00": "v"}}) is not None


# --- paths ---------------------------------------------------------------------------------------

WITHIN = one("read_file", "path", "path_within: [/tmp/root, ~/projects, data]")


@pytest.mark.parametrize(
    "path", ["/tmp/root", "/tmp/root/a", "~/projects/x", "/home/u/projects", "data/f", "/srv/data", "/tmp//root/./a"]
)
def test_path_within_allows(path: str) -> None:
    assert WITHIN.check("read_file", {"path": path}, RESOLVER) is None


@pytest.mark.parametrize(
    "path",
    [
        "/tmp/root/../../etc/passwd",
        "/tmp/root-evil",
        "/tmp/rootx/a",
        "~/../../etc",
        "~/projects/../.ssh/id_rsa",
        "link/passwd",  # /srv/link -> /etc
        "/srv/link/../srv/data",  # kernel: /srv/data; lexical: /srv/srv/data - both readings must be inside
        "~root/projects",
        "",
        "/tmp/root/\x00/../../etc",
        "file:///tmp/root/a",
        "/etc/passwd",
    ],
)
def test_path_within_denies_escapes(path: str) -> None:
    decision = WITHIN.check("read_file", {"path": path}, RESOLVER)
    assert decision is not None and not decision.allowed
    assert "'path'" in decision.reason


def test_path_within_follows_symlinked_roots() -> None:
    compiled = one("t", "x", "path_within: [/srv/link]")
    assert allowed(compiled, "/etc/hosts")
    assert allowed(compiled, "/srv/link/hosts")
    assert not allowed(compiled, "/srv/other")


def test_path_not_within_denies_if_any_reading_is_inside() -> None:
    compiled = one("t", "x", "path_not_within: [/etc, ~/.ssh]")
    assert allowed(compiled, "/tmp/a")
    assert allowed(compiled, "/etcetera")
    assert not allowed(compiled, "/tmp/../etc/passwd")
    assert not allowed(compiled, "link/shadow")
    assert not allowed(compiled, "~/.ssh/id_rsa")
    assert not allowed(compiled, "/srv/link/../etc")  # kernel reading is /etc
    assert not allowed(compiled, "~other/x")
    assert not allowed(compiled, 42)


# --- one_of / max_length / no_leading_dash --------------------------------------------------------


def test_one_of_compares_exact_types() -> None:
    compiled = one("t", "x", "one_of: [1, 'yes', true, null, 2.5]")
    assert allowed(compiled, 1)
    assert allowed(compiled, "yes")
    assert allowed(compiled, True)
    assert allowed(compiled, None)
    assert allowed(compiled, 2.5)
    assert not allowed(compiled, "1")
    assert not allowed(compiled, 1.0)
    assert not allowed(compiled, "true")
    assert not allowed(compiled, "Yes")
    assert not allowed(compiled, [1])
    assert not allowed(compiled, {"1": 1})
    only_true = one("t", "x", "one_of: [true]")
    assert not allowed(only_true, 1)
    only_one = one("t", "x", "one_of: [1]")
    assert not allowed(only_one, True)
    assert not allowed(only_one, "1")


def test_max_length_counts_code_points_and_items() -> None:
    compiled = one("t", "x", "max_length: 3")
    assert allowed(compiled, "abc")
    assert allowed(compiled, "😀😀😀")  # 3 code points, 12 UTF-8 bytes
    assert not allowed(compiled, "😀😀😀😀")
    assert allowed(compiled, [1, 2, 3])
    assert not allowed(compiled, [1, 2, 3, 4])
    assert not allowed(compiled, 12345)
    assert not allowed(compiled, {"a": 1})


def test_no_leading_dash() -> None:
    compiled = one("git_clone", "url", "no_leading_dash: true")
    assert compiled.check("git_clone", {"url": "https://a.com/r"}, RESOLVER) is None
    decision = compiled.check("git_clone", {"url": "--upload-pack=touch /tmp/pwn"}, RESOLVER)
    assert decision is not None and "'-'" in decision.reason and "upload-pack" not in decision.reason
    assert compiled.check("git_clone", {"url": "-"}, RESOLVER) is not None


# --- url hosts -----------------------------------------------------------------------------------

HOST_IN = one("fetch", "url", "url_host_in: [a.com, '*.b.org', bücher.example, '::1']")


@pytest.mark.parametrize(
    "url",
    [
        "https://a.com/x",
        "HTTP://A.COM./",
        "https://user:pw@a.com:8443/p?q#f",
        "https://x.b.org",
        "https://x.y.b.org/",
        "https://bücher.example/",
        "https://BÜCHER.example/",
        "https://xn--bcher-kva.example/",
        "http://[::1]:8080/",
        "http://[0:0::1]/",
        "https://a.com#@evil.com",
    ],
)
def test_url_host_in_allows(url: str) -> None:
    assert HOST_IN.check("fetch", {"url": url}, RESOLVER) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://a.com@evil.com/",
        "http://a.com:80@evil.com/",
        "http://evil.com\\@a.com",
        "http://evil.com\\.a.com",
        "http://a.com%2f@evil.com",
        "http://a.com@b@evil.com",
        "https://b.org/",  # '*.b.org' is subdomains only
        "https://evilb.org/",
        "https://a.com.evil.com/",
        "https://ａ.com/",  # fullwidth 'a': IDNA maps it to a.com, but it is not what the entry spells
        "https://а.com/",  # Cyrillic 'а'
        "a.com/path",
        "//a.com/path",
        "https:a.com",
        "https://a.com:99999/",
        "https://a.com:x/",
        "https:// a.com/",
        "https://a.com\t/",
        "https://a.com../",
        "https://[::2]/",
        "https://[evil.com]/",
        "",
        "javascript:alert(1)",
    ],
)
def test_url_host_in_denies(url: str) -> None:
    decision = HOST_IN.check("fetch", {"url": url}, RESOLVER)
    assert decision is not None and not decision.allowed
    assert "'url'" in decision.reason


def test_url_host_not_in_catches_every_reading() -> None:
    compiled = one("t", "x", "url_host_not_in: [evil.com, '*.evil.org', xn--bcher-kva.example, 127.0.0.1]")
    assert allowed(compiled, "https://good.com/")
    assert allowed(compiled, "https://notevil.com/")
    for url in (
        "https://evil.com/",
        "https://EVIL.COM./",
        "https://good.com@evil.com/",
        "https://ｅｖｉｌ.com/",  # fullwidth: resolvers map it to evil.com
        "https://x.evil.org/",
        "https://bücher.example/",
        "https://Bücher.example/",
        "http://127.0.0.1/",
        "http://2130706433/",  # 127.0.0.1 to a browser
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://１２７.0.0.1/",  # fullwidth digits
        "http://evil.com\\@good.com/",
        "not a url",
    ):
        assert not allowed(compiled, url), url


def test_url_checks_need_strings() -> None:
    compiled = one("t", "x", "url_host_in: [a.com]")
    assert not allowed(compiled, ["https://a.com"])


# --- arguments: paths, missing, "**" -------------------------------------------------------------


def test_dotted_paths_walk_objects_and_lists() -> None:
    compiled = one("t", "a.b.1.c", "match: ok")
    assert decide(compiled, {"a": {"b": [{}, {"c": "ok"}]}}) is None
    assert decide(compiled, {"a": {"b": [{}, {"c": "no"}]}}) is not None
    assert decide(compiled, {"a": {"b": {"1": {"c": "ok"}}}}) is None  # a digit segment is a key in an object


@pytest.mark.parametrize(
    "arguments",
    [{}, None, "x", {"a": {}}, {"a": {"b": []}}, {"a": {"b": [{}]}}, {"a": {"b": [{}, {}]}}, {"a": "str"}],
)
def test_missing_arguments_fail(arguments: Any) -> None:
    compiled = one("t", "a.b.1.c", "match: '.*'")
    decision = decide(compiled, arguments)
    assert decision is not None and "'a.b.1.c' is missing" in decision.reason


def test_list_index_must_be_plain_decimal() -> None:
    for arg in ("l.01", "l.-1", "l.+1"):
        compiled = one("t", arg, "match: 'x'")
        assert decide(compiled, {"l": ["x", "x"]}) is not None


def test_star_star_checks_every_string_value() -> None:
    compiled = one("t", "'**'", "not_match: 'rm -rf'")
    assert decide(compiled, {}) is None
    assert decide(compiled, {"n": 1, "b": True, "z": None}) is None
    assert decide(compiled, {"a": [{"b": ["ok", {"c": "fine"}]}]}) is None
    decision = decide(compiled, {"a": [{"b": ["ok", {"c": "x; rm -rf /"}]}]})
    assert decision is not None and "'a.0.b.1.c'" in decision.reason and "x; rm -rf /" not in decision.reason


def test_star_star_deny_checks_cover_keys_allow_checks_do_not() -> None:
    deny = one("t", "'**'", "not_match: 'rm -rf'")
    assert decide(deny, {"env": {"rm -rf /": "1"}}) is not None
    allow = one("t", "'**'", "match: '[a-z]+'")
    assert decide(allow, {"Key_With_Caps": "abc"}) is None
    assert decide(allow, {"k": ["abc", "ABC"]}) is not None


def test_star_star_url_checks_look_at_url_shaped_strings() -> None:
    compiled = one("t", "'**'", "url_host_not_in: [evil.com]")
    assert decide(compiled, {"note": "see evil.com", "n": 3, "url": "https://good.com/x"}) is None
    assert decide(compiled, {"a": ["x", {"u": "https://good.com@evil.com/"}]}) is not None
    assert decide(compiled, {"u": "http:\\\\evil.com\\"}) is not None  # backslashes: ambiguous, denied
    assert decide(compiled, {"https://evil.com/": 1}) is not None  # keys count for deny lists
    allow = one("t", "'**'", "url_host_in: [good.com]")
    assert decide(allow, {"q": "hello", "u": "https://good.com/"}) is None
    assert decide(allow, {"q": "hello", "u": "https://other.com/"}) is not None


def test_star_star_denies_lone_surrogate_values_even_when_no_check_would_look() -> None:
    compiled = one("t", "'**'", "url_host_not_in: [evil.com]")
    assert decide(compiled, {"q": "plain \ud800"}) is not None


def test_star_star_survives_deep_and_cyclic_structures() -> None:
    deep: Any = "bad"
    for _ in range(5000):
        deep = [deep]
    compiled = one("t", "'**'", "not_match: bad")
    assert decide(compiled, {"d": deep}) is not None
    cyclic: dict[str, Any] = {"s": "ok"}
    cyclic["self"] = cyclic
    assert decide(compiled, cyclic) is None


# --- tool matching, ordering, ids ----------------------------------------------------------------


def test_only_rules_for_the_tool_are_evaluated() -> None:
    compiled = rules(
        """
argument_rules:
  - tool: read_file
    arg: path
    path_within: [/tmp]
  - tool: 'git_*'
    id: no-flags
    description: refuse option injection
    arg: '**'
    no_leading_dash: true
  - tool: git_clone
    arg: url
    url_host_in: [github.com]
"""
    )
    assert compiled.check("other", {"path": "/etc"}, RESOLVER) is None
    assert compiled.check("read_file", {"path": "/tmp/a"}, RESOLVER) is None
    assert compiled.check("read_file", {"path": "/etc"}, RESOLVER) == Decision(
        False, "argument_rules[0]", "argument 'path' is not within [/tmp] (path_within)"
    )
    decision = compiled.check("git_clone", {"url": "--upload-pack=x"}, RESOLVER)
    assert decision is not None and decision.rule == "no-flags"  # policy order: the glob rule comes first
    decision = compiled.check("git_clone", {"url": "https://evil.com/r"}, RESOLVER)
    assert decision is not None and decision.rule == "argument_rules[2]"
    assert compiled.check("git_clone", {"url": "https://github.com/r"}, RESOLVER) is None
    assert [rule.rule_id for rule in compiled.rules_for("git_clone")] == ["no-flags", "argument_rules[2]"]
    assert compiled.rules_for("GIT_clone") == ()


def test_tool_name_with_lone_surrogate_is_denied_when_globs_exist() -> None:
    compiled = one("'*'", "x", "match: ok")
    decision = compiled.check("t\ud800", {"x": "ok"}, RESOLVER)
    assert decision is not None and not decision.allowed


def test_empty_rules_have_no_opinion() -> None:
    assert ArgumentRules.empty().check("t", {"x": 1}, RESOLVER) is None
    assert len(rules("argument_rules: []")) == 0


def test_multiple_checks_must_all_pass() -> None:
    compiled = rules(
        """
argument_rules:
  - tool: t
    arg: x
    match: '[a-z/]+'
    max_length: 5
    path_within: [/tmp]
"""
    )
    assert decide(compiled, {"x": "/tmp"}) is None
    assert decide(compiled, {"x": "/tmp/a"}) is not None  # too long
    assert decide(compiled, {"x": "/etc"}) is not None


# --- load errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("argument_rules:\n  - tool: t\n    arg: x\n    matches: a\n", "p.yaml:4:5: unknown key 'matches'"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    match: '(a)\\1'\n", "p.yaml:4:5: regex"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    not_match: '(?=a)'\n", "p.yaml:4:5: regex"),
        ("argument_rules:\n  - tool: t\n    arg: x\n", "p.yaml:2:5: an argument rule needs at least one check"),
        ("argument_rules:\n  - tool: t\n    match: a\n", "p.yaml:2:5: an argument rule needs 'arg'"),
        ("argument_rules:\n  - arg: x\n    match: a\n", "p.yaml:2:5: an argument rule needs 'tool'"),
        ("argument_rules:\n  - tool: '[a'\n    arg: x\n    match: a\n", "p.yaml:2:5: glob '[a'"),
        ("argument_rules:\n  - tool: 3\n    arg: x\n    match: a\n", "p.yaml:2:5: tool must be a string"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    match: 3\n", "p.yaml:4:5: match must be a string"),
        ("argument_rules:\n  - tool: t\n    arg: a..b\n    match: a\n", "p.yaml:3:5: arg 'a..b' has an empty"),
        ("argument_rules:\n  - tool: t\n    arg: a.**\n    match: a\n", "p.yaml:3:5: arg 'a.**'"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    path_within: /tmp\n", "p.yaml:4:5: path_within must be a"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    path_within: []\n", "p.yaml:4:5: path_within must be a"),
        (
            "argument_rules:\n  - tool: t\n    arg: x\n    path_within:\n      - /tmp\n      - ~bob/x\n",
            "p.yaml:6:9: path_within: path '~bob/x'",
        ),
        (
            "argument_rules:\n  - tool: t\n    arg: x\n    path_not_within: [/tmp, 5]\n",
            "p.yaml:4:29: each entry of path_not_within must be a string",
        ),
        ("argument_rules:\n  - tool: t\n    arg: x\n    one_of: [[1]]\n", "p.yaml:4:14: one_of entries must be single"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    max_length: -1\n", "p.yaml:4:5: max_length must be"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    max_length: true\n", "p.yaml:4:5: max_length must be"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    no_leading_dash: false\n", "p.yaml:4:5: no_leading_dash must"),
        (
            "argument_rules:\n  - tool: t\n    arg: x\n    url_host_in: [a.com, 'http://b.com']\n",
            "p.yaml:4:26: 'http://b.com' is not a host name",
        ),
        ("argument_rules:\n  - tool: t\n    arg: x\n    url_host_in: ['*.1.2.3.4']\n", "p.yaml:4:19: '*.1.2.3.4'"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    url_host_in: ['a..com']\n", "p.yaml:4:19: 'a..com' is not an"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    description: [1]\n    match: a\n", "p.yaml:4:5: description"),
        ("argument_rules:\n  - tool: t\n    arg: x\n    id: ''\n    match: a\n", "p.yaml:4:5: id must not be empty"),
        (
            "argument_rules:\n  - {tool: t, arg: x, match: a, id: r}\n  - {tool: t, arg: y, match: a, id: r}\n",
            "p.yaml:3:33: duplicate rule id 'r'",
        ),
        ("argument_rules:\n  - just a string\n", "p.yaml:2:5: an argument rule must be a mapping"),
        ("argument_rules: {tool: t}\n", "p.yaml:1:1: argument_rules must be a list"),
    ],
)
def test_load_errors_name_file_line_col(text: str, expected: str) -> None:
    assert error(text).startswith(expected)
