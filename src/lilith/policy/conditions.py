"""Conditions on taint rules: a small declarative language written as YAML data (no expressions, no eval).

.. code-block:: yaml

    when:                                   # one condition; `conditions: [...]` means all of a list
      all:                                  # also any: [...], not: {...}, true, false
        - {arg: options.mode, op: eq, value: write}     # dotted path into the call's arguments
        - {arg: size, op: gt, value: 1000}
        - {arg: path, op: matches, value: '/srv/.*'}    # RE2, full match
        - {session: taints, op: contains, value: SECRET}
        - {session: call_count, op: ge, value: 10}      # tools/call forwarded earlier in this session

Argument tests (``arg``): ``eq`` ``ne`` (exact JSON values: ``1``, ``"1"`` and ``true`` differ; ``1`` and
``1.0`` are equal), ``lt`` ``le`` ``gt`` ``ge`` (numbers), ``in`` ``not_in`` (a list of values), ``matches``
(RE2, whole string), ``glob`` (the policy's glob dialect), ``exists`` (``value: true`` by default),
``path_within`` / ``path_not_within`` (a root or a list of roots, read as paths on the server).
Session tests: ``taints`` with ``contains`` / ``not_contains``; ``call_count`` with ``eq ne lt le gt ge``.

Fail closed. A test on an argument that is missing, or whose value has the wrong type for the test (a
number for ``matches``, a string for ``gt``, text with lone surrogates), is *unknown*, not false: ``ne``
and ``not_in`` are unknown too, so a missing argument never passes for "not equal". Unknown propagates
by Kleene logic (``all`` is false if any part is false, ``any`` is true if any part is true, ``not``
unknown is unknown), and an unknown outcome is settled by the caller in the direction that denies
(``lilith.policy.taint``: a restricting rule applies, a relaxing one does not, an exception does not
excuse). ``exists`` is never unknown.

Paths are not strings: ``glob`` on ``/home/*/.ssh/*`` misses ``~/.ssh/id_rsa``, ``.ssh/id_rsa`` in the
server's home and a symlink to the directory. ``path_within`` reads the value as the server will
(``lilith.policy.paths.readings_within``: as written with ``~`` expanded and relative paths anchored at
the server's working directory, then every symlink-resolved reading) and is true when every reading lies
within a root, false when none does, and unknown when the readings disagree (a symlink into or out of a
root) or the value cannot be read as a path (not a string, empty, NUL, ``~user``, a ``file:`` URI, a
``/proc/self`` link). Unknown is settled as above: an ADD_TAINT's ``path_within`` taints, an exception's
does not excuse. ``path_not_within`` is its negation. Roots are resolved when the call is checked, with
the server's home, working directory and symlinks, like ``argument_rules`` roots.

The shape used by the original lilith-zero is read too: ``and`` / ``or`` / ``not``, comparisons written
``{"==": [{var: NAME}, VALUE]}`` (also ``!=``, ``<``, ``<=``, ``>``, ``>=``; ``var`` names a top-level
argument), ``tool_args_match: {NAME: VALUE, ...}`` (strings compared with ``*`` wildcards only) and a bare
``true`` / ``false``. Anything else is refused with ``file:line:col``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from lilith.policy.arg_paths import MISSING, lookup, split_path
from lilith.policy.globs import is_scalar_text, literal_glob
from lilith.policy.names import NameMatcher, parse_name
from lilith.policy.paths import Resolver, check_path_syntax, readings_within
from lilith.policy.whatwg import reads_as_file_uri
from lilith.policy.yaml_source import Path, YamlDocument

MAX_DEPTH = 32
PATH_OPS = ("path_within", "path_not_within")
ARG_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "matches", "glob", "exists", *PATH_OPS)
_ORDER_OPS = ("lt", "le", "gt", "ge")
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
# lilith-zero's operators, and the same comparison with its operands swapped (`5 < x` is `x > 5`).
_ZERO_OPS = {"==": ("eq", "eq"), "!=": ("ne", "ne"), "<": ("lt", "gt"), "<=": ("le", "ge"), ">": ("gt", "lt")}
_ZERO_OPS[">="] = ("ge", "le")
_LEAF_KEYS = frozenset({"arg", "op", "value"})
_SESSION_KEYS = frozenset({"session", "op", "value"})
_HEADS = ("all", "and", "any", "or", "not", "arg", "session", "tool_args_match", *_ZERO_OPS)


class CallContext(NamedTuple):
    """What a condition can look at: the call's arguments and the session before the call; ``resolver`` reads
    paths as the server being called will (without one, every path test is unknown)."""

    arguments: Any
    taints: frozenset[str]
    call_count: int
    resolver: Resolver | None = None


Verdict = bool | None  # None: unknown (a missing or mistyped argument)


class Condition:
    """A compiled condition; ``evaluate`` answers True, False or None (unknown)."""

    __slots__ = ()

    def evaluate(self, context: CallContext) -> Verdict:
        raise NotImplementedError


class _Constant(Condition):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def evaluate(self, context: CallContext) -> Verdict:
        return self.value


class _Junction(Condition):
    """``all`` (stops at the first false) and ``any`` (stops at the first true), in Kleene logic: an unknown
    part makes the whole unknown unless a decisive part settles it."""

    __slots__ = ("decisive", "parts")

    def __init__(self, parts: tuple[Condition, ...], decisive: bool) -> None:
        self.parts = parts
        self.decisive = decisive

    def evaluate(self, context: CallContext) -> Verdict:
        decisive = self.decisive
        outcome: Verdict = not decisive
        for part in self.parts:
            verdict = part.evaluate(context)
            if verdict is decisive:
                return decisive
            if verdict is None:
                outcome = None
        return outcome


class _Not(Condition):
    __slots__ = ("part",)

    def __init__(self, part: Condition) -> None:
        self.part = part

    def evaluate(self, context: CallContext) -> Verdict:
        verdict = self.part.evaluate(context)
        return None if verdict is None else not verdict


class _ArgTest(Condition):
    """One test on the value at a path in the arguments."""

    __slots__ = ("op", "segments", "test")

    def __init__(self, segments: tuple[str, ...], op: str, test: Callable[[Any], Verdict]) -> None:
        self.segments = segments
        self.op = op
        self.test = test

    def evaluate(self, context: CallContext) -> Verdict:
        value = lookup(context.arguments, self.segments)
        if self.op == "exists":
            return self.test(value)
        return None if value is MISSING else self.test(value)


class _PathTest(Condition):
    """``path_within`` / ``path_not_within``: the value read as a path on the server, against roots."""

    __slots__ = ("roots", "segments", "within")

    def __init__(self, segments: tuple[str, ...], roots: tuple[str, ...], within: bool) -> None:
        self.segments = segments
        self.roots = roots
        self.within = within

    def evaluate(self, context: CallContext) -> Verdict:
        value = lookup(context.arguments, self.segments)
        if context.resolver is None or not _matchable(value) or reads_as_file_uri(value):
            return None
        try:
            inside = readings_within(value, self.roots, context.resolver)
        except ValueError:
            return None
        if all(inside):
            return self.within
        if not any(inside):
            return not self.within
        return None  # the readings disagree: settled by the rule's direction


class _HoldsTaint(Condition):
    __slots__ = ("held", "tag")

    def __init__(self, tag: str, held: bool) -> None:
        self.tag = tag
        self.held = held

    def evaluate(self, context: CallContext) -> Verdict:
        return (self.tag in context.taints) is self.held


class _CallCount(Condition):
    __slots__ = ("compare", "number")

    def __init__(self, compare: Callable[[float, float], bool], number: int) -> None:
        self.compare = compare
        self.number = number

    def evaluate(self, context: CallContext) -> Verdict:
        return self.compare(context.call_count, self.number)


def settle(verdict: Verdict, unknown_means: bool) -> bool:
    """A definite answer: ``unknown_means`` is whichever answer denies in the caller's position."""
    return unknown_means if verdict is None else verdict


