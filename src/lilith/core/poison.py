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
at a line end. Text longer than ``SCAN_LIMIT`` (64 Ki characters, also once folded) is not scanned at all
but reported as the marker ``too-long``: no honest description is that long, and a partial scan would pass
whatever was left unread. Every scan is linear in the text: the ``secret-file`` pairs, whose 100-character
windows a regex would retry after every verb (``send send send ...`` cost ~10 µs a character), are found
with one pass per half and matched up by position (``_secret_file``). Known misses: paraphrases, other
languages, other spellings (HTML entities, markup comments), text split across fields; known false
positives: an honest description that tells the model to send credentials (``sanitize:
{hide_poisoned_tools: false}`` turns the scan off).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
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
_CREDENTIAL_HINTS = (
    "ssh", "id_", "aws", "credential", ".env", "netrc", "npmrc", "pypirc", "docker", "kube", "mcp.json",
    "claude_desktop", "cursor", "/etc/", "_history", "private", "secret",
)  # fmt: skip
_CREDENTIAL_WORD = r"\b(?:credentials|(?:private|ssh|secret)\s+keys?)\b"
# A credential with a verb that hands it on; a credential file also with one that merely opens it.
_SEND_WORDS = r"send|pass|include|attach|upload|forward|post|leak|exfiltrate|share|paste|embed|append"
_TOUCH_ONLY_WORDS = r"read|open|cat|load|copy|provide|extract"
_SECRECY_VERB = (
    r"(?:tell|telling|inform|informing|mention|mentioning|notify|notifying|alert|alerting|reveal|revealing"
    r"|disclose|disclosing|show|showing|let)"
)
_USER = r"\b(?:the\s+)?(?:user|human)s?\b(?!['\u2019]s)"


