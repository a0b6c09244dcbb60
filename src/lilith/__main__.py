"""``python -m lilith``."""

from lilith.cli import main

raise SystemExit(main())
