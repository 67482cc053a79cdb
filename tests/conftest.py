"""Shared fixtures: the real 13.5K-shoe sample beside the repo, and a tiny checkpoint trained once.

`app_env` points the app at them through environment variables (SHOEVAE_DATA, SHOEVAE_CHECKPOINT,
SHOEVAE_CACHE, SHOEVAE_WEIGHTS), all under one temporary folder per test session, so nothing is
written into the repository or ~/.cache.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ZAPPOS = (ROOT / ".." / "shared" / "data" / "zappos").resolve()  # CI: ../shared beside the clone


@pytest.fixture(scope="session")
def zappos_dir() -> Path:
    if not (SHARED_ZAPPOS / "manifest.csv").is_file():
        pytest.fail(f"the shoe sample is missing: expected {SHARED_ZAPPOS}/manifest.csv (../shared beside the repo)")
    return SHARED_ZAPPOS


@pytest.fixture(scope="session")
def app_env(tmp_path_factory: pytest.TempPathFactory, zappos_dir: Path):
    """Environment for the app: real photos, a tiny trained checkpoint, a per-session cache and weights dir.

    Yields a dict of the paths (data, cache, weights, checkpoint); os.environ holds them meanwhile.
    """
    from shoevae import TrainConfig, load_catalogue, preset, train

    base = tmp_path_factory.mktemp("shoevae")
    paths = {"data": zappos_dir, "cache": base / "cache", "weights": base / "weights"}
    paths["checkpoint"] = paths["weights"] / "tiny.pt"
    env = {"SHOEVAE_DATA": str(paths["data"]), "SHOEVAE_CACHE": str(paths["cache"]),
           "SHOEVAE_WEIGHTS": str(paths["weights"]), "SHOEVAE_CHECKPOINT": str(paths["checkpoint"])}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        cat = load_catalogue(zappos_dir, 136)  # decoded into the session cache (~15 s), shared by the app
        # the report's net, one epoch on 256 photos: seconds on a CPU, and enough to embed and decode
        train(preset("paper"), TrainConfig(epochs=1, limit=256, batch_size=64), cat, out=paths["checkpoint"])
        yield {**paths, "env": env}
