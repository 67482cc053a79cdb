"""Item ids: exact match first, then case-insensitive; unknown ids are a clear KeyError."""
import numpy as np
import pytest

from shoevae.catalogue import Catalogue


def catalogue(ids: list[str]) -> Catalogue:
    n = len(ids)
    return Catalogue(ids, [f"{i}.jpg" for i in ids], ["Shoe"] * n, np.zeros((n, 8, 8, 3), np.uint8))


def test_ids_match_exactly_then_ignoring_case():
    cat = catalogue(["1623a8a598fb", "AbC", "abc"])
    assert cat.index_of("1623A8A598FB") == 0
    assert cat.index_of(" 1623a8a598fb ") == 0
    assert cat.index_of("abc") == 2  # an exact match wins over a case-folded one
    assert cat.index_of("AbC") == 1
    assert cat.index_of("ABC") == 1  # the first of ids differing only in case


def test_unknown_id_names_it():
    with pytest.raises(KeyError, match="no shoe with item id 'nope'"):
        catalogue(["a"]).index_of("nope")
