"""The one exception tree of Lilith Zero.

    LilithError                      base; never escapes to a peer as a traceback
    ├── ConfigError                  bad command line or configuration (exit code 2)
    │   └── PolicyError              bad policy file; carries file, line and column
    ├── ProtocolError                a peer sent something invalid; carries its JSON-RPC code
    │   ├── ParseError               -32700: not JSON, or beyond the size/depth limits
    │   ├── InvalidRequest           -32600: JSON, but not an acceptable JSON-RPC message
    │   └── InvalidParams            -32602: a well-formed request whose params are unacceptable
    ├── ServerStartError             the MCP server could not be started
    ├── AuditWriteError              an audit record could not be written (fail closed)
    │   └── RedactionFailed          a record could not be redacted (always denies)
    └── AuditReadError               `lilith audit tail|query` cannot read a log as one (exit code 2)

Errors that are the peer's fault (ProtocolError) become JSON-RPC errors for that one message; errors that
are ours are logged and, for a request, answered with -32603, never passed through.
"""

from __future__ import annotations

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
POLICY_DENIED = -32000
SERVER_UNAVAILABLE = -32001
REQUEST_TIMEOUT = -32001  # the code MCP SDKs use for a request that got no answer in time


class LilithError(Exception):
    """Base class of every error Lilith raises on purpose."""


class ConfigError(LilithError):
    """The command line or a configuration file is invalid; Lilith refuses to start."""


class PolicyError(ConfigError):
    """A policy file is invalid. ``str()`` gives ``file:line:col: message``."""

    def __init__(self, message: str, *, file: str, line: int | None = None, col: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        where = file
        if line is not None:
            where += f":{line}"
            if col is not None:
                where += f":{col}"
        super().__init__(f"{where}: {message}")


class ProtocolError(LilithError):
    """A message from a peer is invalid. ``code`` is the JSON-RPC error code to answer with."""

    code = INVALID_REQUEST

    def __init__(self, message: str, *, request_id: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class ParseError(ProtocolError):
    code = PARSE_ERROR


class InvalidRequest(ProtocolError):
    code = INVALID_REQUEST


class InvalidParams(ProtocolError):
    code = INVALID_PARAMS


class ServerStartError(LilithError):
    """The upstream MCP server could not be started (missing executable, bad working directory …)."""


class AuditWriteError(LilithError):
    """An audit record could not be written; the decision it records must not take effect."""


class RedactionFailed(AuditWriteError):
    """A record could not be redacted: a bug in Lilith, never a reason to write the raw value. It always
    denies, whatever ``--audit-failure`` says (that switch is about the disk, not about secrets)."""


class AuditReadError(LilithError):
    """A file given to ``lilith audit tail`` or ``query`` is not a regular file (a FIFO planted at a log's
    name, a device), or the log kept changing while a query read it back."""
