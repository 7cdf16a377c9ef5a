"""Figures of the probing analyses beyond one unit: localization curve, lag profile.

They take the DataFrames of ``skdni.probing.localization_curve`` and
``skdni.probing.lag_profile`` (plain tables; this module imports no other skdni
subpackage) and return a :class:`matplotlib.figure.Figure` built without pyplot, as
every figure of :mod:`skdni.report`. Lines carry ``gid``\\ s (``"top_k"``,
``"lag:<unit>"``, ...) so tests and callers can find them.
"""

import numpy as np
import pandas as pd

from .._errors import InputError
from ._figures import _check_frame, _figure_and_axes, _palette

__all__ = ["plot_lag_profile", "plot_localization_curve"]

LOCALIZATION_COLUMNS = ("k", "top_k", "random_mean", "random_low", "random_high")
LAG_COLUMNS = ("feature", "unit", "lag", "score")


def plot_localization_curve(curve, *, ax=None, title=None, figsize=(5.5, 3.6)):
    """CV score of the probe on the top-k units against k, with its references.

    Parameters
    ----------
    curve : DataFrame
        The output of ``skdni.probing.localization_curve``: columns ``k``,
        ``top_k``, ``random_mean``, ``random_low``, ``random_high`` and, if present,
        ``top_k_std``, ``diff_means``, ``whole_layer``, ``scoring``.
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.
    title : str, optional
        Axes title.
    figsize : tuple, default=(5.5, 3.6)
        Size of a new figure, inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skdni.report import plot_localization_curve
    >>> curve = pd.DataFrame({"k": [1, 2, 4], "top_k": [0.7, 0.8, 0.85],
    ...                       "random_mean": [0.55, 0.6, 0.65],
    ...                       "random_low": [0.5, 0.55, 0.6],
    ...                       "random_high": [0.6, 0.65, 0.7],
    ...                       "whole_layer": [0.9, 0.9, 0.9]})
    >>> fig = plot_localization_curve(curve)
    >>> sorted(line.get_gid() for line in fig.axes[0].lines)
    ['random_mean', 'top_k', 'whole_layer']
    """
    _check_frame(curve, LOCALIZATION_COLUMNS, "curve")
    curve = curve.sort_values("k")
    fig, ax = _figure_and_axes(ax, figsize)
    k = curve["k"].to_numpy(dtype=float)
    colors = _palette(4)
    ax.fill_between(
        k,
        curve["random_low"].to_numpy(dtype=float),
        curve["random_high"].to_numpy(dtype=float),
        color=colors[1],
        alpha=0.2,
        gid="random_interval",
        label="random k units (95%)",
    )
    ax.plot(
        k,
        curve["random_mean"],
        "o--",
        color=colors[1],
        gid="random_mean",
        label="random k units",
    )
    if "top_k_std" in curve:
        ax.errorbar(
            k,
            curve["top_k"],
            yerr=curve["top_k_std"],
            fmt="none",
            ecolor=colors[0],
            alpha=0.6,
        )
    ax.plot(k, curve["top_k"], "o-", color=colors[0], gid="top_k", label="top k units")
    if "diff_means" in curve and curve["diff_means"].notna().any():
        ax.plot(
            k,
            curve["diff_means"],
            "s:",
            color=colors[2],
            gid="diff_means",
            label="difference of means (top k)",
        )
    if "whole_layer" in curve and curve["whole_layer"].notna().any():
        ax.plot(
            [k.min(), k.max()],
            [curve["whole_layer"].iloc[0]] * 2,
            "-",
            color="0.3",
            gid="whole_layer",
            label="whole layer",
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(k, [str(int(v)) for v in k])
    ax.set_xlabel("units in the probe (k, best first)")
    scoring = str(curve["scoring"].iloc[0]) if "scoring" in curve else "score"
    ax.set_ylabel(f"CV {scoring}")
    ax.legend(fontsize="small", loc="lower right")
    if title:
        ax.set_title(title)
    return fig


def plot_lag_profile(
    profile, *, feature=None, units=None, ax=None, title=None, figsize=(5.5, 3.6)
):
    """Score of each unit against the lag between its character and the label's.

    Parameters
    ----------
    profile : DataFrame
        The output of ``skdni.probing.lag_profile`` (columns ``feature``, ``unit``,
        ``lag``, ``score`` and, if present, ``score_std``).
    feature : str, optional
        The feature to draw; required when the profile holds several.
    units : list of str, optional
        Units to draw (default: the 5 with the highest peak score).
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.
    title : str, optional
        Axes title (default: the feature).
    figsize : tuple, default=(5.5, 3.6)
        Size of a new figure, inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skdni.report import plot_lag_profile
    >>> profile = pd.DataFrame({"feature": "y", "unit": ["h0"] * 3 + ["h1"] * 3,
    ...                         "lag": [-1, 0, 1] * 2,
    ...                         "score": [0.1, 0.5, 0.3, 0.0, 0.1, 0.0]})
    >>> fig = plot_lag_profile(profile)
    >>> [line.get_gid() for line in fig.axes[0].lines if line.get_gid()]
    ['lag:h0', 'lag:h1']
    """
    _check_frame(profile, LAG_COLUMNS, "profile")
    features = list(pd.unique(profile["feature"]))
    if feature is None:
        if len(features) > 1:
            raise InputError(
                f"profile holds {len(features)} features {features[:5]}: pass feature=."
            )
        feature = features[0]
    if feature not in features:
        raise InputError(f"feature {feature!r} is not in the profile ({features[:5]}).")
    rows = profile[profile["feature"] == feature]
    peak = rows.groupby("unit", sort=False)["score"].max().sort_values(ascending=False)
    if units is None:
        units = list(peak.index[:5])
    else:
        units = [units] if isinstance(units, str) else list(units)
        missing = [u for u in units if u not in set(peak.index)]
        if missing:
            raise InputError(f"units {missing} are not in the profile of {feature!r}.")
    fig, ax = _figure_and_axes(ax, figsize)
    for color, unit in zip(_palette(len(units)), units, strict=True):
        r = rows[rows["unit"] == unit].sort_values("lag")
        lag = r["lag"].to_numpy(dtype=float)
        score = r["score"].to_numpy(dtype=float)
        if "score_std" in r:
            std = r["score_std"].to_numpy(dtype=float)
            ax.fill_between(lag, score - std, score + std, color=color, alpha=0.15)
        ax.plot(lag, score, "o-", color=color, ms=3, gid=f"lag:{unit}", label=unit)
    ax.axvline(0, color="0.5", lw=0.8)
    lags = np.sort(rows["lag"].unique())
    ax.set_xlabel("lag (unit's character − labelled character)")
    ax.set_ylabel("CV score")
    ax.set_xlim(lags.min() - 0.5, lags.max() + 0.5)
    ax.legend(fontsize="small", title="unit")
    ax.set_title(title if title is not None else str(feature))
    return fig
