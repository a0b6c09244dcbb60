"""The condition language of taint rules: semantics (three-valued, fail closed), lilith-zero's shape, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilith.errors import PolicyError
from lilith.policy.conditions import CallContext, Condition, compile_condition, json_equal, settle
from lilith.policy.yaml_source import load_yaml


def _condition(text: str) -> Condition:
    doc = load_yaml(text, "c.yaml")
    return compile_condition(doc, (), doc.value)


def _eval(text: str, arguments: Any, taints: frozenset[str] = frozenset(), calls: int = 0) -> bool | None:
    return _condition(text).evaluate(CallContext(arguments, taints, calls))


@pytest.mark.parametrize(
    ("text", "arguments", "expected"),
    [
        ("{arg: mode, op: eq, value: write}", {"mode": "write"}, True),
        ("{arg: mode, op: eq, value: write}", {"mode": "read"}, False),
        ("{arg: a.b.1, op: eq, value: 7}", {"a": {"b": [0, 7]}}, True),
        ("{arg: n, op: eq, value: 1}", {"n": 1.0}, True),
        ("{arg: n, op: eq, value: 1}", {"n": True}, False),
        ("{arg: n, op: eq, value: 1}", {"n": "1"}, False),
        ("{arg: n, op: ne, value: 1}", {"n": "1"}, True),
        ("{arg: o, op: eq, value: {k: [1, x]}}", {"o": {"k": [1, "x"]}}, True),
        ("{arg: n, op: gt, value: 10}", {"n": 11}, True),
        ("{arg: n, op: le, value: 10}", {"n": 10.0}, True),
        ("{arg: n, op: lt, value: 10}", {"n": 10}, False),
        ("{arg: n, op: ge, value: 10}", {"n": 9.99}, False),
        ("{arg: to, op: in, value: [a@x, b@x]}", {"to": "b@x"}, True),
        ("{arg: to, op: not_in, value: [a@x, b@x]}", {"to": "c@x"}, True),
        ("{arg: path, op: matches, value: '/srv/.*'}", {"path": "/srv/a\n/etc"}, True),
        ("{arg: path, op: matches, value: '/srv/[a-z]+'}", {"path": "/srv/a; rm"}, False),
        ("{arg: host, op: glob, value: '*.example.com'}", {"host": "a.example.com"}, True),
        ("{arg: host, op: glob, value: '*.example.com'}", {"host": "example.com.evil"}, False),
        ("{arg: dry_run, op: exists}", {"dry_run": False}, True),
        ("{arg: dry_run, op: exists}", {}, False),
        ("{arg: dry_run, op: exists, value: false}", {}, True),
        ("true", {}, True),
        ("false", {}, False),
    ],
)
def test_argument_tests(text: str, arguments: Any, expected: bool) -> None:
    assert _eval(text, arguments) is expected


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("{arg: mode, op: eq, value: write}", {}),
        ("{arg: mode, op: ne, value: write}", {}),  # a missing argument is never "not equal"
        ("{arg: mode, op: not_in, value: [a]}", {"other": 1}),
        ("{arg: n, op: gt, value: 1}", {"n": "5"}),  # wrong type for the test
        ("{arg: n, op: gt, value: 1}", {"n": True}),
        ("{arg: p, op: matches, value: 'x'}", {"p": 5}),
        ("{arg: p, op: matches, value: '.*'}", {"p": "\ud800"}),  # lone surrogate: not inspectable
        ("{arg: a.b, op: eq, value: 1}", {"a": [1]}),
        ("{arg: a.0, op: eq, value: 1}", {"a": {"x": 1}}),
        ("{arg: a, op: eq, value: 1}", ["a"]),  # arguments not an object
    ],
)
def test_missing_or_mistyped_arguments_are_unknown(text: str, arguments: Any) -> None:
    assert _eval(text, arguments) is None


def test_kleene_logic_and_settling() -> None:
    missing = "{arg: x, op: eq, value: 1}"
    assert _eval(f"{{all: [{missing}, false]}}", {}) is False
    assert _eval(f"{{all: [{missing}, true]}}", {}) is None
    assert _eval(f"{{any: [{missing}, true]}}", {}) is True
    assert _eval(f"{{any: [{missing}, false]}}", {}) is None
    assert _eval(f"{{not: {missing}}}", {}) is None
    assert _eval(f"{{not: {missing}}}", {"x": 2}) is True
    assert settle(None, True) is True
    assert settle(None, False) is False
    assert settle(False, True) is False


def test_session_tests() -> None:
    held = frozenset({"SECRET", "has-dash"})
    assert _eval("{session: taints, op: contains, value: has-dash}", {}, held) is True
    assert _eval("{session: taints, op: not_contains, value: SECRET}", {}, held) is False
    assert _eval("{session: call_count, op: ge, value: 3}", {}, calls=3) is True
    assert _eval("{session: call_count, op: eq, value: 3}", {}, calls=2) is False
    assert _eval("{session: call_count, op: ne, value: 3}", {}, calls=2) is True


@pytest.mark.parametrize(
    ("text", "arguments", "expected"),
    [
        ('{"==": [{var: user}, alice]}', {"user": "alice"}, True),
        ('{"==": [alice, {var: user}]}', {"user": "bob"}, False),
        ('{"<": [5, {var: n}]}', {"n": 6}, True),  # operands swapped: n > 5
        ('{">": [{var: n}, 5]}', {"n": 5}, False),
        ('{"!=": [{var: n}, 5]}', {}, None),  # lilith-zero said true here: fails open
        ("{and: [true, {or: [false, {not: false}]}]}", {}, True),
        ("{tool_args_match: {path: '/tmp/*', force: true}}", {"path": "/tmp/x", "force": True}, True),
        ("{tool_args_match: {path: '/tmp/*'}}", {"path": "/etc/x"}, False),
        ("{tool_args_match: {path: 'a?[b]'}}", {"path": "a?[b]"}, True),  # only '*' is a wildcard there
        ("{tool_args_match: {path: 'a?[b]'}}", {"path": "ax[b]"}, False),
        ("{tool_args_match: {path: '*'}}", {}, None),
    ],
)
def test_lilith_zero_shape(text: str, arguments: Any, expected: bool | None) -> None:
    assert _eval(text, arguments) is expected


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [  # "at": the text the error must point at (a key, or the start of the condition)
        ("{arg: x, op: like, value: 1}", "op:", "op must be one of"),
        ("{arg: x, op: eq}", "{", "needs a 'value'"),
        ("{arg: x, value: 1}", "{", "needs 'op'"),
        ("{arg: x, op: gt, value: ten}", "value:", "value must be a number"),
        ("{arg: x, op: in, value: a}", "value:", "non-empty list"),
        ("{arg: x, op: matches, value: '(a)\\1'}", "value:", "not a valid RE2 pattern"),
        ("{arg: x, op: glob, value: '[a'}", "value:", "unclosed"),
        ("{arg: x, op: exists, value: 1}", "value:", "exists takes"),
        ("{arg: 'a..b', op: exists}", "arg:", "empty segment"),
        ("{arg: '**', op: exists}", "arg:", "'*' and '**' are not allowed"),
        ("{arg: x, op: eq, value: 1, extra: 2}", "extra:", "unknown key 'extra'"),
        ("{all: []}", "all:", "non-empty list"),
        ("{all: [true], any: [true]}", "{", "exactly one of"),
        ("{bogus: 1}", "bogus:", "unknown key 'bogus'"),
        ("{session: mood, op: eq, value: 1}", "session:", "session must be taints or call_count"),
        ("{session: taints, op: eq, value: A}", "op:", "op must be one of contains, not_contains"),
        ("{session: call_count, op: gt, value: -1}", "value:", "whole number"),
        ('{"==": [1, 2]}', '"=="', "exactly one {var: NAME}"),
        ('{"==": [{var: a}]}', '"=="', "two operands"),
        ("{arg: x, op: eq, value: .nan}", "value:", "plain JSON data"),
        ("{arg: x, op: eq, value: 2024-01-01}", "value:", "plain JSON data"),
        ("{not: {all: [true, {arg: x, op: eq, value: [1, .inf]}]}}", "value:", "plain JSON data"),
        ("[true]", "[", "a condition is a mapping"),
    ],
)
def test_bad_conditions_name_their_place(text: str, at: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        _condition(text)
    assert str(caught.value).startswith(f"c.yaml:1:{text.index(at) + 1}: ")
    assert message in str(caught.value)


def test_errors_deep_inside_name_their_line() -> None:
    text = (
        "all:\n  - {arg: a, op: eq, value: 1}\n  - not:\n      any:\n        - {session: taints, op: has, value: X}\n"
    )
    with pytest.raises(PolicyError) as caught:
        _condition(text)
    assert str(caught.value).startswith("c.yaml:5:29: op must be one of contains, not_contains")


def test_nesting_is_bounded() -> None:
    deep = "{not: " * 40 + "true" + "}" * 40
    with pytest.raises(PolicyError, match="deeper than 32"):
        _condition(deep)
    assert _eval("{not: " * 31 + "true" + "}" * 31, {}) is False


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@given(_JSON, _JSON)
def test_json_equal_is_symmetric_and_never_confuses_bools_with_numbers(left: Any, right: Any) -> None:
    assert json_equal(left, right) is json_equal(right, left)
    assert json_equal(left, left)
    if isinstance(left, bool) != isinstance(right, bool):
        assert not json_equal(left, right)
