"""Every fuzz target by name: each takes one byte string and raises only when it found something."""

from __future__ import annotations

from collections.abc import Callable

from fuzz.audit_target import audit_target
from fuzz.codec_target import codec_target
from fuzz.policy_target import policy_target
from fuzz.redact_target import redact_target
from fuzz.session_target import session_target

TARGETS: dict[str, Callable[[bytes], None]] = {
    "codec": codec_target,
    "session": session_target,
    "policy": policy_target,
    "redact": redact_target,
    "audit": audit_target,
}
