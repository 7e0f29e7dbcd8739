"""`python -m engine` runs the `tlsrpt` command."""

import sys

from engine.cli import main

sys.exit(main())
