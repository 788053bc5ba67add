"""``python -m pdf_export``: see cli.py."""

from pdf_export.cli import main

raise SystemExit(main())
