"""Start-up and first-use waits in a real browser: what a presenter sees on a freshly started server.

    flock /tmp/shoevae-bench.lock python bench/bench_startup.py                 # all phases (about 6 minutes here)
    flock /tmp/shoevae-bench.lock python bench/bench_startup.py --phases cold warm

Phases (each starts its own `streamlit run app.py` on --port and stops it):
  floor   the same measurement on a bare Streamlit app (a title and one "Similar shoes" button): what Streamlit
          and chromium take on this machine whatever the app does; the other phases are also given as multiples;
  cold    empty SHOEVAE_CACHE (a fresh temporary folder): server start to the first "Similar shoes"
          button on Recommend, then to its five neighbours after a click;
  warm    the same with the caches the cold phase filled (a restart);
  after   warm caches, background warm-up on: wait for the sidebar's "Ready", then time the first use
          of each slow thing (pixel-baseline toggle, human judgements, Evaluate on all shoes, t-SNE map);
  before  the same first uses on a server started with SHOEVAE_WARMUP=0 and no t-SNE map on disk.
Each line ends with the 1-minute load average (other jobs share this machine's cores). Needs Debian's
chromium and playwright; photos from SHOEVAE_DATA or ../shared/data/zappos. Prints numbers; asserts nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NEIGHBOUR = re.compile(r"^#[1-5] (Boot|Sandal|Shoe) · d=")
LONG_MS = 600_000


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


@contextlib.contextmanager
def server(port: int, env: dict[str, str], log: Path, script: Path = ROOT / "app.py") -> Iterator[tuple[str, float]]:
    """(url, start time): `streamlit run SCRIPT` started now; stopped on exit."""
    cmd = [sys.executable, "-m", "streamlit", "run", script.name, "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=script.parent, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            if proc.poll() is not None:
                sys.exit(f"streamlit exited with {proc.returncode}: see {log}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
            time.sleep(0.1)
        yield url, t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


FLOOR_APP = 'import streamlit as st\nst.title("Recommend")\nst.button("Similar shoes")\n'


def floor(page: Page, url: str, t0: float) -> float:
    """Seconds from server start to the bare app's button."""
    page.goto(f"{url}/")
    expect(page.get_by_role("button", name="Similar shoes")).to_be_visible(timeout=LONG_MS)
    return time.perf_counter() - t0


def to_recommend(page: Page, url: str, t0: float) -> tuple[float, float]:
    """(seconds from server start to the first "Similar shoes" button, to the neighbours after clicking it)."""
    page.goto(f"{url}/recommend")
    button = page.get_by_role("button", name="Similar shoes").first
    expect(button).to_be_visible(timeout=LONG_MS)
    usable = time.perf_counter() - t0
    button.click()
    expect(page.get_by_text(NEIGHBOUR)).to_have_count(5, timeout=LONG_MS)
    return usable, time.perf_counter() - t0


def go(page: Page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).first.click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=LONG_MS)
    page.wait_for_timeout(1500)  # let the page finish its run before the timed click


def timed(what: str, page: Page, click, done) -> None:
    t = time.perf_counter()
    click()
    expect(done()).to_be_visible(timeout=LONG_MS)
    print(f"  {what:<44} {time.perf_counter() - t:6.1f} s   ({load()})", flush=True)


def first_uses(page: Page) -> None:
    """The first use of each slow thing, in one browser session (Recommend already shows a pick)."""
    timed("pixel-baseline toggle -> its neighbours", page,
          lambda: page.get_by_text("Compare with the pixel baseline").click(),
          lambda: page.get_by_text(re.compile(r"^PCA of pixels \(")).first)
    go(page, "Evaluate")
    timed("Score human judgements -> table", page,
          lambda: page.get_by_role("button", name="Score human judgements").click(),
          lambda: page.locator("[data-testid=stDataFrame]").first)
    timed("Evaluate (all shoes) -> table", page,
          lambda: page.get_by_role("button", name="Evaluate", exact=True).click(),
          lambda: page.get_by_text(re.compile(r"^On all [\d,]+ shoes loaded")))
    go(page, "Latent map")
    timed("t-SNE (default shoes shown) -> map", page,
          lambda: page.get_by_text("t-SNE", exact=True).click(),  # a segmented-control option
          lambda: page.get_by_text(re.compile(r"^t-SNE map of [\d,]+ shoes$")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phases", nargs="+", default=["floor", "cold", "warm", "after", "before"],
                    choices=["floor", "cold", "warm", "after", "before"])
    ap.add_argument("--port", type=int, default=8519)
    ap.add_argument("--cache", help="cache folder to use (default: a fresh temporary one, removed at the end)")
    args = ap.parse_args()
    data = os.environ.get("SHOEVAE_DATA") or str((ROOT / ".." / "shared" / "data" / "zappos").resolve())
    cache = Path(args.cache or tempfile.mkdtemp(prefix="shoevae-startup-"))
    env = {"SHOEVAE_DATA": data, "SHOEVAE_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    log = Path(tempfile.gettempdir()) / f"bench_startup-{args.port}.log"
    print(f"photos {data}; cache {cache}; server log {log}; {os.cpu_count()} cores")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            base = None  # the floor phase's seconds
            for phase in args.phases:
                if phase == "floor":
                    script = Path(tempfile.mkdtemp(prefix="shoevae-floor-")) / "app.py"  # not in the cache: cold stays empty
                    script.write_text(FLOOR_APP)
                    with server(args.port, env, log, script) as (url, t0):
                        page = browser.new_page(viewport={"width": 1280, "height": 800})
                        base = floor(page, url, t0)
                        print(f" floor: server start -> a bare app's 'Similar shoes' button {base:5.1f} s   ({load()})",
                              flush=True)
                        page.close()
                    shutil.rmtree(script.parent, ignore_errors=True)
                    continue
                phase_env = dict(env)
                if phase == "before":
                    phase_env["SHOEVAE_WARMUP"] = "0"
                    for f in cache.glob("projection-tsne-*"):
                        f.unlink()
                with server(args.port, phase_env, log) as (url, t0):
                    page = browser.new_page(viewport={"width": 1280, "height": 800})
                    usable, answered = to_recommend(page, url, t0)
                    times = f" ({usable / base:.1f}x the floor)" if base else ""
                    print(f"{phase:>6}: server start -> first 'Similar shoes' button {usable:5.1f} s{times}, "
                          f"-> its 5 neighbours {answered:5.1f} s   ({load()})", flush=True)
                    if phase == "after":
                        t = time.perf_counter()
                        expect(page.get_by_text(re.compile(r"^Ready"))).to_be_visible(timeout=3 * LONG_MS)
                        print(f"        warm-up finished {time.perf_counter() - t0:5.1f} s after server start "
                              f"(waited {time.perf_counter() - t:.1f} s more)", flush=True)
                    if phase in ("after", "before"):
                        first_uses(page)
                    page.close()
            browser.close()
    finally:
        if not args.cache:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
