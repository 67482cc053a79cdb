"""Shared fixtures, in two tiers.

Fast tier (needs nothing beside the checkout): `shapes_dir`, a synthetic catalogue of coloured shapes
(tests/synthetic.py), `shapes_catalogue` and `shapes_checkpoint`, a tiny model trained on it once.

Shared tier (marked `shared`, automatically for every test using `zappos_dir` or `app_env`, or whose
function or fixtures call tests/shoe_data.py's `write_manifest` or read its `SHARED_DATA`): the real
13.5K-shoe sample in ../shared (SHOEVAE_SHARED_DATA points elsewhere). Where it is missing these tests
are skipped with the reason, except in CI (CI=true or SHOEVAE_REQUIRE_SHARED=1), where that is a failure.
`python -m pytest -q -m "not shared"` runs the fast tier alone.

`shapes_app_env` points the app at the shapes and the tiny shapes checkpoint, for app tests that need
no real photos (fast tier).

`app_env` points the app at the real photos through environment variables (SHOEVAE_DATA,
SHOEVAE_CHECKPOINT, SHOEVAE_CACHE, SHOEVAE_WEIGHTS), all under one temporary folder per test
session, so nothing is written into the repository or ~/.cache.
"""
from __future__ import annotations

import os
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from shoe_data import SHARED_DATA
from synthetic import make_shoes

ROOT = Path(__file__).resolve().parents[1]
SHARED_ZAPPOS = SHARED_DATA.resolve()  # CI: ../shared beside the clone; SHOEVAE_SHARED_DATA overrides
SHARED_FIXTURES = {"zappos_dir", "app_env"}
SHARED_NAMES = {"write_manifest", "SHARED_DATA"}  # tests/shoe_data.py: real photos cut from ../shared


def require_shared() -> bool:
    """In CI the shared photos must be there: a missing folder fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("SHOEVAE_REQUIRE_SHARED") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared: needs the real photos in ../shared (skipped without them, "
                                       "except in CI)")


def _global_names(code: types.CodeType) -> set[str]:
    """Global names a function's code (and the lambdas and functions nested in it) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def uses_shared_photos(item: pytest.Item) -> bool:
    """Whether a test, or a fixture it uses, needs the real photos of ../shared."""
    if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    funcs: list[Callable] = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        funcs += [d.func for d in defs]
    return any(SHARED_NAMES & _global_names(f.__code__) for f in funcs if hasattr(f, "__code__"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_shared_photos(item):
            item.add_marker(pytest.mark.shared)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture (a module-wide one may already read ../shared): skip, or in CI fail, without it."""
    if item.get_closest_marker("shared") and not (SHARED_ZAPPOS / "manifest.csv").is_file():
        reason = (f"the shoe sample is missing: expected {SHARED_ZAPPOS}/manifest.csv "
                  "(../shared beside the repo, or SHOEVAE_SHARED_DATA)")
        if require_shared():
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def no_warmup_unless_asked():
    """The app's background warm-up (shoevae/ui/warmup.py) is off in tests: its threads would outlive a
    test and compete with the next ones. tests/test_warmup.py switches it on for itself."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOEVAE_WARMUP", os.environ.get("SHOEVAE_WARMUP", "0"))
        yield


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


@pytest.fixture(scope="session")
def shapes_app_paths(shapes_dir: Path, shapes_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The app's folders on the shapes: photos, cache, weights (holding a copy of the shapes model)."""
    base = tmp_path_factory.mktemp("shoevae-shapes")
    paths = {"data": shapes_dir, "cache": base / "cache", "weights": base / "weights"}
    paths["weights"].mkdir()
    paths["checkpoint"] = paths["weights"] / "shapes.pt"
    paths["checkpoint"].write_bytes(shapes_checkpoint.read_bytes())
    paths["env"] = {"SHOEVAE_DATA": str(paths["data"]), "SHOEVAE_CACHE": str(paths["cache"]),
                    "SHOEVAE_WEIGHTS": str(paths["weights"]), "SHOEVAE_CHECKPOINT": str(paths["checkpoint"])}
    return paths


@pytest.fixture
def shapes_app_env(shapes_app_paths: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Environment for the app on the shapes (fast tier): the 120 synthetic photos and the tiny shapes model.

    Like `app_env` (a dict of data, cache, weights, checkpoint, env), but os.environ holds them for one
    test only, so it never leaks into tests on the real photos (whose session-wide `app_env` it masks).
    The Train page saves into the `weights` folder, next to shapes.pt.
    """
    for k, v in shapes_app_paths["env"].items():
        monkeypatch.setenv(k, v)
    return shapes_app_paths
