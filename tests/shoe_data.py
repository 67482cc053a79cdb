"""Small real catalogues cut (as manifests, never copies) from the shared Zappos sample."""
from __future__ import annotations

import csv
import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("SHOEVAE_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data" / "zappos"))


def write_manifest(dest: Path, per_category: int, offset: int = 0) -> Path:
    """A manifest CSV in `dest` listing `per_category` shared images of each category, linked into `dest`
    (a manifest reads only paths inside its folder: a link there is how photos kept elsewhere are listed)."""
    with open(SHARED_DATA / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    picked: dict[str, list[dict]] = {}
    for r in rows:
        picked.setdefault(r["category"], []).append(r)
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "manifest.csv"
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "path", "category"])
        for cat, items in sorted(picked.items()):
            for r in items[offset:offset + per_category]:
                link = dest / r["path"]
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.is_symlink():
                    link.symlink_to((SHARED_DATA / r["path"]).resolve())
                w.writerow([r["item_id"], r["path"], cat])
    return out