# ---------------------------------------------------------------------------------------------- values


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values with their types: ``true`` is not ``1``, ``"1"`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if _is_number(left) or _is_number(right):
        return _is_number(left) and _is_number(right) and left == right
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(json_equal(item, right[key]) for key, item in left.items())
        )
    return type(left) is type(right) and left == right


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if value is None or isinstance(value, bool | int | str):
        return not isinstance(value, str) or is_scalar_text(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item, depth + 1) for key, item in value.items())
    return False


# ---------------------------------------------------------------------------------------------- compiling


class _Compiler:
    """Turns the YAML tree at one place of a policy into a ``Condition``; every error names file:line:col."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc

    def condition(self, path: Path, node: Any, depth: int = 0) -> Condition:
        if depth > MAX_DEPTH:
            raise self.doc.error(path, f"conditions nest deeper than {MAX_DEPTH} levels")
        if isinstance(node, bool):
            return _Constant(node)
        if not isinstance(node, dict) or not node:
            raise self.doc.error(path, f"a condition is a mapping with one of {', '.join(_HEADS)} (or true/false)")
        heads = [key for key in node if key in _HEADS]
        if len(heads) != 1:
            for key in node:
                if key not in _HEADS and key not in _LEAF_KEYS:
                    raise self.doc.error((*path, str(key)), f"unknown key '{key}' in a condition")
            raise self.doc.error(path, f"a condition has exactly one of {', '.join(_HEADS)}")
        head = heads[0]
        where = (*path, head)
        if head in ("all", "and", "any", "or"):
            self._only(path, node, {head})
            parts = self.parts(where, node[head], depth)
            return _Junction(parts, decisive=head not in ("all", "and"))
        if head == "not":
            self._only(path, node, {head})
            return _Not(self.condition(where, node[head], depth + 1))
        if head == "arg":
            self._only(path, node, _LEAF_KEYS)
            return self._arg_test(path, node)
        if head == "session":
            self._only(path, node, _SESSION_KEYS)
            return self._session_test(path, node)
        if head == "tool_args_match":
            self._only(path, node, {head})
            return self._tool_args_match(where, node[head])
        self._only(path, node, {head})
        return self._zero_comparison(where, head, node[head])

    def parts(self, path: Path, value: Any, depth: int) -> tuple[Condition, ...]:
        if not isinstance(value, list) or not value:
            raise self.doc.error(path, "expected a non-empty list of conditions")
        return tuple(self.condition((*path, index), item, depth + 1) for index, item in enumerate(value))

    def _only(self, path: Path, node: dict[Any, Any], allowed: set[str] | frozenset[str]) -> None:
        for key in node:
            if key not in allowed:
                raise self.doc.error(
                    (*path, str(key)), f"unknown key '{key}' here (expected {', '.join(sorted(allowed))})"
                )

    def _arg_test(self, path: Path, node: dict[str, Any]) -> Condition:
        text = node["arg"]
        if not isinstance(text, str) or not text:
            raise self.doc.error((*path, "arg"), "arg must be a dotted path into the arguments, such as 'a.b.0'")
        if "*" in text:
            raise self.doc.error((*path, "arg"), "arg in a condition names one value; '*' and '**' are not allowed")
        try:
            segments = split_path(text)
        except ValueError as exc:
            raise self.doc.error((*path, "arg"), f"arg {exc}") from None
        op = self._op(path, node, ARG_OPS)
        if op in PATH_OPS:
            return _PathTest(segments, self._roots(path, op, node), op == "path_within")
        return _ArgTest(segments, op, self._test(path, op, node))

    def _roots(self, path: Path, op: str, node: dict[str, Any]) -> tuple[str, ...]:
        if "value" not in node:
            raise self.doc.error(path, f"op {op} needs a 'value': a root or a list of roots")
        value = node["value"]
        roots = [value] if isinstance(value, str) else value
        where = (*path, "value")
        if not isinstance(roots, list) or not roots:
            raise self.doc.error(where, f"op {op} needs a root or a non-empty list of roots")
        for index, root in enumerate(roots):
            at = where if isinstance(value, str) else (*where, index)
            if not isinstance(root, str) or not is_scalar_text(root):
                raise self.doc.error(at, f"op {op}: each root is a path (a string)")
            if root[:5].lower() == "file:":
                raise self.doc.error(at, f"op {op}: a root is a path, not a file: URI")
            try:
                check_path_syntax(root)
            except ValueError as exc:
                raise self.doc.error(at, f"op {op}: {exc}") from None
        return tuple(roots)

    def _op(self, path: Path, node: dict[str, Any], allowed: tuple[str, ...]) -> str:
        if "op" not in node:
            raise self.doc.error(path, f"a test needs 'op' (one of {', '.join(allowed)})")
        op = node["op"]
        if op not in allowed:
            raise self.doc.error((*path, "op"), f"op must be one of {', '.join(allowed)}, not {op!r}")
        return str(op)

    def _test(self, path: Path, op: str, node: dict[str, Any]) -> Callable[[Any], Verdict]:
        where = (*path, "value")
        if op == "exists":
            wanted = node.get("value", True)
            if not isinstance(wanted, bool):
                raise self.doc.error(where, "exists takes value: true or value: false")
            return lambda value: (value is not MISSING) is wanted
        if "value" not in node:
            raise self.doc.error(path, f"op {op} needs a 'value'")
        return self.value_test(where, op, node["value"])

    def value_test(self, where: Path, op: str, expected: Any) -> Callable[[Any], Verdict]:
        if op in ("eq", "ne"):
            self._json(where, expected)
            same = op == "eq"
            return lambda value: json_equal(value, expected) is same
        if op in _ORDER_OPS:
            if not _is_number(expected) or not math.isfinite(expected):
                raise self.doc.error(where, f"op {op} compares numbers; value must be a number")
            compare = _COMPARISONS[op]
            return lambda value: compare(value, expected) if _is_number(value) else None
        if op in ("in", "not_in"):
            if not isinstance(expected, list) or not expected:
                raise self.doc.error(where, f"op {op} needs a non-empty list of values")
            self._json(where, expected)
            inside = op == "in"
            return lambda value: any(json_equal(value, item) for item in expected) is inside
        if not isinstance(expected, str) or not expected:
            raise self.doc.error(where, f"op {op} needs a non-empty string")
        if op == "matches":
            from lilith.policy.patterns import compile_regex  # RE2 only for policies that use it

            try:
                regex = compile_regex(expected)
            except ValueError as exc:
                raise self.doc.error(where, str(exc)) from None
            return lambda value: regex.fullmatch(value) if _matchable(value) else None
        return _glob_test(self._glob(where, expected))

    def _glob(self, where: Path, text: str) -> NameMatcher:
        try:
            return parse_name(text)
        except ValueError as exc:
            raise self.doc.error(where, f"glob {exc}") from None

    def _json(self, where: Path, value: Any) -> None:
        if not _is_json(value):
            raise self.doc.error(
                where, "value must be plain JSON data (strings, numbers, true/false, null, lists, maps)"
            )

    def _session_test(self, path: Path, node: dict[str, Any]) -> Condition:
        subject = node["session"]
        if subject == "taints":
            op = self._op(path, node, ("contains", "not_contains"))
            tag = node.get("value")
            if not isinstance(tag, str) or not tag or not is_scalar_text(tag):
                raise self.doc.error((*path, "value") if "value" in node else path, "a taint test needs value: TAG")
            return _HoldsTaint(tag, op == "contains")
        if subject == "call_count":
            op = self._op(path, node, ("eq", "ne", *_ORDER_OPS))
            number = node.get("value")
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise self.doc.error(
                    (*path, "value") if "value" in node else path, "call_count compares with a whole number ≥ 0"
                )
            compare = _COMPARISONS.get(op) or ((lambda a, b: a == b) if op == "eq" else (lambda a, b: a != b))
            return _CallCount(compare, number)
        raise self.doc.error((*path, "session"), f"session must be taints or call_count, not {subject!r}")

    def _zero_comparison(self, where: Path, head: str, operands: Any) -> Condition:
        """lilith-zero's ``{"<": [{var: x}, 5]}``: one operand names an argument, the other is a value."""
        if not isinstance(operands, list) or len(operands) != 2:
            raise self.doc.error(where, f"'{head}' takes a list of two operands, one of them {{var: NAME}}")
        names = [_var_name(item) for item in operands]
        if (names[0] is None) == (names[1] is None):
            raise self.doc.error(where, f"'{head}' needs exactly one {{var: NAME}} operand and one value")
        direct, swapped = _ZERO_OPS[head]
        if names[0] is not None:
            name, op, value_at = names[0], direct, 1
        else:
            name, op, value_at = str(names[1]), swapped, 0
        return _ArgTest((name,), op, self.value_test((*where, value_at), op, operands[value_at]))

    def _tool_args_match(self, where: Path, spec: Any) -> Condition:
        """lilith-zero's ``tool_args_match``: every named top-level argument matches (``*`` wildcards in strings)."""
        if not isinstance(spec, dict) or not spec:
            raise self.doc.error(where, "tool_args_match maps argument names to values")
        tests: list[Condition] = []
        for name, expected in spec.items():
            at = (*where, str(name))
            if not isinstance(name, str) or not name:
                raise self.doc.error(at, "tool_args_match keys are argument names")
            if isinstance(expected, str):
                # Only '*' is a wildcard there: every other glob character is escaped.
                pattern = "*".join(literal_glob(piece) for piece in expected.split("*"))
                test = _glob_test(self._glob(at, pattern)) if pattern else _empty_text
                tests.append(_ArgTest((name,), "glob", test))
            else:
                tests.append(_ArgTest((name,), "eq", self.value_test(at, "eq", expected)))
        return _Junction(tuple(tests), decisive=False)


def _var_name(operand: Any) -> str | None:
    if isinstance(operand, dict) and set(operand) == {"var"} and isinstance(operand["var"], str) and operand["var"]:
        return str(operand["var"])
    return None


def _glob_test(glob: NameMatcher) -> Callable[[Any], Verdict]:
    return lambda value: glob.matches(value) if _matchable(value) else None


def _empty_text(value: Any) -> Verdict:
    return value == "" if isinstance(value, str) else None


def _matchable(value: Any) -> bool:
    return isinstance(value, str) and is_scalar_text(value)


def compile_condition(doc: YamlDocument, path: Path, node: Any) -> Condition:
    """One condition (``when:``, lilith-zero's ``pattern:``, an exception's ``when:``)."""
    return _Compiler(doc).condition(path, node)


def compile_condition_list(doc: YamlDocument, path: Path, node: Any) -> Condition:
    """``conditions: [...]``: all of them must hold."""
    return _Junction(_Compiler(doc).parts(path, node, 0), decisive=False)
