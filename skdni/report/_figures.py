"""Figures of a study: sorted unit scores (paper Figs. 2-3), units above a skill
threshold (Fig. 2), a heatmap of skill above chance, ablation curves (Fig. 5),
generation shares under clamps (Fig. 4) and unit-over-text.

Every function takes plain NumPy arrays / pandas objects (not estimators) and returns a
:class:`matplotlib.figure.Figure` built without pyplot, so no global figure state leaks
and no interactive backend is ever touched; a caller passing ``ax`` gets ``ax.figure``.
"""

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .._errors import EmptyCorpusError, InputError, InputTypeError

# tab10 has ten clearly distinct colours; more lines per panel stop being readable.
MAX_FEATURES_PER_PANEL = 10
ABLATION_COLUMNS = ("k", "baseline", "top", "random_mean", "random_low", "random_high")
ACTIVATION_CMAP = "RdBu_r"
LABEL_CMAP = "Greens"
# Colour of a character whose label is NaN (the feature cannot label it).
UNLABELLED_COLOR = "#c8c8c8"
# Glyphs that make whitespace visible in the unit-over-text view.
VISIBLE_WHITESPACE = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍"}
# Longest side of a rendered figure, in pixels: browsers and PIL handle it, and a
# report stays a few MB whatever the corpus.
MAX_IMAGE_PIXELS = 4000


def _palette(n):
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _figure_and_axes(ax, figsize):
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise InputTypeError(f"ax must be a matplotlib Axes or None, got {type(ax)!r}.")
    return ax.figure, ax


def _check_scores(scores, name="scores"):
    if not isinstance(scores, pd.DataFrame):
        raise InputTypeError(
            f"{name} must be a pandas DataFrame (rows = features, columns = units), "
            f"got {type(scores).__name__}."
        )
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise InputError(
            f"{name} is empty ({scores.shape[0]} features x {scores.shape[1]} units); "
            "it needs at least one feature and one unit."
        )
    try:
        values = scores.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must hold numeric scores: {exc}") from None
    return values


def _select(labels, wanted, what, where):
    if wanted is None:
        return list(labels)
    if isinstance(wanted, str):
        wanted = [wanted]
    wanted = list(wanted)
    missing = [w for w in wanted if w not in set(labels)]
    if missing:
        raise InputError(f"{what} {missing} not found in {where}.")
    if not wanted:
        raise InputError(f"{what} selects nothing: give at least one name.")
    return wanted


