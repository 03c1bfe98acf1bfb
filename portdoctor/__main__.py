"""Allows ``python -m portdoctor``."""

from portdoctor.cli import main

raise SystemExit(main())
