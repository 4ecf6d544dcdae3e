"""``python -m sysvmdiag.cli`` = the ``sysvmdiag`` command."""

import sys

from sysvmdiag.cli import main

sys.exit(main())
