"""Localization and lag figures draw their lines and refuse bad tables by name."""

import numpy as np
import pandas as pd
import pytest

from skdni import InputError, InputTypeError
from skdni.probing import lag_profile, localization_curve
from skdni.report import figure_to_png_bytes, plot_lag_profile, plot_localization_curve


def _data():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 30)
    y = (rng.random(600) < 0.4).astype(float)
    X = rng.normal(size=(600, 5))
    X[:, 1] += 1.5 * y
    X[1:, 3] += np.r_[y[:-1]] * 1.0
    return X, y, groups


def test_localization_figure_has_all_references():
    X, y, groups = _data()
    curve = localization_curve(
        X, y, [1, 3, 0], ks=(1, 2, 3), groups=groups, n_random=3, random_state=0
    )
    fig = plot_localization_curve(curve, title="y")
    gids = {line.get_gid() for line in fig.axes[0].lines}
    assert {"top_k", "random_mean", "diff_means", "whole_layer"} <= gids
    top = next(line for line in fig.axes[0].lines if line.get_gid() == "top_k")
    np.testing.assert_allclose(top.get_ydata(), curve.top_k)
    assert figure_to_png_bytes(fig)[:4] == b"\x89PNG"


def test_lag_figure_draws_requested_units():
    X, y, groups = _data()
    prof = lag_profile(X, y, groups, lags=range(-2, 3), units=[1, 3])
    fig = plot_lag_profile(prof)
    lines = {line.get_gid(): line for line in fig.axes[0].lines if line.get_gid()}
    assert set(lines) == {"lag:x1", "lag:x3"}
    np.testing.assert_array_equal(lines["lag:x3"].get_xdata(), [-2, -1, 0, 1, 2])
    fig = plot_lag_profile(prof, units=["x3"])
    assert [line.get_gid() for line in fig.axes[0].lines if line.get_gid()] == [
        "lag:x3"
    ]


def test_bad_tables():
    with pytest.raises(InputTypeError, match="curve must be a pandas DataFrame"):
        plot_localization_curve({"k": [1]})
    with pytest.raises(InputError, match="lacks the column"):
        plot_localization_curve(pd.DataFrame({"k": [1]}))
    two = pd.DataFrame({"feature": ["a", "b"], "unit": "h0", "lag": 0, "score": 0.1})
    with pytest.raises(InputError, match="pass feature="):
        plot_lag_profile(two)
    with pytest.raises(InputError, match="not in the profile"):
        plot_lag_profile(two, feature="a", units=["h9"])
