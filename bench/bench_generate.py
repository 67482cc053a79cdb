"""How fast the Generate page answers each interaction after its first load (AppTest, in-process).

    PYTHONPATH=. SHOEVAE_DATA=../shared/data/zappos flock /tmp/shoevae-bench.lock python bench/bench_generate.py

Opens Generate with the shipped checkpoint (weights/style.pt, or $SHOEVAE_CHECKPOINT), then moves
each control several times and prints the median and worst wall time of a rerun. AppTest reruns the
whole page script (a browser reruns only the fragment the widget is in), so these are upper bounds
for the server's share; the browser adds the transfer and drawing.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def timed(action) -> float:
    t = time.perf_counter()
    action()
    return time.perf_counter() - t


def main() -> None:
    os.environ.setdefault("SHOEVAE_CHECKPOINT", str(ROOT / "weights" / "style.pt"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900).run()
    at.switch_page("pages/generate.py")
    first = timed(at.run)
    assert not at.exception, at.exception
    print(f"first load of Generate: {first:.1f} s (a fresh process: photos, embeddings and the mixture come from the "
          "disk cache when there)")
    steps = {
        "temperature": [lambda v=v: at.slider(key="shoevae.gen.temp").set_value(v).run() for v in (1.2, 0.7, 1.6, 0.9, 1.1)],
        "seed": [lambda v=v: at.number_input(key="shoevae.gen.seed").set_value(v).run() for v in (1, 2, 3, 4, 5)],
        "sampler": [lambda v=v: at.segmented_control(key="shoevae.gen.sampler").set_value(v).run()
                    for v in ("normal", "mixture", "normal", "mixture")],
        "direction slider": [lambda v=v: next(s for s in at.slider if (s.key or "").startswith("shoevae.gen.dir."))
                             .set_value(v).run() for v in (1.0, -1.5, 2.0, 0.5, -2.0)],
        "start from": [lambda v=v: at.segmented_control(key="shoevae.gen.start").set_value(v).run()
                       for v in ("Average shoe", "Picked shoe", "Average shoe", "Picked shoe")],
        "slider kind": [lambda v=v: at.segmented_control(key="shoevae.gen.mode").set_value(v).run()
                        for v in ("Categories", "Raw coordinates", "Principal directions")],
        "blend": [lambda v=v: at.segmented_control(key="shoevae.gen.blend").set_value(v).run()
                  for v in ("spherical", "linear", "spherical")],
        "blend steps": [lambda v=v: at.slider(key="shoevae.gen.steps").set_value(v).run() for v in (6, 9, 8)],
    }
    print(f"{'control':<18} {'median ms':>10} {'worst ms':>9}  (each value new, so the first of each is uncached)")
    for name, actions in steps.items():
        times = [timed(a) * 1000 for a in actions]
        assert not at.exception, at.exception
        print(f"{name:<18} {statistics.median(times):>10.0f} {max(times):>9.0f}")


if __name__ == "__main__":
    main()
