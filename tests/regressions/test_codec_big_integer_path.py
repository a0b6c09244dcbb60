"""Lines with an integer beyond 64 bits take the standard library's JSON parser. That path accepted what
orjson refuses, and so forwarded something other than what was checked (found by ``make fuzz``, codec):

* ``"\\ud800"`` (a lone surrogate) parsed, then could not be re-encoded: ``Session.from_client`` raised
  ``UnicodeEncodeError``, which ended the client reader thread and with it the session;
* ``12E4567…`` parsed as ``inf`` and was re-encoded as ``null``: the policy saw infinity, the server null.
"""

from __future__ import annotations

import pytest

from lilith.core.codec import decode
from lilith.errors import PARSE_ERROR, ParseError
from tests.unit.fakes import MemoryAudit, MemoryLog, make_session

BIG = "12345678901234567890"
LINES = {
    "lone surrogate": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":"\\ud800","n":BIG}}}',
    "float overflow": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":1E999,"n":BIG}}}',
}


def _line(template: str) -> bytes:
    return template.replace("BIG", BIG).encode()


@pytest.mark.parametrize("template", LINES.values(), ids=list(LINES))
def test_the_slow_path_refuses_what_orjson_refuses(template: str) -> None:
    with pytest.raises(ParseError):
        decode(_line(template), 64)


@pytest.mark.parametrize("template", LINES.values(), ids=list(LINES))
def test_the_session_answers_a_parse_error_and_forwards_nothing(template: str) -> None:
    audit = MemoryAudit()
    session = make_session(audit, MemoryLog())
    effects = session.from_client(_line(template))
    assert effects.to_server == []
    assert len(effects.to_client) == 1
    assert b'"code":%d' % PARSE_ERROR in effects.to_client[0]
    assert audit.records == []
    assert session.from_server(_line(template.replace('"method":"tools/call",', ""))).to_client == []


def test_big_integers_still_pass_exactly() -> None:
    value = decode(_line('{"n":BIG,"s":"\\ud83d\\ude00","f":1.5e300}'), 64)
    assert value == {"n": int(BIG), "s": "\U0001f600", "f": 1.5e300}
