"""unit_levels: the rewrite (labels gathered once, row blocks as tasks) gives the
same levels, bit for bit, as the implementation it replaced (kept below)."""

import os
import warnings

import numpy as np
import pytest
from joblib import parallel_config
from numpy.lib.format import open_memmap
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC
from sklearn.utils.parallel import Parallel

from skdni.probing import NeuronProbeSearch, _levels
from skdni.probing._levels import unit_levels

from ._data import realistic

_BLOCK_ROWS = 65_536
_LOW_END, _HIGH_END = 0.1, 0.9


def _reference_ends(y, kind, values):
    """``(off, on)`` bounds of one feature: the two classes of a binary feature,
    the low / high tenth of a continuous one (its minimum / maximum when those
    quantiles meet)."""
    if kind == "binary":
        return (values[0], values[0]), (values[-1], values[-1])
    low, high = np.nanquantile(y, [_LOW_END, _HIGH_END])
    if low == high:
        return (-np.inf, np.nanmin(y)), (np.nanmax(y), np.inf)
    return (-np.inf, low), (high, np.inf)


def reference_unit_levels(X, Y, names, kinds, classes):
    """The implementation before the shared-partition / parallel rewrite."""
    n_rows, n_units = X.shape
    q = len(names)
    ends = [
        _reference_ends(np.asarray(Y[:, j], dtype=np.float64), kinds[j], classes[j])
        for j in range(q)
    ]
    # (side, bound) per feature: the off rows then the on rows of every feature
    bounds = np.array([[end[side] for end in ends] for side in (0, 1)])
    low, high = bounds[..., 0], bounds[..., 1]
    sums = np.zeros((2 * q, n_units))
    counts = np.zeros(2 * q)
    marks = np.empty((min(n_rows, _BLOCK_ROWS), 2 * q))
    for start in range(0, n_rows, _BLOCK_ROWS):
        block = np.asarray(X[start : start + _BLOCK_ROWS], dtype=np.float64)
        labels = np.asarray(Y[start : start + _BLOCK_ROWS], dtype=np.float64)
        mark = marks[: block.shape[0]]
        for side in (0, 1):  # NaN rows: on no side
            np.logical_and(
                labels >= low[side],
                labels <= high[side],
                out=mark[:, side * q : (side + 1) * q],
                casting="unsafe",
            )
        sums += mark.T @ block
        counts += mark.sum(axis=0)
    sums, counts = sums.reshape(2, q, n_units), counts.reshape(2, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, :, None]
    levels = {}
    for j, name in enumerate(names):
        off, on = means[0, j], means[1, j]
        levels[name] = {
            "off": off,
            "on": on,
            "sign": np.sign(np.nan_to_num(on - off)).astype(np.int8),
            "n_off": int(counts[0, j]),
            "n_on": int(counts[1, j]),
        }
    return levels


