"""A real browser drives the app: `streamlit run app.py` in a subprocess, headless Chromium via playwright.

Needs Debian's chromium (`apt-get install chromium`) and PyPI's playwright (never `playwright install`).
Without them the test is skipped, unless SHOEVAE_REQUIRE_BROWSER=1 (CI), which makes it fail.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NEIGHBOUR_CAPTION = re.compile(r"^#[1-5] (Boot|Sandal|Shoe) · d=")


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser_available() -> None:
    why = _missing()
    if why and os.environ.get("SHOEVAE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SHOEVAE_REQUIRE_BROWSER=1 but {why}")
    if why:
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_path: Path):
    """URL of `streamlit run app.py` on a free port with `env`; the server is killed on exit."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"streamlit did not answer within 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(app_env, browser_available, tmp_path_factory):
    with streamlit_server(app_env["env"], tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@pytest.fixture
def browser_page(browser_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()


def test_pick_a_shoe_in_a_real_browser(server, browser_page, tmp_path):
    from playwright.sync_api import expect

    page, shot = browser_page, tmp_path / "recommend.png"
    page.goto(server)
    expect(page.get_by_role("heading", name="ShoeVAE")).to_be_visible(timeout=120_000)
    page.get_by_role("link", name="Recommend", exact=True).first.click()  # the sidebar navigation
    page.get_by_role("button", name="Similar shoes").nth(2).click(timeout=180_000)
    expect(page.get_by_text(NEIGHBOUR_CAPTION)).to_have_count(5, timeout=60_000)
    expect(page.get_by_text("Its 5 nearest shoes in style space")).to_be_visible()
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000, "a screenshot of a page full of shoes is not tiny"


def test_a_page_url_opened_first_on_a_fresh_server(app_env, browser_page, tmp_path):
    """A bookmarked /recommend on a just-started server still runs inside app.py's frame.

    (Until app.py has called st.navigation once, Streamlit treats pages/ as a legacy folder and runs
    the page file alone; shoevae.ui.layout.ensure_frame puts the frame around it.)
    """
    from playwright.sync_api import expect

    with streamlit_server(app_env["env"], tmp_path / "streamlit.log") as url:
        page = browser_page
        page.goto(f"{url}/recommend")
        expect(page.get_by_role("heading", name="Recommend")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("13,533 shoes from")).to_be_visible(timeout=60_000)  # the frame's sidebar
        expect(page.get_by_role("link", name="Latent map", exact=True)).to_be_visible()  # our titles, not file names
        page.get_by_role("button", name="Similar shoes").first.click(timeout=120_000)
        expect(page.get_by_text(NEIGHBOUR_CAPTION)).to_have_count(5, timeout=60_000)


def test_how_it_works_and_a_direction_slider_in_a_real_browser(server, browser_page, tmp_path):
    """How it works draws the network; on Generate, moving a direction slider redraws the shoe."""
    from playwright.sync_api import expect

    page = browser_page
    page.goto(server)
    expect(page.get_by_role("heading", name="ShoeVAE")).to_be_visible(timeout=120_000)
    page.get_by_role("link", name="How it works", exact=True).first.click()
    expect(page.get_by_role("heading", name="The network", exact=True)).to_be_visible(timeout=120_000)
    expect(page.locator("[data-testid=stGraphVizChart] svg")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("4 · decoded from z")).to_be_visible(timeout=60_000)
    page.get_by_role("link", name="Generate", exact=True).first.click()
    page.get_by_role("tab", name="Sliders").click(timeout=300_000)  # the first load fits the mixture
    caption = page.get_by_text(re.compile(r"^decoded from .*, 0 directions moved$"))
    expect(caption).to_be_visible(timeout=120_000)
    thumb = page.get_by_role("slider").nth(1)  # the first direction slider (the temperature comes first)
    thumb.focus()
    for _ in range(4):
        thumb.press("ArrowRight")
    expect(page.get_by_text(re.compile(r"^decoded from .*, 1 direction moved$"))).to_be_visible(timeout=60_000)
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)
