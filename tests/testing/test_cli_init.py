"""``wasmplugin init``: what a new project contains, and the errors a user can make. (Building the
generated projects is test_walkthrough.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wasmplugin.cli.init import create_project
from wasmplugin.cli.main import main
from wasmplugin.errors import UsageError
from wasmplugin.testing.testfile import load_test_file

EXPECTED = {
    "rust": {"Cargo.toml", "src/lib.rs", "build.sh"},
    "go": {"go.mod", "go.sum", "main.go", "build.sh"},
    "assemblyscript": {
        "package.json",
        "assembly/index.ts",
        "assembly/settings.ts",
        "assembly/tsconfig.json",
        "build.sh",
    },
}
COMMON = {"README.md", "wasmplugin.yaml", "tests/test_plugin.py", "tests/plugin.test.yaml", ".gitignore"}


@pytest.mark.parametrize("lang", sorted(EXPECTED))
def test_a_project_has_sources_a_resource_and_tests(tmp_path: Path, lang: str) -> None:
    project = create_project("my-filter", lang, tmp_path / "my-filter")

    files = {str(p.relative_to(project.directory)) for p in project.files}
    assert files == EXPECTED[lang] | COMMON
    assert (project.directory / "build.sh").stat().st_mode & 0o111
    text = "".join(p.read_text() for p in project.files)
    assert "__NAME__" not in text and "__CRATE__" not in text
    assert "my-filter: " in (project.directory / "tests/plugin.test.yaml").read_text()
    # The resource is valid for wasmplugin's own validator and names the plugin.
    doc = yaml.safe_load((project.directory / "wasmplugin.yaml").read_text())
    assert doc["metadata"]["name"] == "my-filter"
    assert doc["spec"]["url"] == "file://plugin.wasm"
    assert main(["validate", "-f", str(project.directory / "wasmplugin.yaml")]) == 0
    # The declarative file parses.
    assert len(load_test_file(project.directory / "tests/plugin.test.yaml").cases) == 2


def test_rust_library_name_uses_underscores(tmp_path: Path) -> None:
    project = create_project("my-filter", "rust", tmp_path / "p")
    assert "target/$target/release/my_filter.wasm" in (project.directory / "build.sh").read_text()


@pytest.mark.parametrize("name", ["My-Plugin", "1abc", "has_underscore", "trailing-", "x" * 64, ""])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="use lower-case letters, digits and '-'"):
        create_project(name, "go", tmp_path / "p")


def test_an_existing_directory_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")

    code = main(["init", "--lang", "go", "taken", "--dir", str(tmp_path / "taken")])

    assert code == 2
    assert "already exists and is not an empty directory" in capsys.readouterr().err
    assert (tmp_path / "taken" / "file").read_text() == "mine"


def test_the_command_prints_the_next_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["init", "--lang", "as", "edge-auth", "--dir", str(tmp_path / "edge-auth")])

    out = capsys.readouterr().out
    assert code == 0
    assert "AssemblyScript 0.14.9" in out
    assert "./build.sh" in out and "pytest tests/" in out
