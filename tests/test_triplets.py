"""Triplet agreement: hand-checked scores on tiny feature sets, both metrics, ties, the loader and its refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shoevae import triplets as T
from shoevae.cli import main


def make_folder(root: Path, rows: list[tuple[int, int, int]], colours: dict[int, tuple[int, int, int]]) -> Path:
    """A triplets folder: 136x102 photos, a centred rectangle of the given colour on white."""
    (root / "images").mkdir(parents=True)
    for n, rgb in colours.items():
        im = np.full((102, 136, 3), 255, np.uint8)
        im[30:70, 20 + n * 5:100] = rgb
        Image.fromarray(im).save(root / "images" / f"{n}.jpg", quality=95)
    (root / "triplets.csv").write_text("head,close,far\n" + "".join(f"{h},{c},{f}\n" for h, c, f in rows))
    return root


def rows(*r: tuple[int, int, int]) -> T.Triplets:
    n = max(max(x) for x in r) + 1
    return T.Triplets([str(i) for i in range(n)], np.zeros((n, 1, 1, 3), np.uint8), np.zeros((n, 1, 1, 3), np.uint8),
                      np.array(r))


def test_agreement_by_hand_with_ties_wrong():
    x = np.array([[0.0], [1.0], [3.0], [-1.0]])
    t = rows((0, 1, 2), (0, 2, 1), (0, 1, 3))  # right; wrong; a tie (|0-1| == |0-(-1)|) counts as wrong
    assert T.agreement(x, t, "euclidean") == pytest.approx(1 / 3)


def test_cosine_compares_directions_euclidean_positions():
    x = np.array([[1.0, 0.0], [10.0, 0.5], [0.9, 0.9]])
    t = rows((0, 1, 2))
    assert T.agreement(x, t, "cosine") == 1.0  # (10, 0.5) points almost the same way as (1, 0)
    assert T.agreement(x, t, "euclidean") == 0.0  # but lies far away


def test_loader_reads_the_named_photos_and_scores_baselines(tmp_path):
    colours = {0: (200, 30, 30), 1: (190, 40, 40), 2: (20, 20, 200), 3: (30, 30, 190)}
    folder = make_folder(tmp_path / "t", [(0, 1, 2), (2, 3, 0), (1, 0, 3)], colours)
    t = T.load_triplets(folder, size=64)
    assert t.names == ["0", "1", "2", "3"] and t.images.shape == (4, 64, 64, 3)
    assert t.thumbs.shape == (4, 26, 34, 3) and t.rows.tolist() == [[0, 1, 2], [2, 3, 0], [1, 0, 3]]
    sil = T.silhouette_features(t)
    assert set(np.unique(sil)) == {0.0, 1.0} and sil.shape == (4, 26 * 34)
    table = T.agreement_table(T.baseline_features(t), t)
    assert table["RGB pixels 34x26"]["triplet agreement, euclidean"] == 1.0  # same colour is nearer


def test_loader_refuses_unusable_folders(tmp_path):
    with pytest.raises(T.TripletsError, match="no triplets.csv"):
        T.load_triplets(tmp_path)
    (tmp_path / "triplets.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(T.TripletsError, match="columns head, close, far"):
        T.load_triplets(tmp_path)
    (tmp_path / "triplets.csv").write_text("head,close,far\n1,2,3\n")
    with pytest.raises(T.TripletsError, match="1.jpg"):
        T.load_triplets(tmp_path)


def test_cli_evaluate_reports_triplet_agreement(tmp_path, shapes_dir, shapes_checkpoint, capsys, monkeypatch):
    monkeypatch.setenv("SHOEVAE_CACHE", str(tmp_path / "cache"))
    folder = make_folder(tmp_path / "t", [(0, 1, 2), (2, 3, 0)], {0: (200, 30, 30), 1: (190, 40, 40),
                                                                  2: (20, 20, 200), 3: (30, 30, 190)})
    assert main(["evaluate", "--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint),
                 "--triplets", str(folder), "--baselines"]) == 0
    out = capsys.readouterr().out
    assert "triplets: silhouette 34x26" in out and out.count("triplet agreement, cosine") >= 4
    assert main(["evaluate", "--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint),
                 "--triplets", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("shoevae: error: no triplets.csv")


def test_evaluate_page_scores_human_judgements(tmp_path, shapes_dir, shapes_checkpoint, monkeypatch):
    import torch
    from streamlit.testing.v1 import AppTest
    threads = torch.get_num_threads()
    folder = make_folder(tmp_path / "t", [(0, 1, 2), (2, 3, 0)], {0: (200, 30, 30), 1: (190, 40, 40),
                                                                  2: (20, 20, 200), 3: (30, 30, 190)})
    for k, v in {"SHOEVAE_DATA": shapes_dir, "SHOEVAE_CHECKPOINT": shapes_checkpoint, "SHOEVAE_TRIPLETS": folder,
                 "SHOEVAE_CACHE": tmp_path / "cache", "SHOEVAE_WEIGHTS": tmp_path / "weights"}.items():
        monkeypatch.setenv(k, str(v))
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
        at.switch_page("pages/evaluate.py").run()
        assert not at.exception, at.exception
        assert not at.dataframe, "nothing is computed before the button"
        at.button(key="shoevae.eval.triplets").click().run()
        assert not at.exception and not at.error, (at.exception, at.error)
        df = at.dataframe[-1].value
        assert {"RGB pixels 34x26", "silhouette 34x26", "PCA of pixels (100 dims)"} <= set(df.index)
        assert df.loc["RGB pixels 34x26", "triplet agreement, euclidean"] == 1.0
        monkeypatch.setenv("SHOEVAE_TRIPLETS", str(tmp_path / "nowhere"))
        at.run()
        assert any("No human judgements" in i.value for i in at.info)
    finally:
        torch.set_num_threads(threads)


def test_the_bootstrap_interval_resamples_photos_not_rows():
    """Photo 0 as head: always right; photo 1 as head: always wrong. Rows are many, photos two: the interval
    spans most of [0, 1], where a per-row binomial interval would be a point. A perfect embedding: (1, 1)."""
    t = rows(*([(0, 2, 3)] * 50 + [(1, 3, 2)] * 50))
    x = np.array([[0.0], [10.0], [1.0], [5.0]])  # 2 is near 0; 1 is nearest to 3, so (1, 3, 2) is right too
    assert T.agreement(x, t, "euclidean") == 1.0 and T.agreement_interval(x, t, "euclidean") == (1.0, 1.0)
    y = np.array([[0.0], [3.0], [1.0], [9.0]])  # head 1 is nearer 2 (far) than 3 (close): those 50 are wrong
    assert T.agreement(y, t, "euclidean") == 0.5
    low, high = T.agreement_interval(y, t, "euclidean")
    assert low == 0.0 and high == 1.0  # two photos: a resample can hold either one twice
