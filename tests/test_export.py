"""`recommend --all`: every shoe's k nearest in a CSV or JSON file, the same as single `recommend` calls."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from shoevae import Recommender
from shoevae.checkpoint import load_checkpoint
from shoevae.cli import main
from shoevae.export import neighbours_bytes

K = 4


@pytest.fixture
def rec(shapes_catalogue, shapes_checkpoint) -> Recommender:
    return Recommender(load_checkpoint(shapes_checkpoint)[0], shapes_catalogue)


def run_cli(shapes_dir, shapes_checkpoint, *extra: str) -> int:
    return main(["recommend", "--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint), *extra])


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOEVAE_CACHE", str(tmp_path / "cache"))


def test_csv_export_matches_single_recommend_calls(rec, shapes_dir, shapes_checkpoint, tmp_path, capsys):
    out = tmp_path / "neighbours.csv"
    assert run_cli(shapes_dir, shapes_checkpoint, "--all", "-k", str(K), "--out", str(out)) == 0
    assert f"120 shoes, {K} nearest each" in capsys.readouterr().out
    table = pd.read_csv(out, dtype={"item_id": str, "neighbour_id": str})
    assert list(table.columns) == ["item_id", "rank", "neighbour_id", "neighbour_category", "distance"]
    assert len(table) == 120 * K and table["item_id"].nunique() == 120
    for item_id, rows in table.groupby("item_id", sort=False):
        single = rec.similar(item_id, K)
        assert rows["rank"].tolist() == list(range(1, K + 1))
        assert rows["neighbour_id"].tolist() == [m.item_id for m in single], item_id
        assert rows["neighbour_category"].tolist() == [m.category for m in single]
        assert rows["distance"].tolist() == pytest.approx([m.distance for m in single], abs=1e-5)
        assert item_id not in rows["neighbour_id"].tolist()


def test_json_export_by_suffix_matches_single_calls(rec, shapes_dir, shapes_checkpoint, tmp_path):
    out = tmp_path / "neighbours.json"
    assert run_cli(shapes_dir, shapes_checkpoint, "--all", "-k", str(K), "--out", str(out)) == 0
    data = json.loads(out.read_text())
    assert list(data) == rec.catalogue.ids
    for item_id in rec.catalogue.ids[::7]:
        single = rec.similar(item_id, K)
        assert [n["item_id"] for n in data[item_id]] == [m.item_id for m in single]
        assert [n["distance"] for n in data[item_id]] == pytest.approx([m.distance for m in single], abs=1e-5)


def test_download_bytes_are_the_cli_file(rec, shapes_dir, shapes_checkpoint, tmp_path):
    out = tmp_path / "n.csv"
    assert run_cli(shapes_dir, shapes_checkpoint, "--all", "-k", str(K), "--out", str(out)) == 0
    assert neighbours_bytes(rec, K, "csv") == out.read_bytes()


def test_the_file_is_replaced_atomically(shapes_dir, shapes_checkpoint, tmp_path):
    out = tmp_path / "neighbours.csv"
    out.write_text("an older export\n")
    assert run_cli(shapes_dir, shapes_checkpoint, "--all", "-k", "2", "--out", str(out)) == 0
    assert out.read_text().startswith("item_id,rank,") and len(out.read_text().splitlines()) == 1 + 120 * 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("extra, message", [
    (["--all", "--out", "neighbours.txt"], "must end in .csv or .json"),
    (["--all"], "needs --out"),
    (["--all", "someitem", "--out", "n.csv"], "takes no item id"),
])
def test_bad_export_arguments_are_one_clear_line(shapes_dir, shapes_checkpoint, tmp_path, monkeypatch, capsys,
                                                 extra, message):
    monkeypatch.chdir(tmp_path)
    assert run_cli(shapes_dir, shapes_checkpoint, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shoevae: error: ") and message in err and "\n" not in err
    assert not list(tmp_path.glob("n*.*"))
