"""Every page at 1280x800 (a common projector) in a real browser: no label cut off, nothing wider than its column.

Fast tier: the app runs on the synthetic shapes (conftest's shapes_app_paths). Needs Debian's chromium
and playwright, like tests/test_browser.py (skipped without them, a failure with SHOEVAE_REQUIRE_BROWSER=1).
"""
from __future__ import annotations

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, browser_available, streamlit_server  # noqa: F401, F811

# each page, with a text its last part shows (the check waits for it: a page still drawing has nothing to cut)
PAGES = {"Home": "Load another checkpoint", "Train": "Shift and scale the photos", "Recommend": "#5 ",
         "Reconstruct": "difference", "Generate": "sample 12", "Latent map": "PCA map of 120 shoes",
         "Evaluate": "On all 120 shoes loaded", "How it works": "The KL weight β"}

# Text whose box is narrower than its content and clips it (an ellipsis or hidden overflow), and elements
# reaching out of their column; both in the page and the sidebar, visible elements only.
FIND_PROBLEMS = """() => {
  const seen = [], visible = el => el.offsetParent !== null && el.getClientRects().length > 0;
  const text = el => (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 60);
  for (const el of document.querySelectorAll('[data-testid=stMain] *, [data-testid=stSidebar] *')) {
    // (1 px boxes are for screen readers only, e.g. KaTeX's MathML; inputs scroll their text)
    if (!visible(el) || el.clientWidth <= 1 || !text(el) || ['INPUT', 'TEXTAREA'].includes(el.tagName)) continue;
    const cs = getComputedStyle(el);
    const clips = cs.textOverflow === 'ellipsis' || ['hidden', 'clip'].includes(cs.overflowX);
    if (clips && el.scrollWidth > el.clientWidth + 1)
      seen.push(`cut: "${text(el)}" (${el.scrollWidth} px in ${el.clientWidth} px)`);
  }
  for (const col of document.querySelectorAll('[data-testid=stColumn]')) {
    if (!visible(col)) continue;
    const box = col.getBoundingClientRect();
    for (const el of col.querySelectorAll('img, button, label, p, code, h1, h2, h3')) {  // inputs scroll their text
      if (!visible(el)) continue;
      const r = el.getBoundingClientRect();
      if (r.width > 0 && (r.right > box.right + 2 || r.left < box.left - 2))
        seen.push(`overflows its column: <${el.tagName.toLowerCase()}> "${text(el)}" ` +
                  `(${Math.round(r.left)}-${Math.round(r.right)} px in ${Math.round(box.left)}-${Math.round(box.right)} px)`);
    }
  }
  return [...new Set(seen)];
}"""


@pytest.fixture(scope="module")
def shapes_server(shapes_app_paths, browser_available, tmp_path_factory):  # noqa: F811 (the imported fixture)
    with streamlit_server(shapes_app_paths["env"], tmp_path_factory.mktemp("layout") / "streamlit.log") as url:
        yield url


def test_no_label_is_cut_and_nothing_overflows_its_column_at_1280(shapes_server):
    from playwright.sync_api import expect, sync_playwright

    problems = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{shapes_server}/recommend")
            page.get_by_role("button", name="Similar shoes").first.click(timeout=120_000)  # a pick for every page
            expect(page.get_by_text("Its 5 nearest shoes in style space")).to_be_visible(timeout=60_000)
            for name, last in PAGES.items():
                page.get_by_role("link", name=name, exact=True).first.click()
                expect(page.get_by_role("heading", name="ShoeVAE" if name == "Home" else name, exact=True)) \
                    .to_be_visible(timeout=60_000)
                if name == "Evaluate":
                    page.get_by_role("button", name="Evaluate", exact=True).click()
                expect(page.get_by_text(last).first).to_be_visible(timeout=120_000)
                page.wait_for_timeout(1500)  # the page's last elements and fonts
                found = page.evaluate(FIND_PROBLEMS)
                if found:
                    problems[name] = found
        finally:
            browser.close()
    assert not problems, "\n".join(f"{page}: {p}" for page, found in problems.items() for p in found)
