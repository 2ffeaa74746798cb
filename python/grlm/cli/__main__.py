"""``python -m grlm.cli ...`` (and ``accelerate launch -m grlm.cli train ...``)."""

import sys

from grlm.cli import main

sys.exit(main())
