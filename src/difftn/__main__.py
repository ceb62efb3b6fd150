"""``python -m difftn``: the same as the ``difftn`` command."""

import sys

from .cli import main

sys.exit(main())
