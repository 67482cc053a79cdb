"""The code passes the ruff configuration in pyproject.toml (ruff is a dev dependency)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_shared

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    if shutil.which("ruff") is None and not require_shared():  # CI installs the dev extras: there it must run
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
