"""Entry point of ``python -m knowledge_base`` (see ``cli``)."""

import sys

from knowledge_base.cli import main

sys.exit(main())
