"""Shared fixtures, in two tiers.

Fast tier (needs nothing beside the checkout): `shapes_dir`, a synthetic catalogue of coloured shapes
(tests/synthetic.py), `shapes_catalogue` and `shapes_checkpoint`, a tiny model trained on it once.

Shared tier (marked `shared`, automatically for every test using `zappos_dir` or `app_env`): the real
13.5K-shoe sample in ../shared. Where ../shared is missing these tests are skipped with the reason,
except in CI (CI=true or SHOEVAE_REQUIRE_SHARED=1), where that is a failure.
`python -m pytest -q -m "not shared"` runs the fast tier alone.

`app_env` points the app at the real photos through environment variables (SHOEVAE_DATA,
SHOEVAE_CHECKPOINT, SHOEVAE_CACHE, SHOEVAE_WEIGHTS), all under one temporary folder per test
session, so nothing is written into the repository or ~/.cache.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetic import make_shoes

ROOT = Path(__file__).resolve().parents[1]
SHARED_ZAPPOS = (ROOT / ".." / "shared" / "data" / "zappos").resolve()  # CI: ../shared beside the clone
SHARED_FIXTURES = {"zappos_dir", "app_env"}


def require_shared() -> bool:
    """In CI the shared photos must be there: a missing folder fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("SHOEVAE_REQUIRE_SHARED") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared: needs the real photos in ../shared (skipped without them, "
                                       "except in CI)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)


@pytest.fixture(autouse=True)
def _shared_data_present(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("shared") and not (SHARED_ZAPPOS / "manifest.csv").is_file():
        reason = f"the shoe sample is missing: expected {SHARED_ZAPPOS}/manifest.csv (../shared beside the repo)"
        if require_shared():
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def zappos_dir() -> Path:
    if not (SHARED_ZAPPOS / "manifest.csv").is_file():
        pytest.fail(f"the shoe sample is missing: expected {SHARED_ZAPPOS}/manifest.csv (../shared beside the repo)")
    return SHARED_ZAPPOS


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 synthetic photos (40 per category) in <category>/ folders; made once per test session."""
    return make_shoes(tmp_path_factory.mktemp("shapes"), per_category=40)


@pytest.fixture(scope="session")
def shapes_catalogue(shapes_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The synthetic photos decoded at 136 px (the app's size), cached in a temporary folder."""
    from shoevae import load_catalogue
    return load_catalogue(shapes_dir, 136, cache_dir=tmp_path_factory.mktemp("shapes-cache"))


@pytest.fixture(scope="session")
def shapes_checkpoint(shapes_catalogue, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model (the report's layers at 64 px, 16 latent dims), 2 epochs on the shapes: about a second."""
    from shoevae import TrainConfig, preset, train
    out = tmp_path_factory.mktemp("shapes-weights") / "shapes.pt"
    train(preset("paper", image_size=64, latent_dim=16), TrainConfig(epochs=2, batch_size=32), shapes_catalogue,
          out=out)
    return out


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
