"""Result summaries for ``result`` audit records: size, error flag and an unredacted preview (JSON ones with
the value they show, for the redactor)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lilith.audit.redact import JsonText
from lilith.audit.results import PREVIEW_CHARS, PREVIEW_SLACK, summarise_result

LIMIT = PREVIEW_CHARS + PREVIEW_SLACK


def _tool_result(*texts: str, **extra: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": t} for t in texts], **extra}}


def test_text_content_is_the_preview_and_the_size_is_passed_through() -> None:
    summary = summarise_result(_tool_result("hello", "world", isError=False), 1234)
    assert summary == {"size": 1234, "is_error": False, "preview": "hello\nworld"}


def test_is_error_true_and_absent() -> None:
    assert summarise_result(_tool_result("boom", isError=True), 10)["is_error"] is True
    assert summarise_result(_tool_result("ok"), 10)["is_error"] is None
    assert summarise_result({"result": {"content": [], "isError": "yes"}}, 10)["is_error"] is None  # not a bool


def test_a_jsonrpc_error_is_an_error_with_its_message_as_preview() -> None:
    body = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Method not found"}}
    assert summarise_result(body, 77) == {"size": 77, "is_error": True, "preview": "Method not found"}
    odd = summarise_result({"error": {"code": 1}}, 5)
    assert odd["is_error"] is True and json.loads(odd["preview"]) == {"code": 1}


def test_resource_contents_and_non_text_results_preview_as_text_or_compact_json() -> None:
    resource = {"result": {"contents": [{"uri": "file:///a", "text": "line one"}]}}
    assert summarise_result(resource, 1)["preview"] == "line one"
    structured = {"result": {"content": [{"type": "image", "data": "AAAA"}], "structuredContent": {"a": [1, 2]}}}
    assert summarise_result(structured, 1)["preview"] == '{"a":[1,2]}'
    listing = {"result": {"tools": [{"name": "echo"}]}}
    assert summarise_result(listing, 1)["preview"] == '{"tools":[{"name":"echo"}]}'
    assert summarise_result({"result": None}, 1)["preview"] == "null"


def test_the_preview_is_bounded_with_room_for_the_redactor_to_see_a_secret_whole() -> None:
    long_text = "a" * 100_000
    assert len(summarise_result(_tool_result(long_text), 100_000)["preview"]) == LIMIT
    many = _tool_result(*(["x" * 50] * 10_000))
    assert len(summarise_result(many, 1)["preview"]) == LIMIT


@pytest.mark.parametrize("size", [10, 1000, 100_000])
def test_huge_structures_are_not_serialised_whole(size: int) -> None:
    result = {"result": {"items": [{"n": n, "s": "v" * 100} for n in range(size)]}}
    preview = summarise_result(result, 1)["preview"]
    assert len(preview) <= LIMIT
    assert preview.startswith('{"items":[{"n":0,"s":"vvv')


def test_deeply_nested_values_do_not_recurse_without_end() -> None:
    value: Any = "leaf"
    for _ in range(5000):
        value = [value]
    preview = summarise_result({"result": {"deep": value}}, 1)["preview"]
    assert preview.startswith('{"deep":[[[[')


def test_json_previews_carry_the_value_they_show_for_the_redactor() -> None:
    structured = summarise_result({"result": {"structuredContent": {"pw": "x", "n": [1, 2]}}}, 1)["preview"]
    assert isinstance(structured, JsonText)
    assert structured.value == {"pw": "x", "n": [1, 2]}
    error = summarise_result({"error": {"code": 7, "data": {"token": "t"}}}, 1)["preview"]
    assert isinstance(error, JsonText) and error.value == {"code": 7, "data": {"token": "t"}}
    assert not isinstance(summarise_result(_tool_result("plain words"), 1)["preview"], JsonText)


def test_a_short_tool_text_holding_json_is_previewed_as_its_value() -> None:
    text = '{\n  "user": "ada",\n  "db_pass": "p"\n}'
    preview = summarise_result(_tool_result(text), 1)["preview"]
    assert isinstance(preview, JsonText)
    assert preview == '{"user":"ada","db_pass":"p"}' and preview.value == {"user": "ada", "db_pass": "p"}
    # Not JSON, JSON that is not an object or array, several items, or too long to parse: the text itself.
    for texts in (["{not json"], ['"just a string"'], ["[1]", "[2]"], ['{"a": "' + "x" * 5000 + '"}']):
        assert not isinstance(summarise_result(_tool_result(*texts), 1)["preview"], JsonText), texts


def test_the_value_behind_a_json_preview_is_bounded_like_its_text() -> None:
    result = {"result": {"items": [{"n": n, "s": "v" * 100} for n in range(100_000)]}}
    preview = summarise_result(result, 1)["preview"]
    assert isinstance(preview, JsonText)
    assert len(preview.value["items"]) <= 3  # what the first LIMIT characters show, not the whole list
    assert len(json.dumps(preview.value, separators=(",", ":"))) <= 2 * LIMIT
    big = summarise_result({"result": {"id": 2**70}}, 1)["preview"]  # beyond what orjson writes
    assert big == '{"id":1180591620717411303424}'
