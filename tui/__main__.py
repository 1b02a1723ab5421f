"""`python -m tui` runs the `listsync` command."""

from tui.cli import main

raise SystemExit(main())
