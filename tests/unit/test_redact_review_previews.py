"""Review finding 1: a result preview redacts what the same call's arguments redact.

Previews are JSON text (a structured result, or a tool's text that is JSON itself, often with JSON inside its
strings), so the redactor sees them as values where it can, and its text detectors accept JSON-escaped quotes
where it cannot. The audit writer is used as it is in the proxy: records in, a file out.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from lilith.audit.redact import MAX_DEPTH, JsonText, Redactor
from lilith.audit.results import PREVIEW_CHARS, summarise_result
from lilith.audit.writer import AuditFile

KEY = b"k" * 32
TAG = re.compile(r"<[a-z_]+:[0-9a-f]+>")
# The reviewer's call: secrets in a key=value string and in JSON held in a string.
ARGS = {
    "cfg": 'db_password="Hunter2Quoted"',
    "body": '{"api_key": "AbcKey123xyz", "token": "Tok999zz"}',
    "pw": "PwOnlyByKey1",
}
SECRETS = ("Hunter2Quoted", "AbcKey123xyz", "Tok999zz", "PwOnlyByKey1")


def _written(tmp_path: Path, *records: dict[str, Any]) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    for record in records:
        audit.record(record)
    audit.close()
    raw = path.read_text()
    for secret in SECRETS:
        assert secret not in raw, secret
    return [json.loads(line) for line in raw.splitlines()]


def _tool_result(*texts: str, **extra: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": t} for t in texts], **extra}}


@pytest.mark.parametrize(
    "answer",
    [
        _tool_result(json.dumps(ARGS, sort_keys=True)),  # the echo server's text: JSON of the arguments
        _tool_result(json.dumps(ARGS), "and a second item"),  # several items: redacted as text
        {"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": ARGS}},
        {"jsonrpc": "2.0", "id": 1, "result": {"echo": ARGS}},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "data": ARGS}},
    ],
    ids=["json-text", "texts", "structured", "plain-result", "error-data"],
)
def test_a_preview_leaks_nothing_the_arguments_redact(tmp_path: Path, answer: dict[str, Any]) -> None:
    decision, result = _written(
        tmp_path,
        {"event": "decision", "arguments": ARGS},
        {"event": "result", **summarise_result(answer, 100)},
    )
    argument_tags = {tag for value in decision["arguments"].values() for tag in TAG.findall(value)}
    assert len(argument_tags) == 4
    assert argument_tags <= set(TAG.findall(result["preview"]))  # the same values, the same tags
    assert len(result["preview"]) <= PREVIEW_CHARS


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"cfg": "db_password=\\"Hunter2Quoted\\""}', "Hunter2Quoted"),
        ('"{\\"api_key\\": \\"AbcKey123xyz\\", \\"n\\": 1}"', "AbcKey123xyz"),
        ('"{\\"token\\":\\"Tok999zz\\"}"', "Tok999zz"),
        ('"secret: \\"two words\\" and more"', "two words"),
        ('"run --password Hunter2Quoted\\" next"', "Hunter2Quoted"),
        ('"token=Tok999zz\\", \\"x\\": 1"', "Tok999zz"),
    ],
)
def test_text_detectors_accept_json_escaped_quotes(text: str, secret: str) -> None:
    red = Redactor(KEY)
    out = red.redact_text(text)
    assert secret not in out
    assert red.tag("secret", secret) in out  # the value alone, not its escaping: it correlates
    assert out.count("\\") == text.count("\\")  # the escapes around it are kept


def test_values_below_max_depth_are_redacted_by_their_keys() -> None:
    deep: Any = {"passcode": "111111", "pw": "TopSecret9", "note": "mail ada@example.org", "flag": True, "n": None}
    for _ in range(MAX_DEPTH + 10):
        deep = {"x": [deep]}
    text = json.dumps(Redactor(KEY).redact_value(deep))
    assert "111111" not in text and "TopSecret9" not in text and "ada@example.org" not in text
    assert text.count("<secret:") == 2 and "<email:" in text
    inner = Redactor(KEY).redact_value(deep)
    for _ in range(MAX_DEPTH // 2):
        inner = inner["x"][0]
    assert isinstance(inner, str)  # below MAX_DEPTH the value is JSON text
    assert json.loads(inner)  # ... and valid JSON


def test_cycles_and_values_too_deep_even_for_text_end() -> None:
    cyclic: list[Any] = ["ada@example.org"]
    cyclic.append(cyclic)
    assert "<too_deep>" in json.dumps(Redactor(KEY).redact_value(cyclic))
    very_deep: Any = {"password": "p"}
    for _ in range(1000):
        very_deep = {"k": very_deep}
    assert "<too_deep>" in json.dumps(Redactor(KEY).redact_value(very_deep))


def test_json_text_is_an_ordinary_string_to_everyone_else() -> None:
    text = JsonText('{"pw":"x"}', {"pw": "x"})
    assert text == '{"pw":"x"}' and isinstance(text, str)
    assert orjson.loads(orjson.dumps({"preview": text})) == {"preview": '{"pw":"x"}'}
    for copied in (copy.copy(text), copy.deepcopy({"p": text})["p"]):
        assert isinstance(copied, JsonText) and copied == text and copied.value == {"pw": "x"}
    red = Redactor(KEY)
    assert red.redact_value(text) == '{"pw":"' + red.tag("secret", "x") + '"}'
    assert red.redact_value({"preview": text}) == {"preview": '{"pw":"' + red.tag("secret", "x") + '"}'}


def test_the_writer_redacts_a_json_preview_as_a_value(tmp_path: Path) -> None:
    # Secrets only the structure shows: nine digits under an ssn key, the value next to a secret header name.
    content = {"ssn": "078051120", "headers": [{"name": "X-Api-Key", "value": "PlainApiVal"}]}
    summary = summarise_result({"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": content}}, 10)
    assert isinstance(summary["preview"], JsonText)
    path = tmp_path / "audit.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "result", **summary})
    audit.close()
    raw = path.read_text()
    assert "078051120" not in raw and "PlainApiVal" not in raw
    preview = json.loads(raw.splitlines()[0])["preview"]
    assert json.loads(preview)["headers"][0]["name"] == "X-Api-Key"  # the rest is kept, as JSON
