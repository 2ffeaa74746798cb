"""``python -m grlm ...``: the ``grlm`` command."""

import sys

from grlm.cli import main

sys.exit(main())
