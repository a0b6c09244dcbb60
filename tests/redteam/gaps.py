"""Defences Lilith does not have yet. A case that needs one is marked ``xfail(strict=True)`` with its
reason from here, so it fails loudly (XPASS) the day the defence lands and the mark must go."""

from __future__ import annotations

GLOB_LOOKALIKES = (
    "no tool-name character policy: an ALLOW glob (read_*) also matches names with invisible or look-alike "
    "characters, and argument rules name tools exactly, so the look-alike is forwarded without its argument "
    "rule (MCP 2025-11-25 tool names are ASCII letters, digits, _ - .)"
)
CONFUSABLE_OF_DENIED = (
    "no confusable check against DENY rules: a case variant, homoglyph, fullwidth or invisible-suffixed "
    "spelling of a denied tool is allowed by a broader ALLOW glob and forwarded"
)
CASE_FOLDED_KEYS = (
    "keys that equal a checked key only under case folding (NAME, Params, argumentſ) are forwarded; Go's "
    "encoding/json matches keys case-insensitively and the last one wins, so a Go server acts on what Lilith "
    "never checked (CVE-2026-27896)"
)
METHOD_LOOKALIKES = (
    "methods that differ from a policed method (tools/call, resources/read, prompts/get) only by case, "
    "whitespace or invisible characters are forwarded unchecked"
)
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
MODERN_SERVER_REQUESTS = (
    "server-to-client requests are forwarded in the 2026-07-28 era, where servers must not send requests"
)
UNDECLARED_CAPABILITY = "server-to-client requests for a capability the client did not declare are forwarded"
ID_REUSE_AFTER_CANCEL = (
    "an id may be reused as soon as its request is cancelled; the server's late answer to the cancelled "
    "request is delivered as the answer to the new one"
)
NUMERIC_ID_ALIAS = (
    "ids 7 and 7.0 may be in flight together; a JavaScript server reads both as 7 and cross-wires the answers"
)
