"""Generate in a real browser: time from a temperature step to the first sample redrawn.

    SHOEVAE_DATA=../shared/data/zappos streamlit run app.py --server.headless true --server.port 8537 &
    flock /tmp/shoevae-bench.lock python bench/bench_generate_browser.py http://127.0.0.1:8537

Needs Debian's chromium and playwright. Each step is a new temperature, so nothing comes from the
cache; the page is loaded once first (that load is not timed).
"""
from __future__ import annotations

import statistics
import sys
import time

from playwright.sync_api import expect, sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main(url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{url}/generate")
        expect(page.get_by_text("sample 12")).to_be_visible(timeout=300_000)
        page.wait_for_timeout(3000)
        slider = page.get_by_role("slider").first  # the temperature
        first_image = "document.querySelector('[data-testid=stImage] img').getAttribute('src')"
        times = []
        for _ in range(8):
            src = page.evaluate(first_image)
            slider.focus()
            t = time.perf_counter()
            slider.press("ArrowRight")
            page.wait_for_function(f"s => {first_image} !== s", arg=src, timeout=30_000)
            times.append((time.perf_counter() - t) * 1000)
            page.wait_for_timeout(700)
        print("temperature step -> first sample redrawn (ms):", [round(x) for x in times],
              f"median {statistics.median(times):.0f}")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8501")
