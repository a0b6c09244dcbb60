"""Review 6 of the policy, the pure parts (the end-to-end versions, through a real ``lilith`` process, are in
tests/integration/test_policy_review6.py):

* a resource URI that a WHATWG URL parser (the TypeScript SDK's ``new URL``, Node's ``fileURLToPath``) reads as
  another one is refused, and so are ``file:`` patterns that could only match such URIs;
* a path argument that a URL parser reads as a ``file:`` URL is no path;
* a key written under both spellings inside a rule is refused with ``file:line:col``.
"""

from __future__ import annotations

import pytest

from lilith.errors import PolicyError
from lilith.policy.argument_rules import compile_argument_rules
from lilith.policy.conditions import CallContext
from lilith.policy.loader import parse_policy
from lilith.policy.paths import normalise_file_uri, uri_readings
from lilith.policy.spellings import refuse_two_spellings, spelled
from lilith.policy.uri_patterns import parse_uri_pattern
from lilith.policy.whatwg import is_drive_letter, reads_as_file_uri
from lilith.policy.yaml_source import load_yaml
from tests.unit.fakes import FakeResolver

RESOLVER = FakeResolver()

# Each of these is another URI to a WHATWG parser (shown after the arrow) than to a path normaliser.
WHATWG_SPELLINGS = [
    "file:///tmp/secret\\key",  # -> /tmp/secret/key
    "file:///tmp/pub/x\\..\\..\\secret\\key",  # -> /tmp/secret/key
    "file:///tmp\\secret/key",
    "file:\\\\host\\share\\key",  # -> host "host"
    "file:/\\tmp/secret/key",
    "file:///tmp/pub/x%5C..%5Csecret",  # a name to fileURLToPath, but '/' to anything that decodes first
    "file:///tmp/secret/key ",  # trailing space: trimmed -> /tmp/secret/key
    "file:///tmp/secret/key  ",
    "file:///C:/../etc/passwd",  # -> /C:/etc/passwd ('..' never removes a drive letter)
    "file:///tmp/../C|/../etc/passwd",  # -> /C:/etc/passwd
    "file:///c%3A/../etc/passwd",  # escaped: refused as well (fail closed)
    "https://example.com/pub\\..\\secret",  # -> https://example.com/secret
    "https:example.com/secret",  # -> https://example.com/secret
    "https:/example.com/secret",
    "https:///example.com/secret",  # -> https://example.com/secret
    "http://",
    "ws:\\\\example.com/x",
    "mem://x/y ",  # trimmed in every scheme
]


@pytest.mark.parametrize("uri", WHATWG_SPELLINGS)
def test_a_uri_a_url_parser_reads_as_another_is_refused(uri: str) -> None:
    with pytest.raises(ValueError):
        uri_readings(uri, RESOLVER)
    with pytest.raises(ValueError):
        normalise_file_uri(uri, RESOLVER)


@pytest.mark.parametrize(
    ("uri", "canonical"),
    [
        ("file:///tmp/a%20b", "file:///tmp/a b"),  # an escaped space is part of the name to everyone
        ("file:///tmp/my file", "file:///tmp/my file"),  # an inner space: WHATWG escapes it, fileURLToPath decodes
        ("file:///tmp/%2e%2e/etc/passwd", "file:///etc/passwd"),  # WHATWG's %2e dot segments are collapsed here too
        ("file:///tmp/Ca/x", "file:///tmp/Ca/x"),  # two characters, not a drive letter
        ("file:///tmp/C:x/y", "file:///tmp/C:x/y"),
        ("mem://x/a\\b", "mem://x/a\\b"),  # not a special scheme: a backslash is a backslash
        ("https://example.com/a/../b", "https://example.com/b"),
    ],
)
def test_uris_every_parser_reads_alike_still_pass(uri: str, canonical: str) -> None:
    assert uri_readings(uri, RESOLVER).shown == canonical


def test_drive_letters_are_two_characters_a_letter_and_a_colon_or_bar() -> None:
    assert [is_drive_letter(s) for s in ("C:", "z|", "C:x", "1:", "é:", ":", "")] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("text", "is_uri"),
    [
        ("file:///etc/passwd", True),
        ("FILE:///etc/passwd", True),
        (" file:///etc/passwd", True),  # leading spaces and C0 controls are trimmed
        ("\x01\x1f file:/etc/passwd", True),
        ("fi\tle:///etc/passwd", True),  # tabs and newlines anywhere are dropped
        ("f\ni\rle:x", True),
        ("/tmp/file:x", False),
        ("x file:///etc/passwd", False),
        ("files/x", False),
        ("fil", False),
        ("", False),
    ],
)
def test_what_a_url_parser_reads_as_a_file_uri(text: str, is_uri: bool) -> None:
    assert reads_as_file_uri(text) is is_uri


