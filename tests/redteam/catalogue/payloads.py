"""Raw payload builders shared by the catalogue's framing cases."""

from __future__ import annotations

from typing import Any


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def raw_call(arguments_json: bytes, name: bytes = b'"echo"') -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call","params":{"name":'
        + name
        + b',"arguments":'
        + arguments_json
        + b"}}"
    )
