"""Cross-model comparison: universality and unit matching by activation correlation."""

import numpy as np
import pytest

from skdni import InputError
from skdni.probing import NeuronProbeSearch, compare_units
from skdni.probing._compare import unit_correlation


def test_universal_feature_matched_unit_and_model_specific_feature():
    rng = np.random.default_rng(0)
    n = 1500
    y_shared = (rng.random(n) < 0.5).astype(float)
    y_only_a = (rng.random(n) < 0.5).astype(float)
    A = rng.normal(size=(n, 5))
    A[:, 2] += 2 * y_shared
    A[:, 4] += 2 * y_only_a
    B = rng.normal(size=(n, 6))
    B[:, 5] = -A[:, 2] + 0.3 * rng.normal(size=n)  # same code, other sign and index
    Y = np.c_[y_shared, y_only_a]
    a = NeuronProbeSearch(cv=5, min_score=0.6).fit(A, Y)
    b = NeuronProbeSearch(cv=5, min_score=0.6).fit(B, Y)
    table = compare_units(a, b, A, B).set_index("feature")
    assert table.loc["y0", "universal"] and table.loc["y0", "unit_a"] == "x2"
    assert table.loc["y0", "matched_unit_b"] == "x5"
    assert table.loc["y0", "unit_b"] == "x5" and table.loc["y0", "matched_is_finding"]
    assert table.loc["y0", "correlation"] < -0.9
    assert table.loc["y1", "found_a"] and not table.loc["y1", "found_b"]
    assert not table.loc["y1", "universal"]
    np.testing.assert_allclose(
        unit_correlation(A, B)[2, 5], np.corrcoef(A[:, 2], B[:, 5])[0, 1], atol=1e-12
    )


def test_activations_must_match_the_searches():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(200, 3))
    y = (A[:, 0] > 0).astype(float)
    a = NeuronProbeSearch(cv=3).fit(A, y)
    with pytest.raises(InputError, match="fitted on 3 units"):
        compare_units(a, a, A[:, :2], A)
    with pytest.raises(InputError, match="same characters"):
        compare_units(a, a, A, A[:100])
