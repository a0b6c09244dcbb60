"""Suite-wide settings."""

from __future__ import annotations

import os
import tempfile

from hypothesis import settings

# CI machines are shared and noisy: a property's examples must not fail on wall-clock deadlines.
settings.register_profile("lilith", deadline=None)
settings.load_profile("lilith")

# Lilith creates its audit key under the user's config directory; keep the suite's keys out of $HOME.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="lilith-test-config-")
os.environ.pop("LILITH_AUDIT_KEY_FILE", None)
