"""Read a YAML document into plain values while remembering where every value came from.

PyYAML's composer gives nodes with positions; we build the values ourselves so that duplicate keys are
errors (PyYAML keeps the last one silently) and every later validation error can name ``file:line:col``.
"""

from __future__ import annotations

from typing import Any

import yaml

from lilith.errors import PolicyError

Path = tuple[str | int, ...]
# Far beyond any real policy (32 levels of conditions take under 100), far below what recursion can bear:
# PyYAML's composer recurses once per level, and 5,000 '[' would otherwise end in a RecursionError.
MAX_NESTING = 200
# Values a document may expand to: aliases let a few lines stand for billions of values ("billion laughs").
MAX_VALUES = 200_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than ``MAX_NESTING`` where it is found."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in the stubs
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_NESTING} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class YamlDocument:
    __slots__ = ("file", "positions", "value")

    def __init__(self, file: str, value: Any, positions: dict[Path, tuple[int, int]]) -> None:
        self.file = file
        self.value = value
        self.positions = positions

    def error(self, path: Path, message: str) -> PolicyError:
        """A PolicyError pointing at the value at ``path`` (or its nearest located parent)."""
        probe = path
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, col = self.positions.get(probe, (1, 1))
        return PolicyError(message, file=self.file, line=line, col=col)


def load_yaml(text: str, file: str) -> YamlDocument:
    try:
        loader = _Loader(text)  # the reader checks characters here already
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    try:
        node = loader.get_single_node()
        builder = _Builder(loader, file)
        value = None if node is None else builder.build(node, ())
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise PolicyError(f"invalid YAML: {exc.problem or exc.context}", file=file, line=line, col=col) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:  # a path the nesting limit does not guard: still an error in the file, not a crash
        raise PolicyError("invalid YAML: nested too deeply", file=file, line=loader.line + 1) from None
    finally:
        loader.dispose()
    return YamlDocument(file, value, builder.positions)


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> PolicyError:
    """A character YAML does not allow (e.g. a control character), placed by line and column."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    col = exc.position - (before.rfind("\n") + 1) + 1
    return PolicyError(f"invalid YAML: character {exc.character!r} is not allowed here", file=file, line=line, col=col)


class _Builder:
    """Plain values from composed nodes, with the position of each and a budget against alias bombs."""

    __slots__ = ("budget", "file", "loader", "positions")

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions: dict[Path, tuple[int, int]] = {}
        self.budget = MAX_VALUES

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self._error(node, f"the document expands to more than {MAX_VALUES} values (aliases?)")
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        loader = self.loader
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise self._error(key_node, "mapping keys must be plain values")
                if key in result:
                    raise self._error(key_node, f"duplicate key {key!r}")
                child = (*path, str(key))
                result[key] = self.build(value_node, child)
                self.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    def _error(self, node: yaml.Node, message: str) -> PolicyError:
        return PolicyError(message, file=self.file, line=node.start_mark.line + 1, col=node.start_mark.column + 1)