@pytest.mark.parametrize(
    "pattern",
    [
        "file:///tmp/a\\\\b/*",  # a glob-escaped backslash
        "file:///tmp/a%5Cb/*",
        "file:///tmp/a%5c*",
        "file:///C:/*",
        "file:///tmp/C|/x",
        "file:///tmp/c%3A/x",
    ],
)
def test_a_file_pattern_only_refused_uris_could_match_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        parse_uri_pattern(pattern)


def test_path_checks_treat_what_a_url_parser_reads_as_a_file_uri_as_no_path() -> None:
    doc = load_yaml("- {tool: read, arg: path, path_within: [/srv]}\n", "t.yaml")
    rules = compile_argument_rules(doc, (), doc.value)
    for value in (" file:///etc/passwd", "fi\tle:///etc/passwd"):
        denial = rules.check("read", {"path": value}, RESOLVER)
        assert denial is not None and "file: URI" in denial.reason
    assert rules.check("read", {"path": "pub/file:x"}, RESOLVER) is None  # /srv/pub/file:x


def test_a_path_condition_on_what_a_url_parser_reads_as_a_file_uri_is_unknown() -> None:
    policy = parse_policy(
        "version: 1\nstatic_rules: {read: ALLOW}\ntaint_rules:\n"
        "  - {tool: read, action: ADD_TAINT, tag: SECRET, when: {arg: path, op: path_within, value: [~/.ssh]}}\n",
        "t.yaml",
    )
    assert policy.taint is not None
    for value in (" file:///home/u/.ssh/id_rsa", "fi\tle:///home/u/.ssh/id_rsa"):
        # unknown, settled in the direction that denies: an ADD_TAINT taints
        assert policy.taint.evaluate("read", frozenset(), {"path": value}, 0, RESOLVER).add == {"SECRET"}
        condition = policy.taint.rules[0].when
        assert (
            condition is not None and condition.evaluate(CallContext({"path": value}, frozenset(), 0, RESOLVER)) is None
        )
    assert policy.taint.evaluate("read", frozenset(), {"path": "/srv/notes"}, 0, RESOLVER).add == frozenset()


# --- two spellings of a key inside a rule -------------------------------------------------------------

TWO_SPELLINGS = [
    ("taint_rules", "{tool_class: OUT, toolClass: OUT, action: BLOCK}", "toolClass", "tool_class"),
    ("taint_rules", "{tool: t, action: CHECK_TAINT, forbidden_tags: [A], forbiddenTags: [B]}", "forbiddenTags", None),
    (
        "taint_rules",
        "{tool: t, action: CHECK_TAINT, requiredTaints: [A], required_taints: [B]}",
        "required_taints",
        None,
    ),
    ("taint_rules", "{tool: t, action: ADD_TAINT, tag: A, result_matches: x, resultMatches: y}", "resultMatches", None),
    ("resource_rules", "{uri_pattern: 'file:///x/*', action: ALLOW, taints_to_add: [A], taintsToAdd: [B]}", None, None),
]


@pytest.mark.parametrize(("section", "rule", "second", "first"), TWO_SPELLINGS)
def test_a_rule_with_both_spellings_of_a_key_is_refused_where_the_second_is(
    section: str, rule: str, second: str | None, first: str | None
) -> None:
    text = f"version: 1\ntool_classes: {{t: [OUT]}}\n{section}:\n  - {rule}\n"
    with pytest.raises(PolicyError) as refused:
        parse_policy(text, "t.yaml")
    message = str(refused.value)
    assert message.startswith("t.yaml:4:")
    assert "under its other spelling; write the key once" in message
    if second is not None:
        assert f"'{second}' repeats the key" in message
    if first is not None:
        assert f"the key '{first}'" in message


def test_the_helper_names_the_second_spelling_and_reads_either() -> None:
    doc = load_yaml("a: 1\nfooBar: 2\nfoo_bar: 3\n", "t.yaml")
    with pytest.raises(PolicyError, match=r"t\.yaml:3:1: 'foo_bar' repeats the key 'fooBar'"):
        refuse_two_spellings(doc, (), doc.value, {"fooBar": "foo_bar"}, "key")
    refuse_two_spellings(doc, (), {"a": 1, "fooBar": 2}, {"fooBar": "foo_bar"}, "key")  # one spelling: fine
    assert spelled({"taintsToAdd": []}, "taints_to_add") == "taintsToAdd"
    assert spelled({"taints_to_add": []}, "taints_to_add") == "taints_to_add"
    assert spelled({}, "taints_to_add") is None


def test_resource_taints_come_from_the_compiled_rules() -> None:
    policy = parse_policy(
        "version: 1\nresource_rules:\n"
        "  - {uri_pattern: 'file:///a/*', action: ALLOW, taintsToAdd: [PRIVATE]}\n"
        "  - {uri_pattern: 'file:///b/*', action: ALLOW, taints_to_add: SECRET}\n",
        "t.yaml",
    )
    assert policy.resource_rules is not None
    assert policy.resource_rules.added_taints == {"PRIVATE", "SECRET"}
