"""Registers the chain tests' fixtures. The helpers live in ``chain_env`` (a unique module name:
several suites have a ``conftest`` module, and ``from conftest import`` would get whichever of
them was imported first when suites run together)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from chain_env import env  # noqa: F401  (the fixture)
