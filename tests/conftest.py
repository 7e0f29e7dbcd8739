"""Make `tests.*` helper modules importable when `pytest` is run without `python -m` (the
import mode is importlib, which does not put the root folder on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
