"""``python -m mockserver`` is ``recoup-mock``."""

import sys

from .cli import main

sys.exit(main())
