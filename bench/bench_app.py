"""Timings of app interactions, measured with Streamlit's AppTest after a warm-up (median and p95).

    python bench/bench_app.py                       # weights/style.pt or paper.pt, ../shared/data/zappos
    SHOEVAE_CHECKPOINT=weights/paper.pt python bench/bench_app.py --repeats 30
    python bench/bench_app.py --cold-start     # a fresh cache: Home at once, then when Recommend is usable
    python bench/bench_app.py --tsne           # the Latent map's first t-SNE of the 6,000 shoes shown

Each number is one script run, as the server does it for a click: the whole page for a pick or a page
switch. For the latent sliders the browser reruns only the @st.fragment around them; AppTest reruns
the whole page, so that number is an upper bound (the fragment alone is timed too). Not included:
the websocket round trip and the browser's drawing. Prints numbers; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]  # app.py and ../shared; the package comes from pip install -e .


def setup_env() -> None:
    """Defaults for the data and the checkpoint; a tiny model is trained when there is none."""
    shared = (ROOT / ".." / "shared" / "data" / "zappos").resolve()
    if not os.environ.get("SHOEVAE_DATA") and shared.is_dir():
        os.environ["SHOEVAE_DATA"] = str(shared)
    from shoevae.ui import session
    if session.default_checkpoint() is None:
        from shoevae import TrainConfig, load_catalogue, preset, train
        out = Path(tempfile.mkdtemp(prefix="shoevae-bench-")) / "tiny.pt"
        print(f"no checkpoint found: training a tiny one into {out} (the numbers are for that model)")
        train(preset("paper"), TrainConfig(epochs=1, limit=256), load_catalogue(os.environ["SHOEVAE_DATA"]), out=out)
        os.environ["SHOEVAE_CHECKPOINT"] = str(out)


def timed(fn: Callable[[int], None], repeats: int, warmup: int = 2) -> list[float]:
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(warmup + i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 2 else ms[0]
    print(f"{name:<42} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cold-start", action="store_true", help="time a first visit with an empty cache")
    parser.add_argument("--tsne", action="store_true", help="time the first t-SNE map of the shoes shown")
    args = parser.parse_args()
    if args.cold_start:
        os.environ["SHOEVAE_CACHE"] = tempfile.mkdtemp(prefix="shoevae-cold-")
    setup_env()
    if args.cold_start or args.tsne:
        return cold_start() if args.cold_start else first_tsne()
    from streamlit.testing.v1 import AppTest

    from shoevae.ui import session

    def app(page: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, at.exception
        return at

    t0 = time.perf_counter()
    rec_at = app("recommend")  # first load: photos, model, embeddings (from the disk cache if there)
    print(f"first load (photos, model, embeddings)     {time.perf_counter() - t0:7.1f} s")
    print(f"model: {rec_at.session_state[session.CHECKPOINT]['label']}")

    def pick(i: int) -> None:
        grid = [b for b in rec_at.button if (b.key or "").startswith("shoevae.grid.")]
        grid[i % len(grid)].click().run()
    report("Recommend: pick a shoe", timed(pick, args.repeats))

    gen_at = app("generate")

    def slide(i: int) -> None:
        sliders = [s for s in gen_at.slider if (s.key or "").startswith("shoevae.gen.dir.")]  # named directions
        s = sliders[i % len(sliders)]
        s.set_value(s.min + (s.max - s.min) * ((i * 37) % 100) / 100).run()
    report("Generate: move a direction slider (full page)", timed(slide, args.repeats))

    report("Generate: decode one vector (the fragment's work)", _decode_only(args.repeats))

    nav_at = app("home")
    pages = ["recommend", "reconstruct", "generate", "latent_map", "evaluate", "train", "home"]

    def switch(i: int) -> None:
        nav_at.switch_page(f"pages/{pages[i % len(pages)]}.py").run()
    # every page once first: the target is "after the first load" (a page's first visit builds its caches)
    report("switch page (cycling all pages)", timed(switch, args.repeats, warmup=len(pages)))

    map_at = app("latent_map")
    ids = [b.key.removeprefix("shoevae.grid.") for b in rec_at.button if (b.key or "").startswith("shoevae.grid.")]

    def select(i: int) -> None:
        # what the map's on_select callback does, then the page rerun that shows the shoe and its neighbours
        map_at.session_state[session.PICK] = ids[i % len(ids)]
        map_at.run()
    report("Latent map: select a point", timed(select, args.repeats))


def cold_start() -> None:
    """A first visit with an empty cache, as the browser sees it: Home, rerun every 0.5 s by the
    progress fragment, until the embeddings are ready; then Recommend."""
    from streamlit.testing.v1 import AppTest
    print(f"empty cache {os.environ['SHOEVAE_CACHE']}; photos {os.environ.get('SHOEVAE_DATA')}")
    t0 = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    bars = [b.proto.text for b in at.get("progress")]
    print(f"Home drawn after {time.perf_counter() - t0:5.1f} s, progress bar: {bars[0] if bars else 'none'}")
    from shoevae.ui import background
    seen = set()
    while at.get("progress"):
        for b in at.get("progress"):
            phase = b.proto.text.split(" · ")[0]
            if phase not in seen:
                seen.add(phase)
                print(f"  {time.perf_counter() - t0:5.1f} s  {phase}")
        time.sleep(background.POLL_S)  # as often as the page's progress fragment reruns in a browser
        at.run()
    assert not at.exception, at.exception
    for task in background.registry()._tasks.values():
        st = task.status()
        print(f"  task {st.label!r}: {st.state} in {st.elapsed:.1f} s")
    at.switch_page("pages/recommend.py").run()
    assert [b for b in at.button if (b.key or "").startswith("shoevae.grid.")], "Recommend shows no shoes"
    print(f"Recommend usable after {time.perf_counter() - t0:5.1f} s (from the first request)")


def first_tsne(shown: int = 6000) -> None:
    """The Latent map's first t-SNE: the page's own path (background task, progress), warm photo and
    embedding caches, a projection cache that cannot have the map yet (a fresh folder)."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.switch_page("pages/latent_map.py").run()
    from shoevae.ui import resources
    resources.cache_dir = lambda: Path(tempfile.mkdtemp(prefix="shoevae-tsne-"))  # no map cached yet
    at.slider(key="shoevae.map.shown").set_value(shown)
    t0 = time.perf_counter()
    at.segmented_control(key="shoevae.map.method").set_value("t-SNE").run()
    while not at.get("vega_lite_chart"):
        time.sleep(0.5)
        at.run()
    print(f"first t-SNE map of {shown:,} shoes: {time.perf_counter() - t0:.1f} s (page shown with a progress bar "
          f"meanwhile; {len(at.get('vega_lite_chart'))} chart)")


def _decode_only(repeats: int) -> list[float]:
    """Time Recommender.decode of one latent vector, the work a slider move triggers."""

    from shoevae import load_catalogue
    from shoevae.checkpoint import load_checkpoint
    from shoevae.config import PHOTO_SIZE
    from shoevae.recommend import Recommender
    from shoevae.ui.session import default_checkpoint, resolve
    model, _ = load_checkpoint(default_checkpoint())
    cat = load_catalogue(resolve(os.environ["SHOEVAE_DATA"]), PHOTO_SIZE)
    rec = Recommender(model, cat.subset(range(8)))
    z = rec.embeddings[0].copy()

    def once(i: int) -> None:
        z[0] = i % 7 * 0.3
        rec.decode(z[None])
    return timed(once, repeats)


if __name__ == "__main__":
    main()
