"""The radix sort of the sort-based engines (``skdni.probing._radix``): the order is
``np.argsort(kind="stable")`` exactly, the gathered payload is the reference
gather's, and every sort-based probe scores exactly as on the ``np.argsort`` path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skdni.probing import NeuronProbeSearch, _sorted
from skdni.probing._radix import radix_argsort
from skdni.probing._sorted import label_codes, sorted_unit

from ._data import planted, realistic


def _check(x):
    x = np.asarray(x, dtype=np.float64)
    np.testing.assert_array_equal(radix_argsort(x), np.argsort(x, kind="stable"))


@pytest.mark.parametrize(
    "x",
    [
        [],
        [1.5],
        [-0.0],
        [0.0, -0.0, 0.0, -0.0, 1.0, -0.0],  # -0.0 ties with 0.0 (row order kept)
        [np.inf, -np.inf, 0.0, np.inf, -1e308, 1e308, -np.inf],
        [5e-324, -5e-324, 0.0, 2.2250738585072014e-308, -2.2250738585072014e-308],
        [1e-300, 1e300, -1e-300, -1e300, 1.0, -1.0],
        [np.nan, 1.0, -np.nan, -np.inf, np.nan, 0.0],  # NaNs last, in row order
        [3.0] * 7,  # every digit constant: no pass at all
        [np.nextafter(1.0, 2.0), 1.0, np.nextafter(1.0, 0.0), 1.0],  # last bits only
    ],
)
def test_edge_values(x):
    _check(x)


def test_random_floats_and_heavy_ties():
    rng = np.random.default_rng(0)
    _check(rng.normal(size=5000))
    _check(np.tanh(rng.normal(size=5000)))  # constant high digits skip passes
    _check(rng.integers(-3, 4, size=5000).astype(float))  # heavy ties
    _check(rng.normal(size=5000).astype(np.float32))  # float32 values: low bits 0
    _check(rng.normal(size=2000) * 10.0 ** rng.integers(-300, 300, size=2000))
    x = rng.normal(size=3000)
    x[::3] = -0.0
    x[1::3] = 0.0
    _check(x)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 300), elements=st.floats(width=64)))
def test_any_float_array(x):
    """Any float64s, NaN and infinities included (hypothesis favours edge values)."""
    _check(x)


@pytest.mark.parametrize("rows", [False, True])
def test_gather_matches_the_reference(monkeypatch, rows):
    """The radix path's ``xs, fs, cs`` equal the stable argsort's gather."""
    rng = np.random.default_rng(1)
    n, q = 1000, 19
    x = np.round(rng.normal(size=n), 1)  # ties
    ff = np.sort(rng.integers(0, 5, size=n)).astype(np.int8)
    codes = rng.integers(-1, 2, size=(n, q)).astype(np.int8)
    cf = label_codes(codes, rows)
    xs, fs, cs = sorted_unit(x, ff, cf, rows)
    order = np.argsort(x, kind="stable")
    np.testing.assert_array_equal(xs, x[order])
    np.testing.assert_array_equal(fs, ff[order])
    np.testing.assert_array_equal(cs, cf[order] if rows else cf[:, order])
    # the reference path sorts the same values (ties in another order)
    monkeypatch.setattr(_sorted, "SORT", "argsort")
    xs_ref, fs_ref, cs_ref = sorted_unit(x, ff, cf, rows)
    np.testing.assert_array_equal(xs_ref, xs)
    assert cs_ref.shape == cs.shape and fs_ref.dtype == fs.dtype


def _tied(X, decimals):
    """Activations with many exact ties (and -0.0 next to 0.0)."""
    X = np.round(X, decimals)
    X[X == 0] = -0.0
    X[::7, 0] = 0.0
    return X


SEARCHES = [
    {"probe": "svm"},
    {"probe": "svm", "scoring": "balanced_accuracy"},
    {"probe": "svm", "scoring": "roc_auc"},
    {"probe": "logistic"},
    {"probe": "threshold"},
    {"probe": "svc"},
]


@pytest.mark.parametrize("params", SEARCHES, ids=lambda p: "-".join(p.values()))
@pytest.mark.parametrize("decimals", [None, 1])
def test_search_scores_identical_to_the_argsort_path(monkeypatch, params, decimals):
    """Every fold score of every sort-based probe is the same bit for bit with the
    radix sort and with the np.argsort reference, with and without heavy ties."""
    X, Y, groups = realistic(n_texts=30)
    X = X if decimals is None else _tied(X, decimals)
    Yb = Y[:, :3]
    cv = 5
    results = {}
    for sort in ("argsort", "radix"):
        monkeypatch.setattr(_sorted, "SORT", sort)
        search = NeuronProbeSearch(cv=cv, **params).fit(X, Yb, groups=groups)
        results[sort] = np.array(
            [search.cv_results_[f"split{k}_test_score"] for k in range(cv)]
        )
    np.testing.assert_array_equal(results["radix"], results["argsort"])
    assert np.isfinite(results["radix"]).any()


def test_planted_unit_found_on_both_paths(monkeypatch):
    """A search whose answer is known: the radix path finds the planted unit."""
    X, Y = planted(n=600)
    search = NeuronProbeSearch(cv=4).fit(X, Y[:, :1])
    assert search.best_units_[0] == 2
    monkeypatch.setattr(_sorted, "SORT", "argsort")
    ref = NeuronProbeSearch(cv=4).fit(X, Y[:, :1])
    np.testing.assert_array_equal(search.scores_, ref.scores_)
