"""The README's map of the code ("What is where") names every module, and every file it names exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _where_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What is where", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def _named(row: str) -> list[Path]:
    """The files a row's first cell names: `shoevae/a.py`, then `b.py` (beside a); `shoevae/ui/`, then `c.py` (in it)."""
    cell = row.split("|")[1]
    paths, folder = [], Path()
    for token in re.findall(r"`([^`]+)`", cell):
        path = Path(token.rstrip("/"))
        if "/" in token:
            folder = path.parent if path.suffix else path
            paths.append(path)
        else:
            paths.append(folder / path)
    return paths


def test_every_module_and_page_is_in_the_readme_map():
    named = {p for row in _where_rows() for p in _named(row)}
    modules = [p.relative_to(ROOT) for p in sorted((ROOT / "shoevae").rglob("*.py")) if p.stem not in ("__init__", "__main__")]
    missing = [str(m) for m in modules if m not in named]
    assert not missing, f"modules the README's 'What is where' does not name: {missing}"


def test_every_path_the_readme_map_names_exists():
    gone = [str(p) for row in _where_rows() for p in _named(row) if not (ROOT / p).exists()]
    assert not gone, f"the README's 'What is where' names files that do not exist: {gone}"


def test_docs_links_resolve():
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text()):
            if "://" not in target and "/local/" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to files that do not exist: {broken}"
