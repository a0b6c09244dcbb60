"""Defences Lilith does not have yet. A case that needs one is marked ``xfail(strict=True)`` with its
reason from here, so it fails loudly (XPASS) the day the defence lands and the mark must go."""

from __future__ import annotations

NO_DESCRIPTION_SCAN = (
    "descriptions and schemas of allowed tools reach the client unexamined: no scan for hidden instructions"
)
NO_METADATA_SANITISING = (
    "ANSI escapes, tag, bidi and zero-width characters in tool, prompt and resource metadata reach the "
    "client unchanged: listings are not sanitised"
)
NO_RESULT_SANITISING = "tool results reach the client unexamined: ANSI escapes and invisible characters are not removed"
DUPLICATE_TOOL_NAMES = (
    "a tools/list naming one tool twice (different definitions) is passed through: no collision check"
)
NON_LIST_TOOLS = "a tools/list result whose 'tools' is not a list is forwarded unfiltered"
