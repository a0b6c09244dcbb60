"""What becomes of a line over the size limit, from either peer (sans-IO; ``Session`` carries it out).

Such a line is never parsed, let alone forwarded; what its kept ends show (``lilith.core.peek``) decides who
is told:

- from the client, a request whose id and method show is answered ``-32600`` with that id (otherwise with
  ``id: null``: a client's answer to a server request gets no answer, and an id that is not certain is never
  guessed), and a decision record names its method, tool and id, with rule ``protocol.line-too-long``;
- from the server, an answer whose id shows fails the client request it answers with ``-32603``, so no
  client waits for it; a request of the server's is refused to the server with ``-32600``; nothing of the
  line reaches the client.

A line is reported when it crosses the limit and again when it ends (``framing.OversizedLine``); it is
acted on at the first report that shows enough, and only there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lilith.core.batches import deliver
from lilith.core.codec import encode
from lilith.core.effects import Effects
from lilith.core.framing import OversizedLine
from lilith.core.message import Kind, Message, error_response, id_key
from lilith.core.peek import Peek, peek_ends, peek_head
from lilith.core.pending import ClientRequests
from lilith.core.ports import EventLog
from lilith.core.session_records import SessionRecords
from lilith.errors import INTERNAL_ERROR, INVALID_REQUEST
from lilith.policy.decision import Decision

RULE_LINE_TOO_LONG = "protocol.line-too-long"


def refuse_client_line(line: OversizedLine, effects: Effects, records: SessionRecords, log: EventLog) -> None:
    """Answer the client's over-long line, and record it, once what it shows is enough (see ``_act_on``)."""
    found = _act_on(line, _names_request)
    if found is None:
        return
    request_id = None
    if found.method is not None:
        request_id = found.request_id
        _record_refusal(found, line.limit, records, log)
    reason = f"Invalid Request: line exceeds {line.limit} bytes"
    effects.to_client.append(encode(error_response(request_id, INVALID_REQUEST, reason)))


def settle_server_line(line: OversizedLine, effects: Effects, requests: ClientRequests) -> None:
    """Fail the client request the server's over-long line answers, or refuse the server's request it is."""
    found = _act_on(line, _names_message)
    if found is None or found.request_id is None:
        return
    if found.method is not None:  # a request of the server's: refused to it, so that it does not wait
        reason = f"Invalid Request: line exceeds {line.limit} bytes"
        effects.to_server.append(encode(error_response(found.request_id, INVALID_REQUEST, reason)))
        return
    if not found.answer:
        return
    pending = requests.take(id_key(found.request_id))
    if pending is None or pending.internal:  # as for any invalid answer to Lilith's own request
        return
    reason = f"Lilith: the MCP server sent an answer longer than {line.limit} bytes"
    alone: list[dict[str, Any]] = []  # an answer that belongs to a batch goes out with its batch
    deliver(pending, error_response(pending.request_id, INTERNAL_ERROR, reason), effects, alone)
    effects.to_client.extend(encode(body) for body in alone)


def settle_unreadable_answer(line: bytes, effects: Effects, requests: ClientRequests) -> None:
    """A server line that is not valid JSON (NaN, 1e400, a lone surrogate, broken UTF-8) is dropped, never
    shown; if it reads as an answer to a pending client request (``peek``, which fails closed), that request is
    failed now rather than left to its timeout."""
    found = peek_head(line)
    if found.request_id is None or found.method is not None or not found.answer:
        return
    pending = requests.take(id_key(found.request_id))
    if pending is None or pending.internal:
        return
    reason = "Lilith: the MCP server sent an answer that is not valid JSON"
    alone: list[dict[str, Any]] = []
    deliver(pending, error_response(pending.request_id, INTERNAL_ERROR, reason), effects, alone)
    effects.to_client.extend(encode(body) for body in alone)


def _record_refusal(found: Peek, limit: int, records: SessionRecords, log: EventLog) -> None:
    """The decision record of a refused request whose method showed (request id and tool when they did; no
    arguments: the line was never read). A record that cannot be written changes nothing: the line is
    refused either way."""
    # "arguments": null in the record, not {}: they are unknown, not empty.
    params = {"name": found.tool, "arguments": None}
    body = {"jsonrpc": "2.0", "id": found.request_id, "method": found.method, "params": params}
    key = id_key(found.request_id) if found.request_id is not None else None
    message = Message(Kind.REQUEST, body, found.method, key)
    try:
        records.decision(message, Decision(False, RULE_LINE_TOO_LONG, f"line exceeds {limit} bytes"))
    except Exception as exc:  # never lets the line through or changes its answer: it is refused either way
        log.log("error", "audit_write_failed", error=f"{type(exc).__name__}: {exc}")


def _act_on(line: OversizedLine, enough: Callable[[Peek], bool]) -> Peek | None:
    """What ``line`` shows, if this report of it is the one to act on: the first whose bytes show ``enough``
    (its crossing, by its head), or else its end (by both ends, whatever they show); None for the others."""
    if not line.ended:
        found = peek_head(line.head)
        return found if enough(found) else None
    if line.early and enough(peek_head(line.head)):
        return None  # acted on when it crossed the limit: the same head shows the same
    return peek_ends(line.head, line.tail, whole=line.gap == 0)


def _names_request(found: Peek) -> bool:
    return found.request_id is not None and found.method is not None


def _names_message(found: Peek) -> bool:
    """An answer (to the client's request) or a request (of the server's), with its id."""
    return found.request_id is not None and (found.method is not None or found.answer)
