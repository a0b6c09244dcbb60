"""Hidden-instruction markers in what a server says about its tools, prompts and resources.

A tool description is read by the model as guidance, so a hostile server writes orders into it (tool
poisoning), into its input schema, or about other tools (shadowing). This is a small, fixed, documented
set of phrases that honest descriptions do not use; it is a heuristic, not a proof:

- ``instruction-tag``: markup that fakes authority: ``<IMPORTANT>``, ``<SYSTEM>``, ``<instructions>``,
  ``[INST]``, ``<|im_start|>``, ``<<SYS>>``;
- ``override``: "ignore / disregard / forget (all) previous|prior|above|system ... instructions|rules";
- ``secrecy``: keeping something from the user: "do not tell|mention|reveal ... the user", "without
  telling the user", "hide ... from the user", "the user must not know";
- ``before-use``: "before using|calling this tool, read|send|pass|include ...";
- ``secret-file``: a credential file (``~/.ssh``, ``id_rsa``, ``.env``, ``~/.aws``, ``.netrc``, an agent's
  ``mcp.json`` ...) in the same sentence as read|send|pass|include|upload|copy...; or credentials, a
  private or SSH key in the same sentence as send|pass|include|upload|forward|share...;
- ``coercion``: "otherwise the tool will not work";
- ``cross-tool``: a condition on another tool ("when send_email is used", "after git_push is called"),
  or "always bcc|cc|forward" — orders about tools other than the one described (the tool's own name does
  not count).

Matching is case-insensitive, on the text after invisible characters were removed and whitespace
collapsed, plus whatever Unicode tag characters spelled out. Text that is not all ASCII is read a second
time folded (``lilith.policy.confusables.fold_lookalikes``: NFKC, then Cyrillic, Greek and Armenian
look-alikes of Latin letters as those letters), so ``＜ＩＭＰＯＲＴＡＮＴ＞``, ``𝐈𝐌𝐏𝐎𝐑𝐓𝐀𝐍𝐓`` and a Cyrillic
``Іgnore аll prevіous іnstructіons`` are the markers they imitate; ASCII text is read once, unfolded.
Windows marked "same sentence" stop at a full stop, question or exclamation mark followed by a space, or
at a line end. Known misses: paraphrases, other languages, other spellings (HTML entities, markup
comments), text split across fields; known false positives: an honest description that tells the model to
send credentials (``sanitize: {hide_poisoned_tools: false}`` turns the scan off).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_SENTENCE = r"(?:[^.!?\n]|[.!?](?=\S))"


def _within(chars: int) -> str:
    return f"{_SENTENCE}{{0,{chars}}}"


_CREDENTIAL_FILE = (
    r"(?:~/\.ssh|\.ssh/|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|~/\.aws|\.aws/credentials|\.git-credentials"
    r"|\.netrc\b|\.npmrc\b|\.pypirc\b|\.docker/config\.json|\.kube/config|\bmcp\.json\b"
    r"|claude_desktop_config\.json|~/\.cursor|/etc/shadow\b|/etc/passwd\b|\.bash_history|\.zsh_history"
    r"|(?<![\w.-])\.env\b(?![\w.-]))"
)
_TOUCH = (
    r"\b(?:read|open|cat|load|send|pass|include|attach|upload|forward|post|leak|exfiltrate|share|paste|embed"
    r"|copy|provide|extract|append)\b"
)
_CREDENTIAL_HINTS = (
    "ssh", "id_", "aws", "credential", ".env", "netrc", "npmrc", "pypirc", "docker", "kube", "mcp.json",
    "claude_desktop", "cursor", "/etc/", "_history", "private", "secret",
)  # fmt: skip
_CREDENTIAL_WORD = r"\b(?:credentials|(?:private|ssh|secret)\s+keys?)\b"
_SEND = r"\b(?:send|pass|include|attach|upload|forward|post|leak|exfiltrate|share|paste|embed|append)\b"
_SECRECY_VERB = (
    r"(?:tell|telling|inform|informing|mention|mentioning|notify|notifying|alert|alerting|reveal|revealing"
    r"|disclose|disclosing|show|showing|let)"
)
_USER = r"\b(?:the\s+)?(?:user|human)s?\b(?!['\u2019]s)"


# (label, words one of which the text must hold (case-folded; a cheap substring test that spares most
# honest text the regex), the pattern)
_MARKER_TABLE: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "instruction-tag",
        ("<", "inst]"),
        r"<\s*/?\s*(?:important|system|instructions?|secret|hidden|critical|admin|override|sys|assistant)\s*>"
        r"|\[/?INST\]|<\|im_(?:start|end)\|>|<<\s*/?\s*SYS\s*>>",
    ),
    (
        "override",
        ("ignore", "disregard", "forget", "override"),
        r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|the|of|your|these|those)\s+)*"
        r"(?:previous|prior|above|earlier|preceding|system|original|developer)\s+(?:\w+\s+)?"
        r"(?:instructions?|prompts?|rules|directions|directives|guidelines|messages?|context)\b",
    ),
    (
        "secrecy",
        ("user", "human"),
        rf"\b(?:do\s+not|don'?t|never|without)\s+(?:\w+\s+){{0,2}}?{_SECRECY_VERB}\b{_within(60)}{_USER}"
        rf"|\b(?:hide|conceal)\b{_within(40)}\bfrom\s+(?:the\s+)?(?:user|human)"
        r"|\b(?:the\s+)?user\s+(?:must|should|need|may)\s*(?:not|never|n't)\s+"
        r"(?:know|see|notice|learn|be\s+(?:told|informed|aware))",
    ),
    (
        "before-use",
        ("before",),
        r"\bbefore\s+(?:using|calling|invoking|running|executing)\s+(?:this|the|any|other)\s+(?:\w+\s+)?tools?\b"
        rf"{_within(40)}\b(?:read|open|cat|load|send|pass|include|attach|upload|provide|extract|copy)\b",
    ),
    (
        "secret-file",
        _CREDENTIAL_HINTS,
        rf"{_CREDENTIAL_FILE}{_within(100)}{_TOUCH}|{_TOUCH}{_within(100)}{_CREDENTIAL_FILE}"
        rf"|{_CREDENTIAL_WORD}{_within(100)}{_SEND}|{_SEND}{_within(100)}{_CREDENTIAL_WORD}",
    ),
    (
        "coercion",
        ("otherwise",),
        r"\botherwise\s+(?:the|this)\s+tool\s+(?:will\s+not|won'?t|cannot|can'?t|does\s+not|doesn'?t)\s+work\b",
    ),
    ("cross-tool", ("always",), r"\balways\s+(?:bcc|cc|blind[\s-]copy|forward|redirect)\b"),
)
_MARKERS = tuple((label, hints, re.compile(pattern, re.IGNORECASE)) for label, hints, pattern in _MARKER_TABLE)
_OTHER_TOOL_HINTS = ("used", "called", "invoked", "run", "executed")
_OTHER_TOOL = re.compile(
    r"\b(?:when|whenever|before|after|if)\s+(?:the\s+)?[`'\"]?(?P<tool>[a-z][a-z0-9]*(?:[_-][a-z0-9]+)+)[`'\"]?\s+"
    r"(?:tool\s+)?(?:is|gets|was|are)\s+(?:used|called|invoked|run|executed)\b",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[^\S\n]+")
_SNIPPET = 80


class Marker(NamedTuple):
    label: str  # one of the documented marker names
    snippet: str  # the matched words (at most 80 characters), for the audit log


def find_marker(text: str, own_name: str | None = None) -> Marker | None:
    """The first hidden-instruction marker in ``text`` (already free of invisible characters), or None.
    ``own_name``: the item's own name, which a cross-tool condition may mention without suspicion."""
    marker = _scan(text, own_name)
    if marker is not None or text.isascii():
        return marker
    from lilith.policy.confusables import fold_lookalikes  # only text with non-ASCII characters gets here

    folded = fold_lookalikes(text)
    if folded == text:
        return None
    return _scan(folded, None if own_name is None else fold_lookalikes(own_name))


def _scan(text: str, own_name: str | None) -> Marker | None:
    text = _SPACES.sub(" ", text)
    lowered = text.casefold()  # as the patterns match: ſ is s, K (Kelvin) is k
    for label, hints, pattern in _MARKERS:
        if not _holds_any(lowered, hints):
            continue
        match = pattern.search(text)
        if match is not None:
            return Marker(label, _snippet(match.group()))
    if _holds_any(lowered, _OTHER_TOOL_HINTS):
        for match in _OTHER_TOOL.finditer(text):
            if match.group("tool") != own_name:
                return Marker("cross-tool", _snippet(match.group()))
    return None


def _holds_any(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)  # substring tests: cheaper than a regex alternation of them


def _snippet(words: str) -> str:
    words = words.strip()
    return words if len(words) <= _SNIPPET else words[: _SNIPPET - 3] + "..."
