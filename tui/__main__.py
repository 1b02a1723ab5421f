"""`python -m tui` runs the `listsync` command."""

import gc

# Starting up makes ~100 collections (~80 ms) that free next to nothing; `tui.cli.main`
# turns the collector back on before a command runs, the app after its first paint.
gc.disable()

from tui.cli import main  # noqa: E402

raise SystemExit(main())
