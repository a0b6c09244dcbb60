"""Suite-wide settings."""

from __future__ import annotations

from hypothesis import settings

# CI machines are shared and noisy: a property's examples must not fail on wall-clock deadlines.
settings.register_profile("lilith", deadline=None)
settings.load_profile("lilith")
