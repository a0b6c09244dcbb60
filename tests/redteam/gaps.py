"""Defences Lilith does not have yet. A case that needs one is marked ``xfail(strict=True)`` with its
reason from here, so it fails loudly (XPASS) the day the defence lands and the mark must go."""

from __future__ import annotations
