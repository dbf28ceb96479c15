"""`python -m tests.prove` (from the repository root): see tests/prove/runner.py."""

import sys

from tests.prove.runner import main

sys.exit(main())
