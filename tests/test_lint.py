"""The tools a maintainer relies on, enforced: ruff's lint and format, mypy on src/ (configs in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    # next to this interpreter first: README's `.venv/bin/pytest` runs without the venv on the PATH
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is part of the test extra; install with pip install -e '.[test]'"
    return found


def test_ruff_is_clean() -> None:
    result = subprocess.run([tool("ruff"), "check", "src", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    result = subprocess.run(
        [tool("ruff"), "format", "--check", "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_no_errors_in_src() -> None:
    # [tool.mypy] in pyproject.toml names the files and the settings; the cache stays out of the tree
    result = subprocess.run(
        [tool("mypy"), "--cache-dir", str(ROOT / "build" / "mypy-cache")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
