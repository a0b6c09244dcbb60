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
        ("resource_rules:\n  - uri_pattern: x\n    action: MAYBE\n", "p.yaml:4:5"),
        ("resource_rules:\n  - uri: x\n    action: ALLOW\n", "p.yaml:3:5"),
        ("resource_rules:\n  - uri_pattern: x\n    action: ALLOW\n    taints_to_add: [A]\n", "p.yaml:5:5"),
        ("prompt_rules: {}\n", "p.yaml:2:1"),
    ],
)
def test_bad_rules_name_their_place(text: str, where: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("version: 1\n" + text, "p.yaml")
    assert str(caught.value).startswith(where)
