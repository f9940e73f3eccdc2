"""Where the project's reference material lives: the ``shared/`` folder beside the repository.

The CRD schema and the seed blog are not copied into the repository; the tests read them from
``../shared`` as the issues place them. A clone made elsewhere (``git clone . $(mktemp -d)``)
finds them through its ``origin`` when that is a local path; ``WASMPLUGIN_SHARED`` overrides both.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _candidates() -> list[Path]:
    found: list[Path] = []
    if env := os.environ.get("WASMPLUGIN_SHARED"):
        found.append(Path(env))
    found.append(REPO.parent / "shared")
    origin = subprocess.run(
        ["git", "-C", str(REPO), "remote", "get-url", "origin"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if origin.startswith("/") or origin.startswith("file://"):
        found.append(Path(origin.removeprefix("file://")).resolve().parent / "shared")
    return found


def shared_file(relative: str) -> Path:
    """``shared/<relative>``, from the first place that has it; one clear error when none does."""
    places = _candidates()
    for base in places:
        if (base / relative).is_file():
            return base / relative
    tried = ", ".join(str(p / relative) for p in places)
    raise FileNotFoundError(
        f"reference material shared/{relative} not found (tried {tried}; set WASMPLUGIN_SHARED)"
    )