# (label, words one of which the text must hold (case-folded; a cheap substring test that spares most
# honest text the search), the pattern, or None for the secret-file pairs that _secret_file finds)
_MARKER_TABLE: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
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
    ("secret-file", _CREDENTIAL_HINTS, None),
    (
        "coercion",
        ("otherwise",),
        r"\botherwise\s+(?:the|this)\s+tool\s+(?:will\s+not|won'?t|cannot|can'?t|does\s+not|doesn'?t)\s+work\b",
    ),
    ("cross-tool", ("always",), r"\balways\s+(?:bcc|cc|blind[\s-]copy|forward|redirect)\b"),
)
_MARKERS = tuple(
    (label, hints, None if pattern is None else re.compile(pattern, re.IGNORECASE))
    for label, hints, pattern in _MARKER_TABLE
)
# The halves of the secret-file pairs. A credential file is looked for at every position (a lookahead), as a
# regex search would try it: "~/.ssh/" is one at "~" and another at ".". Each pattern opens with the class of
# its first characters, which lets the regex engine skip other positions quickly (~4x faster).
_CREDENTIAL_FILE_AT = re.compile(rf"(?=[~./imc])(?=(?P<file>{_CREDENTIAL_FILE}))", re.IGNORECASE)
_CREDENTIAL_WORD_AT = re.compile(rf"(?=[cps]){_CREDENTIAL_WORD}", re.IGNORECASE)
_VERB_INITIALS = "".join(sorted({word[0] for word in f"{_SEND_WORDS}|{_TOUCH_ONLY_WORDS}".split("|")}))
_VERB_AT = re.compile(rf"\b(?=[{_VERB_INITIALS}])(?:(?P<send>{_SEND_WORDS})|{_TOUCH_ONLY_WORDS})\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[\n.!?](?:(?<=\n)|(?!\S))")  # what _SENTENCE never crosses
_PAIR_WINDOW = 100  # characters of one sentence between the two halves
_OTHER_TOOL_HINTS = ("used", "called", "invoked", "run", "executed")
_OTHER_TOOL = re.compile(
    r"\b(?:when|whenever|before|after|if)\s+(?:the\s+)?[`'\"]?(?P<tool>[a-z][a-z0-9]*(?:[_-][a-z0-9]+)+)[`'\"]?\s+"
    r"(?:tool\s+)?(?:is|gets|was|are)\s+(?:used|called|invoked|run|executed)\b",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[^\S\n]+")
_SNIPPET = 80


SCAN_LIMIT = 65536  # characters; longer text is the marker TOO_LONG, never scanned in part
TOO_LONG = "too-long"
Span = tuple[int, int]


class Marker(NamedTuple):
    label: str  # one of the documented marker names, or TOO_LONG
    snippet: str  # the matched words (at most 80 characters), for the audit log

    @property
    def finding(self) -> str:
        """What was found, as said of the metadata ("its metadata ...")."""
        if self.label == TOO_LONG:
            return f"is too long to scan for hidden instructions ({self.snippet})"
        return f"carries a hidden-instruction marker ({self.label})"


def find_marker(text: str, own_name: str | None = None) -> Marker | None:
    """The first hidden-instruction marker in ``text`` (already free of invisible characters), or None.
    ``own_name``: the item's own name, which a cross-tool condition may mention without suspicion."""
    if len(text) > SCAN_LIMIT:
        return _too_long(len(text))
    marker = _scan(text, own_name)
    if marker is not None or text.isascii():
        return marker
    from lilith.policy.confusables import fold_lookalikes  # only text with non-ASCII characters gets here

    folded = fold_lookalikes(text)
    if folded == text:
        return None
    if len(folded) > SCAN_LIMIT:  # NFKC writes some characters as up to 18
        return _too_long(len(folded), " once folded")
    return _scan(folded, None if own_name is None else fold_lookalikes(own_name))


def _too_long(length: int, how: str = "") -> Marker:
    return Marker(TOO_LONG, f"{length} characters{how}, more than the {SCAN_LIMIT} that are scanned")


def _scan(text: str, own_name: str | None) -> Marker | None:
    text = _SPACES.sub(" ", text)
    lowered = text.casefold()  # as the patterns match: ſ is s, K (Kelvin) is k
    for label, hints, pattern in _MARKERS:
        if not _holds_any(lowered, hints):
            continue
        if pattern is None:
            span = _secret_file(text)
        else:
            match = pattern.search(text)
            span = None if match is None else match.span()
        if span is not None:
            return Marker(label, _snippet(text[span[0] : span[1]]))
    if _holds_any(lowered, _OTHER_TOOL_HINTS):
        for match in _OTHER_TOOL.finditer(text):
            if match.group("tool") != own_name:
                return Marker("cross-tool", _snippet(match.group()))
    return None


def _secret_file(text: str) -> Span | None:
    """Where the regex ``F{w}T|T{w}F|C{w}S|S{w}C`` would match first (F a credential file, T a verb that
    touches it, C a credential word, S a verb that sends it, {w} up to 100 characters of one sentence),
    without its cost: that regex tries the window after every verb and backtracks through it, ~10 µs a
    character on ``send send send ...``. Here each half is found once and the pairs are matched up by
    position, in time linear in the text (plus a logarithm)."""
    files = [(match.start(), match.end("file")) for match in _CREDENTIAL_FILE_AT.finditer(text)]
    words = [match.span() for match in _CREDENTIAL_WORD_AT.finditer(text)]
    if not files and not words:
        return None
    touches: list[Span] = []
    sends: list[Span] = []
    for match in _VERB_AT.finditer(text):
        touches.append(match.span())
        if match.group("send") is not None:
            sends.append(match.span())
    ends = [match.start() for match in _SENTENCE_END.finditer(text)]
    found: Span | None = None
    # In the regex's order: the leftmost start wins, and at one start the earlier alternative.
    for firsts, seconds in ((files, touches), (touches, files), (words, sends), (sends, words)):
        pair = _first_pair(firsts, seconds, ends, len(text) if found is None else found[0])
        if pair is not None:
            found = pair
    return found


def _first_pair(firsts: list[Span], seconds: list[Span], ends: list[int], before: int) -> Span | None:
    """The leftmost first half (starting before ``before``) with a second half that starts after it, at most
    ``_PAIR_WINDOW`` characters on and before any sentence end; as the regex's greedy window does, the
    second half that starts furthest on. Both lists are in order of start, one span per start."""
    if not seconds:
        return None
    starts = [start for start, _ in seconds]
    for start, end in firsts:
        if start >= before:
            return None
        reach = end + _PAIR_WINDOW  # the furthest the second half may start
        next_end = bisect_left(ends, end)
        if next_end < len(ends):
            reach = min(reach, ends[next_end])  # the window holds no sentence end (one may start the half)
        last = bisect_right(starts, reach) - 1
        if last >= 0 and starts[last] >= end:
            return start, seconds[last][1]
    return None


def _holds_any(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)  # substring tests: cheaper than a regex alternation of them


def _snippet(words: str) -> str:
    words = words.strip()
    return words if len(words) <= _SNIPPET else words[: _SNIPPET - 3] + "..."
