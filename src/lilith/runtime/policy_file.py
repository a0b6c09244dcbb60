"""Load a policy file the way the shell must: one non-blocking read of a regular file of bounded size.

The compiled policy carries the SHA-256 of the bytes it was parsed from (``Policy.sha256``), so the audit
log's ``policy_load`` and ``policy_reload`` records name the file that decided, even if the path was
rewritten a moment after the read.
"""

from __future__ import annotations

from lilith.errors import PolicyError
from lilith.policy.loader import Policy, parse_policy_bytes
from lilith.runtime.regular_files import read_regular_file

# Far above any hand-written policy; a file beyond it is refused rather than read into memory.
MAX_POLICY_BYTES = 16 << 20


def load_policy(path: str) -> Policy:
    """The compiled policy at ``path``; PolicyError naming the file for anything that is not a readable
    regular file of at most MAX_POLICY_BYTES holding a valid policy."""
    try:
        data = read_regular_file(path, MAX_POLICY_BYTES)
    except FileNotFoundError:
        raise PolicyError("policy file not found", file=path) from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file: {exc.strerror or exc}", file=path) from None
    return parse_policy_bytes(data, path)