def plot_unit_scores(
    scores: pd.DataFrame,
    *,
    chance: pd.Series | Mapping | None = None,
    features: Sequence[str] | None = None,
    top_k: int | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plot every feature's unit scores sorted in descending order (paper Figs. 2-3).

    One solid line per feature (x = rank of the unit, y = its score); the feature's
    chance level, if given, is a dashed horizontal line of the same colour.
    At most ``MAX_FEATURES_PER_PANEL`` (10) features share a panel: with ``ax=None``
    more features are split over several panels; with an ``ax`` given, more than 10
    features are refused, since their colours would no longer be told apart.

    Parameters
    ----------
    scores : DataFrame of shape (n_features, n_units)
        Mean cross-validated score of each (feature, unit) pair; the index names
        the features, the columns name the units. NaN scores (pairs that could not
        be scored) are left out of their feature's line.
    chance : Series or dict, default=None
        Feature name -> chance score (majority class accuracy, R² of the mean, ...).
        Features without an entry get no chance line.
    features : list of str, default=None
        Features to draw, in this order. All rows of ``scores`` by default.
    top_k : int, default=None
        Draw only the ``top_k`` best units of each feature. All units by default.
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure is created when None.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skdni.report import plot_unit_scores
    >>> scores = pd.DataFrame([[0.9, 0.6, 0.55], [0.7, 0.8, 0.5]],
    ...                       index=["range:paren", "range:add"],
    ...                       columns=["h0", "h1", "h2"])
    >>> fig = plot_unit_scores(scores, chance={"range:paren": 0.5, "range:add": 0.6})
    >>> len(fig.axes[0].lines)  # two sorted-score lines + two chance lines
    4
    """
    _check_scores(scores)
    names = _select(scores.index, features, "features", "the rows of scores")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1
    ):
        raise InputError(f"top_k must be a positive integer or None, got {top_k!r}.")
    chance = {} if chance is None else dict(chance)
    if ax is not None and len(names) > MAX_FEATURES_PER_PANEL:
        raise InputError(
            f"{len(names)} features do not fit one readable panel (at most "
            f"{MAX_FEATURES_PER_PANEL}); pass ax=None to get several panels, or select "
            "features with features=[...]."
        )

    n_panels = math.ceil(len(names) / MAX_FEATURES_PER_PANEL)
    if ax is None:
        ncols = 1 if n_panels == 1 else 2
        nrows = math.ceil(n_panels / ncols)
        fig = Figure(figsize=(6.4 * ncols, 4.2 * nrows), layout="constrained")
        axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    else:
        fig, axes = ax.figure, [ax]

    for panel, axis in enumerate(axes):
        chunk = names[
            panel * MAX_FEATURES_PER_PANEL : (panel + 1) * MAX_FEATURES_PER_PANEL
        ]
        handles = []
        for feature, color in zip(chunk, _palette(len(chunk)), strict=True):
            row = scores.loc[feature]
            if isinstance(row, pd.DataFrame):
                raise InputError(
                    f"feature {feature!r} appears more than once in scores."
                )
            values = np.sort(row.to_numpy(dtype=float))[::-1]
            values = values[~np.isnan(values)]
            if top_k is not None:
                values = values[:top_k]
            (line,) = axis.plot(
                np.arange(1, values.size + 1),
                values,
                color=color,
                label=str(feature),
                gid=f"scores:{feature}",
            )
            handles.append(line)
            if feature in chance and chance[feature] is not None:
                axis.axhline(
                    float(chance[feature]),
                    color=color,
                    linestyle="--",
                    linewidth=1,
                    gid=f"chance:{feature}",
                )
        if any(f in chance for f in chunk):
            handles.append(
                Line2D([], [], color="grey", linestyle="--", label="chance level")
            )
        # Outside the axes: the best ranks (top left) are what a reader looks at.
        axis.legend(
            handles=handles,
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
        )
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("unit rank (best first)")
        axis.set_ylabel("score")
        axis.grid(alpha=0.3)
        if n_panels > 1:
            axis.set_title(
                f"features {panel * MAX_FEATURES_PER_PANEL + 1}-"
                f"{panel * MAX_FEATURES_PER_PANEL + len(chunk)}"
            )
    return fig


#: The y-axis label of each metric of :class:`~skdni.intervention.NeuronAblationScorer`.
METRIC_LABELS = {
    "accuracy": "next-char accuracy",
    "cross_entropy": "next-char cross-entropy (nats, lower is better)",
    "class_accuracy": "next-char class accuracy (class mass)",
    "class_cross_entropy": "next-char class cross-entropy (nats, lower is better)",
    "within_class_accuracy": "next-char accuracy within its class",
}


def metric_label(metric) -> str:
    """The words for an ablation metric's name (``"score"`` when none is given).

    Examples
    --------
    >>> from skdni.report._figures import metric_label
    >>> metric_label("class_accuracy")
    'next-char class accuracy (class mass)'
    """
    if metric is None or metric == "":
        return "score"
    return METRIC_LABELS.get(str(metric), str(metric).replace("_", " "))


def _check_frame(frame, columns, what="frame", *, needs="", numeric=()):
    """Refuse a table a plot cannot draw: not a DataFrame, a column missing, no
    rows, or a non-numeric column among ``numeric``."""
    if not isinstance(frame, pd.DataFrame):
        raise InputTypeError(
            f"{what} must be a pandas DataFrame, got {type(frame).__name__}."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} lacks the columns it needs: missing column(s) {missing}{needs}."
        )
    if len(frame) == 0:
        raise InputError(f"{what} has no rows: nothing to plot.")
    for column in numeric:
        try:
            frame[column].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{what} column {column!r} must be numeric.") from None


def _check_ablation_frame(frame):
    _check_frame(
        frame,
        ABLATION_COLUMNS,
        needs=f"; plot_ablation_curves needs {list(ABLATION_COLUMNS)} "
        "(optional: 'mode', 'feature')",
        numeric=ABLATION_COLUMNS,
    )


def plot_ablation_curves(
    frame: pd.DataFrame, *, ylabel: str | None = None, ax: Axes | None = None
) -> Figure:
    """Plot the score against k for top-k vs random-k intervened units (paper Fig. 5).

    In each panel: the top-k units' score as a solid line with markers, the mean over
    random-k draws as a dashed line with its interval as a shaded band, one colour per
    intervention ``mode``; the score without intervention (``baseline``) as a black
    dashed horizontal line. One panel per ``feature`` (and per ``metric``) when those
    columns are present; the y axis names the metric.

    Parameters
    ----------
    frame : DataFrame
        Tidy table with columns ``k`` (number of units), ``baseline``, ``top``,
        ``random_mean``, ``random_low``, ``random_high`` (e.g. the 95% interval over
        random draws), and optionally ``mode`` (``"zero"``, ``"oracle"``, ...),
        ``feature`` and ``metric`` (as ``NeuronAblationScorer.evaluate`` names it,
        e.g. ``"class_accuracy"``). Rows whose random columns are NaN draw no
        random curve.
    ylabel : str, default=None
        Label of the y axis. By default the metric in words (e.g. "next-char class
        accuracy (class mass)", see :func:`metric_label`) from the ``metric``
        column, or "score" without one.
    ax : matplotlib Axes, default=None
        Axes to draw into (only when ``frame`` has a single feature and metric).

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skdni.report import plot_ablation_curves
    >>> frame = pd.DataFrame({"k": [1, 5, 10], "baseline": 0.9,
    ...                       "top": [0.88, 0.7, 0.5], "random_mean": [0.9, 0.89, 0.87],
    ...                       "random_low": [0.89, 0.86, 0.83],
    ...                       "random_high": [0.9, 0.9, 0.9]})
    >>> fig = plot_ablation_curves(frame)
    >>> len(fig.axes[0].collections)  # the random-k band
    1
    """
    _check_ablation_frame(frame)
    if ylabel is not None and not isinstance(ylabel, str):
        raise InputTypeError(f"ylabel must be a str or None, got {ylabel!r}.")
    frame = frame.copy()
    for column, default in (("mode", "zero"), ("feature", ""), ("metric", "")):
        if column not in frame.columns:
            frame[column] = default
        frame[column] = frame[column].fillna(default)
    # one panel per (feature, metric): two metrics never share a y axis
    panels = list(dict.fromkeys(zip(frame["feature"], frame["metric"], strict=True)))
    modes = list(pd.unique(frame["mode"]))
    if ax is not None and len(panels) > 1:
        raise InputError(
            f"frame holds {len(panels)} (feature, metric) pairs; pass ax=None to get "
            "one panel per feature and metric."
        )
    if ax is None:
        ncols = min(len(panels), 3)
        nrows = math.ceil(len(panels) / ncols)
        fig = Figure(figsize=(5.2 * ncols, 4.0 * nrows), layout="constrained")
        axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(len(panels))]
    else:
        fig, axes = ax.figure, [ax]
    colors = dict(zip(modes, _palette(len(modes)), strict=True))

    for (feature, metric), axis in zip(panels, axes, strict=True):
        part = frame[(frame["feature"] == feature) & (frame["metric"] == metric)]
        for mode in modes:
            rows = part[part["mode"] == mode].sort_values("k")
            if rows.empty:
                continue
            k = rows["k"].to_numpy(dtype=float)
            label = "" if len(modes) == 1 and mode == "zero" else f" ({mode})"
            axis.plot(
                k,
                rows["top"].to_numpy(dtype=float),
                marker="o",
                color=colors[mode],
                label=f"top-k{label}",
                gid=f"top:{feature}:{mode}",
            )
            mean = rows["random_mean"].to_numpy(dtype=float)
            if np.isnan(mean).all():
                continue
            low = rows["random_low"].to_numpy(dtype=float)
            high = rows["random_high"].to_numpy(dtype=float)
            axis.plot(
                k,
                mean,
                linestyle="--",
                marker="s" if len(k) == 1 else None,
                color=colors[mode],
                label=f"random-k mean{label}",
                gid=f"random:{feature}:{mode}",
            )
            if len(k) == 1:  # a band of one k has no width: an error bar
                bars = axis.errorbar(
                    k,
                    mean,
                    # identical draws: the mean can sit an ulp outside the
                    # percentiles, and matplotlib refuses a negative error
                    yerr=[np.maximum(mean - low, 0.0), np.maximum(high - mean, 0.0)],
                    fmt="none",
                    ecolor=colors[mode],
                    capsize=4,
                    label=f"random-k interval{label}",
                )
                bars.lines[2][0].set_gid(f"band:{feature}:{mode}")
                continue
            band = axis.fill_between(
                k,
                low,
                high,
                color=colors[mode],
                alpha=0.2,
                linewidth=0,
                label=f"random-k interval{label}",
            )
            band.set_gid(f"band:{feature}:{mode}")
        for i, value in enumerate(pd.unique(part["baseline"].dropna())):
            axis.axhline(
                float(value),
                color="black",
                linestyle="--",
                linewidth=1,
                label="no intervention" if i == 0 else None,
                gid=f"baseline:{feature}",
            )
        ks = sorted(part["k"].dropna().unique())
        if len(ks) <= 12:  # the ks themselves, not ticks between them
            axis.set_xticks(ks)
            if len(ks) == 1:
                axis.set_xlim(ks[0] - 1, ks[0] + 1)
        else:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("k (units intervened on)")
        axis.set_ylabel(ylabel if ylabel is not None else metric_label(metric))
        if feature != "":
            axis.set_title(str(feature))
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    return fig


def plot_units_above_threshold(
    skill: pd.DataFrame,
    thresholds: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    features: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """How many units reach each skill threshold, per feature (paper Fig. 2).

    One group of horizontal bars per feature, one bar per threshold: the number of
    units whose skill is at least that threshold. The paper counted units above
    accuracy thresholds; skill (0 = chance, 1 = perfect) puts features with
    different chance levels on one scale.

    Parameters
    ----------
    skill : DataFrame of shape (n_features, n_units)
        Skill above chance of every (feature, unit) (e.g.
        ``NeuronProbeSearch.skill_``); NaN counts as below every threshold.
    thresholds : sequence of float, default=(0.25, 0.5, 0.75)
        Increasing skill thresholds in (0, 1].
    features : list of str, default=None
        Features to draw, top to bottom. All rows of ``skill`` by default.
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure is created when None.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skdni.report import plot_units_above_threshold
    >>> skill = pd.DataFrame([[0.9, 0.6, 0.1], [0.3, 0.0, 0.2]],
    ...                      index=["range:paren", "range:add"],
    ...                      columns=["h0", "h1", "h2"])
    >>> fig = plot_units_above_threshold(skill, thresholds=(0.25, 0.5))
    >>> [int(p.get_width()) for p in fig.axes[0].patches]  # per threshold, feature
    [2, 1, 2, 0]
    """
    values = _check_scores(skill, "skill")
    names = _select(skill.index, features, "features", "the rows of skill")
    try:
        cuts = np.asarray(thresholds, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(
            f"thresholds must be numbers in (0, 1], got {thresholds!r}."
        ) from None
    if (
        cuts.size == 0
        or not np.isfinite(cuts).all()
        or (cuts <= 0).any()
        or (cuts > 1).any()
        or (np.diff(cuts) <= 0).any()
    ):
        raise InputError(
            f"thresholds must be increasing numbers in (0, 1], got {list(thresholds)}."
        )
    rows = [skill.index.get_loc(name) for name in names]
    counts = np.stack(
        [(np.nan_to_num(values[rows], nan=-np.inf) >= cut).sum(axis=1) for cut in cuts]
    )  # (n_thresholds, n_features)
    fig, ax = _figure_and_axes(ax, (6.4, max(2.5, 0.12 * len(names) * cuts.size + 1.2)))
    height = 0.8 / cuts.size
    y = np.arange(len(names))
    cmap = colormaps["viridis"]
    for i, cut in enumerate(cuts):
        ax.barh(
            y - 0.4 + height * (i + 0.5),
            counts[i],
            height=height,
            color=cmap(0.15 + 0.7 * i / max(cuts.size - 1, 1)),
            label=f"skill \u2265 {cut:g}",
            gid=f"threshold:{cut:g}",
        )
    ax.set_yticks(y, [str(n) for n in names])
    ax.invert_yaxis()  # first feature on top
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"units (of {skill.shape[1]}) with skill \u2265 threshold")
    ax.set_ylabel("feature")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


GENERATION_COLUMNS = ("k", "units", "class", "rate", "rate_low", "rate_high")


def _check_generation_frame(frame):
    _check_frame(
        frame,
        GENERATION_COLUMNS,
        needs=f"; plot_generation_shares needs {list(GENERATION_COLUMNS)} "
        "(clamped_generation's table)",
        numeric=("k", "rate", "rate_low", "rate_high"),
    )
    unknown = sorted(set(frame["units"]) - {"none", "top", "random"})
    if unknown:
        raise InputError(
            f"frame column 'units' holds {unknown}; expected 'none', 'top', 'random'."
        )


def plot_generation_shares(
    frame: pd.DataFrame,
    *,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Share of a character class in text generated with units clamped (paper Fig. 4).

    One panel per class: for every k, a bar for the top-k units clamped and one
    for random-k units clamped (averaged over draws), each with its 95% sampling
    interval (over generated samples) as an error bar; the share with no clamp is a
    black dashed line with its interval as a grey band. A top-k bar above the
    random-k bar and the band means clamping those units makes the model write
    more of that class.

    Parameters
    ----------
    frame : DataFrame
        :func:`~skdni.intervention.clamped_generation`'s table: columns ``k``,
        ``units`` (``"none"``, ``"top"``, ``"random"``), ``class``, ``rate``,
        ``rate_low``, ``rate_high`` (optional ``value``: the clamp value, shown in
        the title).
    classes : list of str, default=None
        Classes to draw, one panel each. All classes of ``frame`` by default.
    title : str, default=None
        Prefix of each panel's title (e.g. the clamped feature).
    ax : matplotlib Axes, default=None
        Axes to draw into (only with a single class).

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skdni.report import plot_generation_shares
    >>> frame = pd.DataFrame({
    ...     "k": [0, 5, 5], "units": ["none", "top", "random"],
    ...     "class": "digit", "rate": [0.30, 0.40, 0.31],
    ...     "rate_low": [0.28, 0.37, 0.29], "rate_high": [0.32, 0.43, 0.33]})
    >>> fig = plot_generation_shares(frame)
    >>> bars = [p for p in fig.axes[0].patches if p.get_gid()]  # top-5, random-5
    >>> [(p.get_gid(), round(float(p.get_height()), 2)) for p in bars]
    [('top:digit', 0.4), ('random:digit', 0.31)]
    """
    _check_generation_frame(frame)
    if title is not None and not isinstance(title, str):
        raise InputTypeError(f"title must be a str or None, got {title!r}.")
    names = _select(
        list(pd.unique(frame["class"])), classes, "classes", "the 'class' column"
    )
    if ax is not None and len(names) > 1:
        raise InputError(
            f"{len(names)} classes to draw; pass ax=None to get one panel per class, "
            "or select one with classes=[...]."
        )
    if ax is None:
        ncols = min(len(names), 3)
        nrows = math.ceil(len(names) / ncols)
        fig = Figure(figsize=(4.6 * ncols, 3.8 * nrows), layout="constrained")
        axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(len(names))]
    else:
        fig, axes = ax.figure, [ax]
    value = ""
    if "value" in frame.columns and frame["value"].nunique() == 1:
        value = f", clamped to {frame['value'].iloc[0]}"
    colors = {"top": _palette(2)[0], "random": _palette(2)[1]}
    for name, axis in zip(names, axes, strict=True):
        part = frame[frame["class"] == name]
        ks = sorted(int(k) for k in pd.unique(part["k"]) if k != 0)
        x = np.arange(len(ks))
        for offset, kind in ((-0.2, "top"), (0.2, "random")):
            rows = part[part["units"] == kind].set_index("k").reindex(ks)
            rate = rows["rate"].to_numpy(dtype=float)
            low = rows["rate_low"].to_numpy(dtype=float)
            high = rows["rate_high"].to_numpy(dtype=float)
            axis.bar(
                x + offset,
                rate,
                width=0.4,
                color=colors[kind],
                label=f"{kind}-k clamped",
                gid=f"{kind}:{name}",
            )
            err = np.vstack([rate - low, high - rate])
            axis.errorbar(
                x + offset,
                rate,
                yerr=np.clip(np.nan_to_num(err), 0.0, None),
                fmt="none",
                ecolor="black",
                capsize=3,
                linewidth=1,
            )
        none = part[part["units"] == "none"]
        if len(none):
            row = none.iloc[0]
            axis.axhline(
                float(row["rate"]),
                color="black",
                linestyle="--",
                linewidth=1,
                label="no clamp",
                gid=f"none:{name}",
            )
            if np.isfinite([row["rate_low"], row["rate_high"]]).all():
                axis.axhspan(
                    float(row["rate_low"]),
                    float(row["rate_high"]),
                    color="grey",
                    alpha=0.2,
                    linewidth=0,
                )
        axis.set_xticks(x, [str(k) for k in ks])
        axis.set_xlabel("k (units clamped)")
        # a single character is quoted: ")" reads as a character, not punctuation
        shown = repr(name) if len(str(name)) == 1 else str(name)
        axis.set_ylabel(f"share of {shown} in generated text")
        head = f"{title}: " if title else ""
        axis.set_title(f"{head}{shown}{value}", fontsize="medium")
        axis.grid(alpha=0.3, axis="y")
        axis.legend(fontsize="small")
    return fig


def _wrap_positions(text, width):
    """(line, column) of every character; lines end after ``\\n`` or ``width`` chars."""
    lines = np.empty(len(text), dtype=int)
    cols = np.empty(len(text), dtype=int)
    line = col = 0
    for i, ch in enumerate(text):
        if col == width:
            line, col = line + 1, 0
        lines[i], cols[i] = line, col
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
    return lines, cols


def _as_1d(values, name, n_chars):
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric.") from None
    if array.ndim != 1:
        raise InputError(
            f"{name} must be 1-D (one value per character), got shape {array.shape}."
        )
    if array.shape[0] != n_chars:
        raise InputError(
            f"{name} has {array.shape[0]} values but the text has {n_chars} "
            "characters; give one value per character."
        )
    return array


def plot_unit_over_text(
    text: str,
    activations,
    *,
    labels=None,
    unit_name: str = "",
    feature_name: str = "",
    width: int = 80,
    ax: Axes | None = None,
) -> Figure:
    """Draw a text with each character's background coloured by a unit's activation.

    The LSTMVis-style view of what a unit tracks: characters in a monospace grid,
    wrapped at ``width`` columns and after every newline, each on a cell coloured by
    the unit's activation after reading it (diverging colormap centred at 0, clipped
    to [-1, 1]). With ``labels``, a strip under each line shows the feature's label
    of each character (0 white to 1 green; NaN, an unlabelled character, grey).
    Spaces, newlines and tabs are drawn as ``·``, ``↵`` and ``→``.

    Parameters
    ----------
    text : str
        The sample text.
    activations : array-like of shape (len(text),)
        The unit's activation at every character. Values outside [-1, 1] (cell
        states) are clipped for colouring; NaN is drawn grey.
    labels : array-like of shape (len(text),), default=None
        The feature's labels in [0, 1]; NaN where the feature does not apply.
    unit_name, feature_name : str, default=""
        Shown in the title and colorbar labels.
    width : int, default=80
        Characters per line before wrapping.
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure sized to the text is created when None.

    Returns
    -------
    fig : matplotlib Figure
        ``fig.axes[0].images[0]`` is the RGBA cell image: row ``2 * line`` (or
        ``3 * line`` with labels) holds the activation cells of a text line, the row
        below it the label cells.

    Examples
    --------
    >>> from skdni.report import plot_unit_over_text
    >>> fig = plot_unit_over_text("(1+2)", [0.9, 0.1, -0.2, 0.3, -0.9],
    ...                           labels=[1, 1, 1, 1, 1], unit_name="h3")
    >>> fig.axes[0].images[0].get_array().shape  # 1 line: activations, labels, gap
    (3, 5, 4)
    """
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}.")
    if len(text) == 0:
        raise EmptyCorpusError("text is empty: there are no characters to draw.")
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 1:
        raise InputError(f"width must be a positive integer, got {width!r}.")
    acts = _as_1d(activations, "activations", len(text))
    labs = None if labels is None else _as_1d(labels, "labels", len(text))
    if labs is not None:
        bad = np.flatnonzero(~np.isnan(labs) & ((labs < 0) | (labs > 1)))
        if bad.size:
            raise InputError(
                f"labels must lie in [0, 1] (or be NaN); character {bad[0]} has label "
                f"{float(labs[bad[0]])!r}."
            )

    line_of, col_of = _wrap_positions(text, width)
    n_lines = int(line_of[-1]) + 1
    n_cols = int(min(width, col_of.max() + 1))
    pitch = 2 if labs is None else 3  # activation row, [label row,] blank gap row

    act_norm = Normalize(-1.0, 1.0)
    act_cmap = colormaps[ACTIVATION_CMAP]
    rgba = np.zeros((n_lines * pitch, n_cols, 4))  # transparent where no character
    colors = act_cmap(act_norm(np.clip(np.nan_to_num(acts), -1, 1)))
    colors[np.isnan(acts)] = to_rgba(UNLABELLED_COLOR)
    rgba[line_of * pitch, col_of] = colors
    if labs is not None:
        lab_cmap = colormaps[LABEL_CMAP]
        lab_colors = lab_cmap(np.nan_to_num(labs))
        lab_colors[np.isnan(labs)] = to_rgba(UNLABELLED_COLOR)
        rgba[line_of * pitch + 1, col_of] = lab_colors

    if ax is None:
        fig = Figure(
            figsize=(max(4.0, 0.13 * n_cols + 1.8), 0.9 + 0.2 * n_lines * pitch),
            layout="constrained",
        )
        ax = fig.add_subplot()
    else:
        fig, ax = _figure_and_axes(ax, None)
    ax.imshow(rgba, interpolation="nearest", aspect="auto", origin="upper")
    # Dark cells get white glyphs so every character stays legible.
    dark = np.abs(np.clip(np.nan_to_num(acts), -1, 1)) > 0.6
    for i, ch in enumerate(text):
        glyph = VISIBLE_WHITESPACE.get(ch, ch)
        whitespace = ch in VISIBLE_WHITESPACE
        ax.text(
            col_of[i],
            line_of[i] * pitch,
            glyph,
            ha="center",
            va="center",
            family="monospace",
            fontsize=8,
            color="white" if dark[i] else ("#777777" if whitespace else "black"),
        )
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    unit = unit_name or "unit"
    title = f"{unit} activation"
    if feature_name:
        title += f"; labels of {feature_name} underneath"
    ax.set_title(title, fontsize="medium")
    fig.colorbar(
        ScalarMappable(act_norm, act_cmap),
        ax=ax,
        fraction=0.04,
        pad=0.01,
        label=f"{unit} activation",
    )
    if labs is not None:
        fig.colorbar(
            ScalarMappable(Normalize(0.0, 1.0), colormaps[LABEL_CMAP]),
            ax=ax,
            fraction=0.04,
            pad=0.01,
            label=feature_name or "label",
        )
    return fig


