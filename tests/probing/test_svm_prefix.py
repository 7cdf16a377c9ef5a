"""The SVM engine's one-pass prefix tables: training sums over any active set equal
a direct computation, and packed feature words map back to their features."""

import numpy as np
import pytest
from numba import njit

from skdni.probing._fast_svm import (
    _active,
    build_prefix_block,
    pack_codes,
    svm_block,
    svm_feature,
    svm_layout,
    svm_unit_scores,
)


@njit
def _training_sums(xs, fs, cs, fold_off, blk, jj, queries):
    """``_active`` (the solver's sums) for every (w, b, k) row of ``queries``."""
    layout = svm_layout(xs, fs, cs, fold_off)
    cp_off, _, _, nbs = layout
    block = svm_block(xs.size, cp_off, fold_off.size - 1)
    build_prefix_block(xs, fs, cs, blk, nbs[blk], fold_off, cp_off, block, False)
    data = svm_feature(xs, cs, fold_off, layout, block, blk, jj)
    out = np.empty((queries.shape[0], 6))
    for r in range(queries.shape[0]):
        w, b, k = queries[r, 0], queries[r, 1], np.int64(queries[r, 2])
        out[r] = _active(w, b, data, k)[2]
    return out


def _direct(x, fold, code, w, b, k):
    """(count, Σx, Σx²) of the active training rows of each class, with numpy."""
    train = fold != k
    if w != 0:
        t_pos, t_neg = (1.0 - b) / w, (-1.0 - b) / w
        act1 = x > t_pos if w < 0 else x < t_pos
        act0 = x > t_neg if w > 0 else x < t_neg
    else:
        act1 = np.full(x.size, b < 1.0)
        act0 = np.full(x.size, b > -1.0)
    out = []
    for mask in (train & (code == 1) & act1, train & (code == 0) & act0):
        out += [mask.sum(), x[mask].sum(), (x[mask] ** 2).sum()]
    return np.array(out, dtype=float)


@pytest.mark.parametrize("n", [37, 1000, 2600])
def test_prefix_tables_give_the_direct_class_sums(n):
    """Thresholds on and between data values (exact: dyadic activations and
    slopes), ties, unlabelled rows, empty folds' neighbours, every fold and none."""
    rng = np.random.default_rng(n)
    n_folds, q = 5, 19  # two label words: 10 + 9 features
    x = np.round(rng.normal(size=n) * 8) / 8  # ties, exact thresholds
    x[::3] = rng.normal(size=x[::3].size)  # and unique values
    fold = rng.integers(0, n_folds, size=n).astype(np.int8)
    codes = (rng.random((n, q)) < rng.uniform(0.05, 0.7, q)).astype(np.int8)
    codes[rng.random((n, q)) < 0.15] = -1
    order = np.argsort(x)
    xs, fs, cs = x[order], fold[order], pack_codes(codes)[order]
    fold_off = np.r_[0, np.cumsum(np.bincount(fold, minlength=n_folds))]
    n_words = cs.shape[1]
    at = rng.choice(x, size=40)  # thresholds at data values: b = 1 - w·x exactly
    queries = [
        (w, 1.0 - w * t, k)
        for t in at
        for w in (1.0, -2.0, 0.5)
        for k in (-1, int(rng.integers(n_folds)))
    ]
    queries += [
        (w, -1.0 - w * t, k)
        for t in at[:10]
        for w in (1.0, -1.0)
        for k in range(n_folds)
    ]
    queries += [(rng.normal(), rng.normal(), k) for k in range(-1, n_folds)]
    queries += [(0.0, b, k) for b in (-2.0, 0.0, 2.0) for k in (-1, 0)]
    queries = np.array(queries, dtype=float)
    for j in (0, 1, q - 1):
        blk, jj = j % n_words, j // n_words
        got = _training_sums(xs, fs, cs, fold_off, blk, jj, queries)
        for r, (w, b, k) in enumerate(queries):
            want = _direct(x, fold, codes[:, j], w, b, int(k))
            np.testing.assert_array_equal(got[r, [0, 3]], want[[0, 3]])
            np.testing.assert_allclose(got[r], want, rtol=1e-10, atol=1e-9)


def test_packed_words_score_each_feature_as_alone():
    """Scores of 20 features packed into two words equal each feature's own, one
    feature per call (feature j is bit j // 2 of word j % 2)."""
    rng = np.random.default_rng(1)
    n, q, n_folds = 900, 20, 4
    x = rng.normal(size=n)
    fold = np.repeat(np.arange(n_folds), n // n_folds).astype(np.int8)
    codes = np.stack(
        [(x + rng.normal(scale=s, size=n) > 0) for s in np.linspace(0.3, 3, q)], 1
    ).astype(np.int8)
    codes[rng.random((n, q)) < 0.1] = -1
    codes[:, 7] = -1  # a feature without labels scores NaN
    fold_off = np.r_[0, np.cumsum(np.bincount(fold, minlength=n_folds))]
    order = np.argsort(x)
    xs, fs = x[order], fold[order]
    cf = pack_codes(codes)
    assert cf.shape == (n, 2)
    both = svm_unit_scores(xs, fs, cf[order], x, cf, fold_off, n_folds)[:q]
    for j in range(q):
        one = pack_codes(codes[:, [j]])
        alone = svm_unit_scores(xs, fs, one[order], x, one, fold_off, n_folds)[0]
        np.testing.assert_array_equal(both[j], alone)
    assert np.isnan(both[7]).all() and not np.isnan(np.delete(both, 7, 0)).any()
