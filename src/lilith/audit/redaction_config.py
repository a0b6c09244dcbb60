"""Custom redaction patterns from the command line (``--redact-pattern NAME=REGEX``) and from a YAML file
(``--redaction-config FILE``: a list of ``{name: ..., pattern: ...}``). Patterns are RE2 syntax; they are
compiled by the audit writer before anything starts, so a bad one refuses to start."""

from __future__ import annotations

from collections.abc import Sequence

from lilith.errors import ConfigError


def parse_pattern_flag(text: str) -> tuple[str, str]:
    name, sep, pattern = text.partition("=")
    if not sep or not name.strip() or not pattern:
        raise ConfigError(f"--redact-pattern {text!r}: expected NAME=REGEX (for example employee_id=EMP-[0-9]{{6}})")
    return name.strip(), pattern


def load_pattern_file(path: str) -> list[tuple[str, str]]:
    import yaml

    from lilith.runtime.regular_files import read_regular_file

    try:  # read without blocking: a FIFO named here refuses to start, never hangs it
        document = yaml.safe_load(read_regular_file(path, 16 << 20).decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read redaction config {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read redaction config {path!r}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"redaction config {path!r} is not valid YAML: {exc}") from None
    if not isinstance(document, list):
        raise ConfigError(f"redaction config {path!r}: expected a list of {{name: ..., pattern: ...}}")
    patterns: list[tuple[str, str]] = []
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict) or set(item) != {"name", "pattern"}:
            raise ConfigError(f"redaction config {path!r}, item {number}: expected exactly the keys name and pattern")
        name, pattern = item["name"], item["pattern"]
        if not isinstance(name, str) or not isinstance(pattern, str):
            raise ConfigError(f"redaction config {path!r}, item {number}: name and pattern must be strings")
        patterns.append((name, pattern))
    return patterns


def redaction_patterns(flags: Sequence[str] | None, files: Sequence[str] | None) -> list[tuple[str, str]]:
    """Every custom pattern, files first, then flags, in the order given."""
    patterns: list[tuple[str, str]] = []
    for path in files or ():
        patterns.extend(load_pattern_file(path))
    patterns.extend(parse_pattern_flag(flag) for flag in flags or ())
    return patterns
