"""The declarative test files next to this one (examples of ``wasmplugin test`` on the repository's
plugins) pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmplugin.cli.main import main

FILES = sorted((Path(__file__).parent / "declarative").glob("*.test.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_declarative_file_passes(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", str(path)])

    out = capsys.readouterr().out
    assert code == 0, out
    assert " 0 failed" in out
