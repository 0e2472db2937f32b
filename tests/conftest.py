import shutil
from pathlib import Path

import pytest

pytest_plugins = ["trackerbridge.sandbox.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped project (connectors, mappings, trackerbridge.yaml) a test may change."""
    for part in ("connectors", "mappings"):
        shutil.copytree(ROOT / part, tmp_path / part)
    shutil.copy(ROOT / "trackerbridge.yaml", tmp_path / "trackerbridge.yaml")
    return tmp_path
