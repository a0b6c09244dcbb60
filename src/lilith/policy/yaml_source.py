"""Read a YAML document into plain values while remembering where every value came from.

PyYAML's composer gives nodes with positions; we build the values ourselves so that duplicate keys are
errors (PyYAML keeps the last one silently) and every later validation error can name ``file:line:col``.
"""

from __future__ import annotations

from typing import Any

import yaml

from lilith.errors import PolicyError

Path = tuple[str | int, ...]


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
        loader = yaml.SafeLoader(text)  # the reader checks characters here already
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    try:
        node = loader.get_single_node()
        positions: dict[Path, tuple[int, int]] = {}
        value = None if node is None else _build(loader, node, (), positions, file)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise PolicyError(f"invalid YAML: {exc.problem or exc.context}", file=file, line=line, col=col) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return YamlDocument(file, value, positions)


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> PolicyError:
    """A character YAML does not allow (e.g. a control character), placed by line and column."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    col = exc.position - (before.rfind("\n") + 1) + 1
    return PolicyError(f"invalid YAML: character {exc.character!r} is not allowed here", file=file, line=line, col=col)


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path, positions: dict[Path, tuple[int, int]], file: str
) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise PolicyError(
                    "mapping keys must be plain values",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    col=key_node.start_mark.column + 1,
                )
            if key in result:
                raise PolicyError(
                    f"duplicate key {key!r}",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    col=key_node.start_mark.column + 1,
                )
            child = (*path, str(key))
            result[key] = _build(loader, value_node, child, positions, file)
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, index), positions, file) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
