"""``python -m frontdoor.cli``, as the installed ``frontdoor`` command."""

from frontdoor.cli import main

raise SystemExit(main())
