"""``python -m campaigns …`` (see :mod:`campaigns.cli`)."""

from campaigns.cli import main

raise SystemExit(main())
