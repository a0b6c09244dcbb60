"""The policy's ``sanitize`` section: how Lilith treats what servers show the client (lists and results).

Every switch is on unless the policy turns it off; ``sanitize: false`` turns them all off, ``sanitize:
true`` (or an empty section) keeps the defaults. The work itself is done by ``lilith.core.sanitize``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lilith.policy.yaml_source import YamlDocument


class SanitizeSettings(NamedTuple):
    # remove ANSI escapes, control, bidi, zero-width and tag characters from lists and results; hide an
    # item whose name (or URI) carries them
    strip_control: bool = True
    # hide tools, prompts and resources whose metadata carries hidden-instruction markers; deny calls to them
    hide_poisoned_tools: bool = True
    # refuse a list whose items are not a list; drop entries that are not objects or have no string name;
    # hide every copy of a name listed twice with different definitions and deny calls to it
    strict_listings: bool = True


DEFAULT_SANITIZE = SanitizeSettings()
SANITIZE_OFF = SanitizeSettings(strip_control=False, hide_poisoned_tools=False, strict_listings=False)
SANITIZE_KEYS = SanitizeSettings._fields


def compile_sanitize(doc: YamlDocument, path: tuple[str, ...], value: Any) -> SanitizeSettings:
    """The settings written at ``path``; errors name ``file:line:col``."""
    if value is None or value is True:
        return DEFAULT_SANITIZE
    if value is False:
        return SANITIZE_OFF
    if not isinstance(value, dict):
        raise doc.error(path, f"sanitize must be true, false or a mapping of {', '.join(SANITIZE_KEYS)}")
    chosen: dict[str, bool] = {}
    for key, setting in value.items():
        where = (*path, str(key))
        if key not in SANITIZE_KEYS:
            raise doc.error(where, f"unknown key '{key}' in sanitize (expected {', '.join(SANITIZE_KEYS)})")
        if not isinstance(setting, bool):
            raise doc.error(where, f"sanitize.{key} must be true or false, not {setting!r}")
        chosen[key] = setting
    return DEFAULT_SANITIZE._replace(**chosen)
