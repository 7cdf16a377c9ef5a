"""Conditional probing (condition="char") and ranking stability (n_bootstrap)."""

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, KFold

from skdni import InputError
from skdni.probing import NeuronProbeSearch
from skdni.probing._conditional import (
    char_codes,
    conditional_fold_scores,
    exact_conditional_fold_scores,
)

from ._data import realistic


def _chars(n, seed=0):
    rng = np.random.default_rng(seed)
    chars = np.array(list("abcdefgh"))[rng.integers(0, 8, size=n)]
    chars[:3] = "z"  # a character of one text only: unseen in some training folds
    return chars


def test_conditional_fast_equals_sklearn_pipeline_every_fold():
    X, Y, groups = realistic(n_texts=30, n_units=7)
    chars = _chars(groups.size)
    fast = NeuronProbeSearch("ols", cv=4, condition="char").fit(
        X, Y, groups, char_types=chars
    )
    codes = char_codes(chars)
    splits = list(GroupKFold(4).split(X, None, groups))
    a, ca = conditional_fold_scores(X, Y, codes, splits)
    b, cb = exact_conditional_fold_scores(X, Y, codes, splits)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ca, cb, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        fast.conditional_scores_.to_numpy(), np.nanmean(b, axis=2), atol=1e-10
    )
    exact = NeuronProbeSearch("ols", cv=4, condition="char", method="exact").fit(
        X, Y, groups, char_types=chars
    )
    np.testing.assert_allclose(
        exact.conditional_scores_.to_numpy(),
        fast.conditional_scores_.to_numpy(),
        atol=1e-10,
    )


def test_unit_that_only_encodes_the_character_scores_zero_beyond_it():
    rng = np.random.default_rng(1)
    n = 3000
    chars = rng.integers(0, 5, size=n)
    y = (chars == 2).astype(float) + 0.3 * rng.normal(size=n)
    X = np.c_[(chars == 2) + 0.05 * rng.normal(size=n), y + 0.3 * rng.normal(size=n)]
    groups = np.repeat(np.arange(30), 100)
    s = NeuronProbeSearch("ols", cv=5, condition="char").fit(
        X, y, groups, char_types=chars
    )
    assert s.scores_.iloc[0, 0] > 0.4  # alone, the character unit looks good
    assert abs(s.conditional_scores_.iloc[0, 0]) < 0.01  # beyond the character: 0
    assert s.conditional_scores_.iloc[0, 1] > 0.1
    assert s.char_scores_.iloc[0] > 0.4


def test_stability_finds_the_planted_unit_always():
    X, Y, groups = realistic(n_texts=30, n_units=7)
    kw = dict(cv=4, n_bootstrap=6, top_k=1, random_state=0)
    s = NeuronProbeSearch("ols", **kw).fit(X, Y[:, [3]], groups)
    st = s.stability_.set_index("unit")
    assert st.loc["x4", "p_top_k"] == 1.0 and st.loc["x4", "rank_high"] == 1.0
    assert st.drop("x4").p_top_k.max() == 0.0
    again = NeuronProbeSearch("ols", **kw).fit(X, Y[:, [3]], groups)
    np.testing.assert_array_equal(again.stability_.rank_median, st.rank_median)


def test_bad_inputs():
    X, Y, groups = realistic(n_texts=12, n_units=7)
    with pytest.raises(InputError, match="char_types has 5 entries"):
        NeuronProbeSearch(condition="char", cv=3).fit(X, Y, groups, char_types="abcde")
    with pytest.raises(InputError, match="condition='char' needs the character"):
        NeuronProbeSearch(condition="char", cv=3).fit(X, Y, groups)
    with pytest.raises(InputError, match="pass groups"):
        NeuronProbeSearch(n_bootstrap=2, cv=3).fit(X, Y)
    two_texts = np.repeat([0, 1], [100, X.shape[0] - 100])
    with pytest.raises(InputError, match=r"2 text\(s\) in groups for 5 folds"):
        NeuronProbeSearch(n_bootstrap=2, cv=KFold(5)).fit(X, Y, two_texts)
