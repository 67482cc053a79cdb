"""How the app words things: counts, durations and the captions under shoe photos.

Plain string helpers shared by the sidebar, the widgets, the training monitor and the pages, kept
in one place so that a shoe or an epoch is described the same way everywhere. No streamlit calls.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..catalogue import Catalogue
    from ..neighbours import Match


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def duration(seconds: float) -> str:
    """"45 s", "1 min 32 s" (to the second below 10 minutes: a live caption must visibly move), "25 min", "1.5 h"."""
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def shoe_caption(cat: Catalogue, row: int) -> str:
    return f"{cat.categories[row]} · {cat.ids[row]}"


def match_captions(matches: list[Match]) -> list[str]:
    # three decimals always: "d=0.5" beside "d=0.501" read as different precisions
    return [f"#{i} {m.category} · d={m.distance:.3f}" if m.distance >= 1e-4 else f"#{i} {m.category} · d=0"
            for i, m in enumerate(matches, 1)]