def _table(seed, n=3000, q=7, nan_rate=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * rng.uniform(0.1, 10, size=5)
    X[:, 4] = 0.3  # a constant unit
    Y = np.c_[
        (rng.random((n, 3)) < [0.5, 0.1, 0.9]).astype(float),
        rng.normal(size=n),
        rng.integers(0, 4, size=n).astype(float),  # few distinct values (ties)
        np.where(rng.random(n) < 0.95, 2.0, 3.0),  # quantiles meet: min / max
        rng.exponential(size=n),
    ][:, :q]
    Y[rng.random(Y.shape) < nan_rate] = np.nan
    kinds = ["binary"] * 3 + ["continuous"] * (q - 3)
    classes = [np.array([0.0, 1.0])] * 3 + [
        np.array([np.nanmin(Y[:, j]), np.nan, np.nanmax(Y[:, j])]) for j in range(3, q)
    ]
    return X, Y, [f"f{j}" for j in range(q)], kinds, classes


def _assert_same(got, ref):
    assert list(got) == list(ref)
    for name in ref:
        for key in ("off", "on", "sign"):
            np.testing.assert_array_equal(got[name][key], ref[name][key])
            assert got[name][key].dtype == ref[name][key].dtype
        assert got[name]["n_off"] == ref[name]["n_off"]
        assert got[name]["n_on"] == ref[name]["n_on"]


@pytest.mark.parametrize("seed", range(6))
def test_unit_levels_equal_the_previous_implementation(seed, monkeypatch):
    # small blocks: several row blocks and a partial last one
    monkeypatch.setattr(_levels, "_BLOCK_ROWS", 700)
    monkeypatch.setattr(_levels, "_COLUMN_ROWS", 256)
    X, Y, names, kinds, classes = _table(seed)
    # the reference with the same blocks sums in the same order
    globals()["_BLOCK_ROWS"] = 700
    try:
        ref = reference_unit_levels(X, Y, names, kinds, classes)
    finally:
        globals()["_BLOCK_ROWS"] = 65_536
    _assert_same(unit_levels(X, Y, names, kinds, classes), ref)
    with Parallel(n_jobs=2, return_as="generator") as parallel:
        _assert_same(unit_levels(X, Y, names, kinds, classes, parallel), ref)


def test_unit_levels_of_memmaps_equal_the_previous_implementation(tmp_path):
    X, Y, names, kinds, classes = _table(1, n=2500)
    paths = []
    for name, A in (("X.npy", X.astype(np.float32)), ("Y.npy", Y)):
        path = os.fspath(tmp_path / name)
        out = open_memmap(path, mode="w+", dtype=A.dtype, shape=A.shape)
        out[:] = A
        out.flush()
        del out
        paths.append(path)
    Xm, Ym = (np.load(path, mmap_mode="r") for path in paths)
    ref = reference_unit_levels(Xm, Ym, names, kinds, classes)
    _assert_same(unit_levels(Xm, Ym, names, kinds, classes), ref)


def test_continuous_columns_are_gathered_in_batches(monkeypatch):
    """A memmap's continuous label columns are gathered a few at a time for their
    quantiles (not all at once: 24 columns of 1M rows were 183 MB in memory);
    the levels are the same."""
    X, Y, names, kinds, classes = _table(2, n=2500)
    ref = reference_unit_levels(X, Y, names, kinds, classes)
    gathered = []
    gather = _levels._label_columns

    def spy(Y, feats):
        gathered.append(len(feats))
        return gather(Y, feats)

    monkeypatch.setattr(_levels, "_label_columns", spy)
    monkeypatch.setattr(_levels, "_COLUMN_BYTES", 2 * 8 * 2500)  # two columns
    _assert_same(unit_levels(X, Y, names, kinds, classes), ref)
    n_continuous = sum(kind != "binary" for kind in kinds)
    assert n_continuous > 2 and max(gathered) == 2 and sum(gathered) == n_continuous


def test_an_all_nan_continuous_column_is_on_no_side():
    X, Y, names, kinds, classes = _table(2, n=500)
    Y[:, 4] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        ref = reference_unit_levels(X, Y, names, kinds, classes)
    _assert_same(unit_levels(X, Y, names, kinds, classes), ref)
    assert ref["f4"]["n_on"] == ref["f4"]["n_off"] == 0


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_search_results_identical_for_any_n_jobs(backend):
    """Scores, chance, levels and refitted probes of n_jobs=1, 2 and -1 are equal
    bit for bit (the parent and the workers run the same tasks)."""
    X, Y, groups = realistic(n_texts=30)
    fits = []
    with parallel_config(backend=backend):
        for n_jobs in (1, 2, -1):
            fits.append(NeuronProbeSearch(cv=4, n_jobs=n_jobs).fit(X, Y, groups))
    ref = fits[0]
    assert set(ref.methods_) == {"svm", "ols"}
    for got in fits[1:]:
        np.testing.assert_array_equal(got.scores_, ref.scores_)
        np.testing.assert_array_equal(got.chance_scores_, ref.chance_scores_)
        _assert_same(got.unit_levels_, ref.unit_levels_)
        for name, probe in ref.best_estimators_.items():
            other = got.best_estimators_[name]
            assert type(other) is type(probe)
            np.testing.assert_array_equal(other.coef_, probe.coef_)
            np.testing.assert_array_equal(other.intercept_, probe.intercept_)


def test_exact_probe_refits_do_not_depend_on_n_jobs():
    """Refits of an arbitrary estimator run one at a time: liblinear's fits share a
    global random state, and in concurrent threads they mixed their draws, so a
    ``LinearSVC(dual=True)``'s refitted coefficients changed with ``n_jobs`` (and
    between runs with ``n_jobs=2``)."""
    rng = np.random.default_rng(0)
    n, p, q = 20000, 2, 6
    X = rng.normal(size=(n, p))
    Y = np.stack(
        [(X[:, j % p] + rng.normal(size=n) > 0) for j in range(q)], axis=1
    ).astype(float)
    probe = LinearSVC(dual=True, random_state=0, tol=1e-8, max_iter=300)

    def coefs(n_jobs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search = NeuronProbeSearch(probe, cv=2, n_jobs=n_jobs).fit(X, Y)
        return [search.best_estimators_[t].coef_[0, 0] for t in search.target_names_]

    reference = coefs(1)
    for _ in range(2):
        assert coefs(2) == reference