def _window_around(center, start, end, text, window_chars):
    """``(lo, hi)`` of at most ``window_chars`` characters of ``text`` (which spans
    corpus positions ``start:end``) around ``center``, starting and ending at line
    ends when one is in reach."""
    lo = max(start, center - window_chars // 2)
    hi = min(end, lo + window_chars)
    lo = max(start, hi - window_chars)
    first_newline = text.find("\n", lo - start, center - start)
    if first_newline >= 0:
        lo = start + first_newline + 1
    last_newline = text.rfind("\n", center - start, hi - start)
    if last_newline >= 0:
        hi = start + last_newline + 1
    return lo, max(hi, center + 1)


def _span_starts(labels, starts):
    """Corpus positions where a run of positive labels begins."""
    positive = np.nan_to_num(labels) > 0.5
    begins = positive.copy()
    begins[1:] &= ~positive[:-1]
    begins[starts[:-1]] = positive[starts[:-1]]  # a text's first character
    return np.flatnonzero(begins)


def choose_windows(texts, activations, labels=None, *, n_windows=4, window_chars=320):
    """Short windows of a corpus worth looking at for one unit and one feature.

    Windows are centred, in turn, on the unit's strongest activations (largest
    absolute value) and on the starts of the feature's spans (labels > 0.5, spread
    over the corpus); a window never straddles two texts and never overlaps another.

    Parameters
    ----------
    texts : list of str
    activations : array-like of shape (n_chars,)
        The unit's activation at every character of the corpus.
    labels : array-like of shape (n_chars,), default=None
    n_windows : int, default=4
    window_chars : int, default=320
        Longest window, in characters.

    Returns
    -------
    windows : list of (text_index, lo, hi, reason)
        Corpus positions ``lo:hi`` (in text ``text_index``), in corpus order;
        ``reason`` is ``"strongest activation"`` or ``"feature span"``.

    Examples
    --------
    >>> from skdni.report._figures import choose_windows
    >>> choose_windows(["ab\\ncd", "ef"], [0, 0, 0, 0.9, 0, 0, -1], n_windows=2,
    ...                window_chars=3)
    [(0, 3, 5, 'strongest activation'), (1, 5, 7, 'strongest activation')]
    """
    acts = np.asarray(activations, dtype=float)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    if acts.shape != (int(starts[-1]),):
        raise InputError(
            f"activations has shape {acts.shape}; expected one value per character "
            f"of the texts ({int(starts[-1])},)."
        )
    strength = np.where(np.isnan(acts), -1.0, np.abs(acts))
    # the strongest few thousand positions are enough to find n distinct windows
    top = min(strength.size, 50 * window_chars * n_windows)
    strongest = np.argsort(-strength, kind="stable")[:top]
    spans = np.empty(0, dtype=np.int64)
    if labels is not None:
        labs = np.asarray(labels, dtype=float)
        begins = _span_starts(labs, starts)
        if begins.size:
            spread = np.linspace(0, begins.size - 1, min(begins.size, 4 * n_windows))
            spans = begins[spread.astype(int)]
    sources = [("strongest activation", list(strongest))]
    if spans.size:
        sources.append(("feature span", list(spans)))
    chosen, cursor = [], [0] * len(sources)
    while len(chosen) < n_windows and any(
        c < len(src) for c, (_, src) in zip(cursor, sources, strict=True)
    ):
        for k, (reason, candidates) in enumerate(sources):
            if len(chosen) == n_windows:
                break
            while cursor[k] < len(candidates):
                center = int(candidates[cursor[k]])
                cursor[k] += 1
                t = int(np.searchsorted(starts, center, side="right") - 1)
                lo, hi = _window_around(
                    center, int(starts[t]), int(starts[t + 1]), texts[t], window_chars
                )
                if all(hi <= a or lo >= b for _, a, b, _ in chosen):
                    chosen.append((t, lo, hi, reason))
                    break
    return sorted(chosen, key=lambda w: w[1])


def plot_unit_windows(
    texts,
    activations,
    *,
    labels=None,
    n_windows: int = 4,
    window_chars: int = 320,
    unit_name: str = "",
    feature_name: str = "",
    width: int = 80,
) -> Figure:
    """A unit over a whole corpus, as a few short windows (one panel each).

    :func:`plot_unit_over_text` of each window :func:`choose_windows` picks (around
    the unit's strongest activations and the feature's spans), so the figure stays
    a few inches tall whatever the size of the corpus.

    Parameters
    ----------
    texts : str or list of str
        The corpus (a string is one text); a window never straddles two texts.
    activations : array-like of shape (n_chars,)
        The unit's activation at every character.
    labels : array-like of shape (n_chars,), default=None
        The feature's labels, drawn under the text when given.
    n_windows : int, default=4
        Number of windows (panels).
    window_chars : int, default=320
        Characters per window.
    unit_name, feature_name : str, default=""
        Names in the panel titles.
    width : int, default=80
        Characters per line before wrapping.

    Returns
    -------
    fig : matplotlib Figure
        One axes per window (plus colorbars).

    Examples
    --------
    >>> from skdni.report import plot_unit_windows
    >>> text = "(1+2)\\n" * 200
    >>> fig = plot_unit_windows([text], [0.1] * 1000 + [0.9] + [0.1] * 199,
    ...                         n_windows=2, window_chars=60)
    >>> len(fig.axes[0].texts) <= 60
    True
    """
    if isinstance(texts, str):
        texts = [texts]
    for count in (n_windows, window_chars):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(
                f"n_windows and window_chars must be positive ints, got {count!r}."
            )
    acts = np.asarray(activations, dtype=float)
    labs = None if labels is None else np.asarray(labels, dtype=float)
    windows = choose_windows(
        texts, acts, labs, n_windows=n_windows, window_chars=window_chars
    )
    if not windows:
        raise EmptyCorpusError("texts is empty: there are no characters to draw.")
    starts = np.concatenate([[0], np.cumsum([len(t) for t in texts])])
    pieces = [texts[t][lo - starts[t] : hi - starts[t]] for t, lo, hi, _ in windows]
    heights = [
        (int(_wrap_positions(piece, width)[0][-1]) + 1) * (2 if labs is None else 3) + 3
        for piece in pieces
    ]
    n_cols = max(min(width, max(map(len, piece.split("\n")))) for piece in pieces)
    fig = Figure(
        figsize=(max(4.0, 0.13 * n_cols + 3.0), 0.5 + 0.2 * sum(heights)),
        layout="constrained",
    )
    grid = fig.add_gridspec(len(windows), 1, height_ratios=heights)
    for row, ((t, lo, hi, reason), piece) in enumerate(
        zip(windows, pieces, strict=True)
    ):
        ax = fig.add_subplot(grid[row])
        plot_unit_over_text(
            piece,
            acts[lo:hi],
            labels=None if labs is None else labs[lo:hi],
            unit_name=unit_name,
            feature_name=feature_name,
            width=width,
            ax=ax,
        )
        # one left-aligned title: the centred one of plot_unit_over_text would
        # overlap it on a short window
        ax.set_title("")
        ax.set_title(
            f"text {t}, characters {lo - starts[t]}-{hi - starts[t]} ({reason})",
            fontsize="small",
            loc="left",
        )
    return fig


def _default_heatmap_units(scores, top_k):
    order = []
    for _, row in scores.iterrows():
        best = row.dropna().sort_values(ascending=False, kind="stable").index[:top_k]
        order.extend(u for u in best if u not in order)
    return order


def plot_score_heatmap(
    scores: pd.DataFrame,
    *,
    units: Sequence[str] | None = None,
    top_k: int = 3,
    annotate: bool | None = None,
    skill: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of features x selected units, with a colorbar.

    With ``skill``, the colour is each pair's skill above chance (0 = chance or
    below, 1 = perfect) and the cells are annotated with the raw scores: raw scores
    are not comparable across features (a rare feature at chance has a high plain
    accuracy), skill is.

    Parameters
    ----------
    scores : DataFrame of shape (n_features, n_units)
        Mean cross-validated score per (feature, unit); index = features,
        columns = units.
    units : list of str, default=None
        Columns to show, in this order. By default, each feature's ``top_k`` best
        units, in order of first appearance (feature by feature, best first).
    top_k : int, default=3
        Units taken per feature when ``units`` is None.
    annotate : bool, default=None
        Write each score in its cell; by default only when there are at most 200
        cells.
    skill : DataFrame of shape (n_features, n_units), default=None
        Skill above chance of every (feature, unit), same index and columns as
        ``scores`` (e.g. ``NeuronProbeSearch.skill_``: (score − chance) / (1 −
        chance) for accuracy-like scores, the R² for R²). Colours then show the
        skill clipped to [0, 1]; cells still show the scores.
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure is created when None.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skdni.report import plot_score_heatmap
    >>> scores = pd.DataFrame([[0.9, 0.6, 0.55], [0.7, 0.8, 0.5]],
    ...                       index=["range:paren", "range:add"],
    ...                       columns=["h0", "h1", "h2"])
    >>> fig = plot_score_heatmap(scores, top_k=1)
    >>> fig.axes[0].images[0].get_array().shape  # 2 features x units h0, h1
    (2, 2)
    """
    _check_scores(scores)
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k!r}.")
    if units is None:
        units = _default_heatmap_units(scores, top_k)
        if not units:
            raise InputError("every score is NaN: there is no top unit to show.")
    else:
        units = _select(scores.columns, units, "units", "the columns of scores")
    data = scores[units].to_numpy(dtype=float)
    colour, norm, label = data, None, "score"
    if skill is not None:
        colour = _skill_matrix(skill, scores, units)
        norm, label = (
            Normalize(0.0, 1.0),
            "skill above chance (0 = chance, 1 = perfect)",
        )
    n_features, n_units = data.shape
    fig, ax = _figure_and_axes(
        ax, (max(4.5, 0.45 * n_units + 3.0), max(3.0, 0.35 * n_features + 1.5))
    )
    cmap = colormaps["viridis"].with_extremes(bad=UNLABELLED_COLOR)
    image = ax.imshow(np.ma.masked_invalid(colour), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(n_units), [str(u) for u in units], rotation=90)
    ax.set_yticks(range(n_features), [str(f) for f in scores.index])
    ax.set_xlabel("unit")
    ax.set_ylabel("feature")
    fig.colorbar(image, ax=ax, label=label)
    if annotate is None:
        annotate = data.size <= 200
    if annotate:
        finite = colour[np.isfinite(colour)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        if skill is not None:
            middle = 0.5
        for (i, j), value in np.ndenumerate(data):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if colour[i, j] > middle else "white",
                )
    return fig


def _skill_matrix(skill, scores, units):
    """The skill of the drawn cells, clipped to [0, 1] (below chance shows as 0)."""
    _check_scores(skill, "skill")
    if list(skill.index) != list(scores.index) or not set(units) <= set(skill.columns):
        raise InputError(
            "skill must have the rows of scores (the same features, same order) and "
            f"the drawn units as columns; got rows {list(skill.index)[:5]} for "
            f"{list(scores.index)[:5]}."
        )
    return np.clip(skill[list(units)].to_numpy(dtype=float), 0.0, 1.0)


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels, read from a PNG's header."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def figure_to_png_bytes(
    fig: Figure, dpi: int = 110, *, max_pixels: int = MAX_IMAGE_PIXELS
) -> bytes:
    """Render a figure to PNG bytes (for embedding in HTML or writing to disk).

    A figure that would be larger than ``max_pixels`` on a side at ``dpi`` is
    rendered at the lower resolution that fits.

    Parameters
    ----------
    fig : matplotlib Figure
        The figure to render.
    dpi : int, default=110
        Resolution, in dots per inch (lowered to respect ``max_pixels``).
    max_pixels : int, default=4000
        Longest side of the image, in pixels.

    Returns
    -------
    png : bytes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from skdni.report import figure_to_png_bytes
    >>> figure_to_png_bytes(Figure(figsize=(1, 1)))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    if not isinstance(fig, Figure):
        raise InputTypeError(
            f"fig must be a matplotlib Figure, got {type(fig).__name__}."
        )
    png = _render(fig, dpi)
    for _ in range(4):  # the tight bounding box changes a little with the dpi
        longest = max(png_size(png))
        if longest <= max_pixels:
            break
        dpi = dpi * (max_pixels - 8) / longest
        png = _render(fig, dpi)
    else:
        raise InputError(
            f"figure does not fit {max_pixels} pixels at any resolution tried."
        )
    return png


def _render(fig, dpi):
    buffer = io.BytesIO()
    # Agg directly: works whatever pyplot backend the user has selected.
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()
