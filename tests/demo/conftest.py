"""Tests of ``wasmplugin demo`` and of the five demo plugins through the sidecar (``serve``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
