"""Regression tests may drive a real ``lilith`` the way the integration tests do."""

from __future__ import annotations

from tests.integration.conftest import start_proxy

__all__ = ["start_proxy"]
