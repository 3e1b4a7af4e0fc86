"""``python -m helpers.run``: the documented entry point of the batch runner (``helpers.runner.run``)."""
from __future__ import annotations

import sys

from helpers.runner.run import main

if __name__ == "__main__":
    sys.exit(main())
