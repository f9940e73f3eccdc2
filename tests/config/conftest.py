"""Fixtures for the config tests: the Go reference programs and the reference CRD verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
from crd_reference import CrdReference
from go_reference import GoURL, build


@pytest.fixture(scope="session")
def go_url(tmp_path_factory: pytest.TempPathFactory) -> GoURL:
    return GoURL(build("gourl", tmp_path_factory.mktemp("gourl")))


@pytest.fixture(scope="session")
def gojsonpb_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("gojsonpb", tmp_path_factory.mktemp("gojsonpb"))


@pytest.fixture(scope="session")
def crd_reference(go_url: GoURL) -> CrdReference:
    return CrdReference(go_url)
