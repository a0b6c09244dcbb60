from __future__ import annotations

import pytest

from lilith.errors import PolicyError
from lilith.policy.loader import parse_policy
from tests.unit.fakes import FakeResolver

POLICY = """\
version: 1
resource_rules:
  - uri_pattern: "file:///srv/data/private/*"
    action: BLOCK
  - uri_pattern: "file:///srv/data/*"
    action: ALLOW
prompt_rules:
  - prompt: summarise
    action: ALLOW
"""


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("file:///srv/data/a.txt", True),
        ("data/a.txt", False),  # not an absolute URI
        ("file:///srv/data/private/k", False),
        ("file:///srv/data/./private/k", False),
        ("file:///srv/data/x/../private/k", False),
        ("file:///srv/data%2fprivate/k", False),
        ("file:///srv/dat%61/a.txt", True),
        ("file:///srv/data/a\u0000", False),
        ("file:///srv/database", False),
    ],
)
def test_resource_uris_are_normalised_before_matching(uri: str, allowed: bool) -> None:
    rules = parse_policy(POLICY, "p.yaml").resource_rules
    assert rules is not None
    assert rules.decide_uri(uri, FakeResolver()).allowed is allowed


def test_prompt_names_are_exact() -> None:
    rules = parse_policy(POLICY, "p.yaml").prompt_rules
    assert rules is not None
    assert rules.decide("summarise").allowed
    for name in ("Summarise", "summarise ", "summar\u0456se"):
        assert not rules.decide(name).allowed


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("resource_rules:\n  - uri_pattern: db://x\n    action: MAYBE\n", "p.yaml:4:5"),
        ("resource_rules:\n  - uri: x\n    action: ALLOW\n", "p.yaml:3:5"),
        ("resource_rules:\n  - uri_pattern: db://x\n    action: BLOCK\n    taints_to_add: [A]\n", "p.yaml:5:5"),
        ("resource_rules:\n  - uri_pattern: db://x\n    action: ALLOW\n    taints_to_add: [1]\n", "p.yaml:5:5"),
        ("resource_rules:\n  - uri_pattern: db://x\n    action: ALLOW\n    exceptions: []\n", "p.yaml:5:5"),
        ("prompt_rules:\n  - prompt: x\n    action: ALLOW\n    taints_to_add: [A]\n", "p.yaml:5:5"),
        ("static_rules:\n  ok: ALLOW\n  'bad[': ALLOW\n", "p.yaml:4:3"),
        ("prompt_rules: {}\n", "p.yaml:2:1"),
    ],
)
def test_bad_rules_name_their_place(text: str, where: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("version: 1\n" + text, "p.yaml")
    assert str(caught.value).startswith(where)


def test_taints_to_add_belong_to_the_allow_rule_that_decided() -> None:
    rules = parse_policy(
        "version: 1\nresource_rules:\n"
        "  - uri_pattern: 'file:///srv/pii/*'\n    action: ALLOW\n    taintsToAdd: [PII, ACCESS_PRIVATE]\n"
        "  - uri_pattern: 'file:///srv/*'\n    action: ALLOW\n    taints_to_add: []\n",
        "p.yaml",
    ).resource_rules
    assert rules is not None and rules.adds_taints
    decision, taints = rules.decide_uri_with_taints("file:///srv/pii/../pii/a", FakeResolver())
    assert decision.allowed and taints == {"PII", "ACCESS_PRIVATE"}
    assert rules.decide_uri_with_taints("file:///srv/other", FakeResolver())[1] == frozenset()
    assert rules.decide_uri_with_taints("file:///etc/x", FakeResolver())[1] == frozenset()


def test_static_rule_globs_use_the_policy_glob_dialect() -> None:
    policy = parse_policy(
        "version: 1\nstatic_rules:\n  'git_*': ALLOW\n  'git_[!l]*': DENY\n  'lit\\*': ALLOW\n  '?x': ALLOW\n",
        "p.yaml",
    )
    decide = policy.static_rules.decide
    assert decide("git_log").allowed
    assert not decide("git_push").allowed
    assert decide("lit*").allowed  # a backslash escapes, as in every other section
    assert not decide("lit").allowed and not decide("litx").allowed
    assert decide("ax").allowed and not decide("x").allowed and not decide("abx").allowed
    # an ALLOW glob's wildcards stand only for MCP tool-name characters; a DENY glob's for anything
    assert not decide("git_log\nx").allowed
    assert decide("git_push\nx").rule == "static_rules.git_[!l]*"
    assert not decide("GIT_log").allowed
