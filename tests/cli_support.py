"""What the command-line tests share: each test in its own folder with its own cache, `main` with the output
of earlier commands cleared, and the one line a user error must end in."""
from __future__ import annotations

import os

import pytest

from shoevae import cli

_capture: list[pytest.CaptureFixture] = []


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch, capsys):
    """Each test runs in its own folder (runs/ and weights/ land there) with its own cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOEVAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SHOEVAE_WEIGHTS", raising=False)
    _capture[:] = [capsys]


def main(argv: list[str | os.PathLike]) -> int:
    """cli.main, with what earlier commands printed cleared, so each check sees one command's output."""
    _capture[0].readouterr()
    return cli.main([str(a) for a in argv])


def one_error_line(*fragments: str) -> str:
    """The one error line (progress bars of work done before the mistake, and the blank line a closed bar
    leaves, aside), holding every fragment."""
    err = "\n".join(line for line in _capture[0].readouterr().err.splitlines() if line.strip() and "%|" not in line)
    assert len(err.splitlines()) == 1 and err.startswith("shoevae: error: "), err
    for f in fragments:
        assert f in err, err
    return err
