"""Figures carry the artists a reader relies on, and refuse bad input by name."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from skdni import EmptyCorpusError, InputError, InputTypeError
from skdni.report import (
    figure_to_png_bytes,
    plot_ablation_curves,
    plot_generation_shares,
    plot_score_heatmap,
    plot_unit_over_text,
    plot_unit_scores,
    plot_units_above_threshold,
)

SCORES = pd.DataFrame(
    [[0.9, 0.6, 0.55, 0.7], [0.7, 0.8, 0.5, np.nan], [0.51, 0.52, 0.53, 0.99]],
    index=["range:paren", "range:add", "impulse:mul"],
    columns=["h0", "h1", "h2", "h3"],
)


def _lines(ax, prefix):
    return [line for line in ax.lines if str(line.get_gid()).startswith(prefix)]


def _ablation_frame(modes=("zero",), features=None):
    rows = []
    for feature in features or [None]:
        for mode in modes:
            for k, drop in [(10, 0.3), (1, 0.02), (5, 0.1)]:  # unsorted on purpose
                row = {
                    "k": k,
                    "baseline": 0.9,
                    "top": 0.9 - drop,
                    "random_mean": 0.9 - drop / 10,
                    "random_low": 0.88 - drop / 5,
                    "random_high": 0.9,
                    "mode": mode,
                }
                if feature is not None:
                    row["feature"] = feature
                rows.append(row)
    return pd.DataFrame(rows)


def test_no_pyplot_state_is_created():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_unit_scores(SCORES)
    plot_score_heatmap(SCORES)
    plot_unit_over_text("ab", [0.1, -0.1])
    plot_ablation_curves(_ablation_frame())
    assert plt.get_fignums() == before


# -- plot_unit_scores --------------------------------------------------------------


def test_unit_scores_one_sorted_line_per_feature_and_chance_lines():
    fig = plot_unit_scores(SCORES, chance={"range:paren": 0.5, "range:add": 0.6})
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    score_lines = _lines(ax, "scores:")
    chance_lines = _lines(ax, "chance:")
    assert len(ax.lines) == 5
    assert [line.get_label() for line in score_lines] == list(SCORES.index)
    paren = score_lines[0]
    np.testing.assert_array_equal(paren.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(paren.get_ydata(), [0.9, 0.7, 0.6, 0.55])
    # NaN scores are dropped, not drawn as a gap at rank 4.
    np.testing.assert_allclose(score_lines[1].get_ydata(), [0.8, 0.7, 0.5])
    assert [line.get_gid() for line in chance_lines] == [
        "chance:range:paren",
        "chance:range:add",
    ]
    for chance_line, score_line in zip(chance_lines, score_lines, strict=False):
        assert chance_line.get_linestyle() == "--"
        assert chance_line.get_color() == score_line.get_color()
    assert chance_lines[1].get_ydata()[0] == pytest.approx(0.6)
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend_texts == [*SCORES.index, "chance level"]


def test_unit_scores_features_and_top_k_select():
    chance = pd.Series({"impulse:mul": 0.5})
    fig = plot_unit_scores(SCORES, chance=chance, features=["impulse:mul"], top_k=2)
    (ax,) = fig.axes
    (line,) = _lines(ax, "scores:")
    np.testing.assert_allclose(line.get_ydata(), [0.99, 0.53])
    assert len(_lines(ax, "chance:")) == 1


def test_unit_scores_many_features_split_over_panels():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.uniform(size=(23, 5)), index=[f"f{i}" for i in range(23)])
    fig = plot_unit_scores(scores)
    assert len(fig.axes) == 3
    assert [len(ax.lines) for ax in fig.axes] == [10, 10, 3]


def test_unit_scores_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_unit_scores(SCORES, ax=ax) is fig
    assert len(ax.lines) == 3


@pytest.mark.parametrize(
    "scores, error, match",
    [
        (SCORES.to_numpy(), InputTypeError, "must be a pandas DataFrame"),
        (pd.DataFrame(), InputError, "empty"),
        (SCORES.iloc[:, :0], InputError, "0 units"),
        (SCORES.astype(object).assign(h0="x"), InputError, "numeric"),
    ],
)
def test_unit_scores_bad_scores(scores, error, match):
    with pytest.raises(error, match=match):
        plot_unit_scores(scores)


def test_unit_scores_bad_options():
    with pytest.raises(InputError, match=r"\['nope'\] not found"):
        plot_unit_scores(SCORES, features=["range:add", "nope"])
    with pytest.raises(InputError, match="top_k"):
        plot_unit_scores(SCORES, top_k=0)
    many = pd.DataFrame(np.ones((11, 2)), index=[f"f{i}" for i in range(11)])
    with pytest.raises(InputError, match="11 features"):
        plot_unit_scores(many, ax=Figure().add_subplot())
    with pytest.raises(InputTypeError, match="Axes"):
        plot_score_heatmap(SCORES, ax="not an axes")


# -- plot_ablation_curves -----------------------------------------------------------


def test_ablation_curves_lines_band_and_baseline():
    fig = plot_ablation_curves(_ablation_frame())
    (ax,) = fig.axes
    (top,) = _lines(ax, "top:")
    (random,) = _lines(ax, "random:")
    (baseline,) = _lines(ax, "baseline:")
    np.testing.assert_array_equal(top.get_xdata(), [1, 5, 10])  # sorted by k
    np.testing.assert_allclose(top.get_ydata(), [0.88, 0.8, 0.6])
    assert top.get_marker() == "o"
    assert random.get_linestyle() == "--"
    np.testing.assert_allclose(random.get_ydata(), [0.898, 0.89, 0.87])
    assert baseline.get_ydata()[0] == pytest.approx(0.9)
    assert baseline.get_linestyle() == "--"
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    vertices = bands[0].get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(0.88 - 0.3 / 5)
    assert vertices[:, 1].max() == pytest.approx(0.9)
    # no metric column: the axis does not claim a metric
    assert ax.get_ylabel() == "score"


def test_ablation_curves_name_the_metric_on_the_axis():
    frame = pd.concat(
        [
            _ablation_frame().assign(metric="class_accuracy"),
            _ablation_frame().assign(metric="class_cross_entropy"),
        ]
    )
    fig = plot_ablation_curves(frame)
    # one panel per metric: two metrics never share a y axis
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "next-char class accuracy (class mass)",
        "next-char class cross-entropy (nats, lower is better)",
    ]
    (ax,) = plot_ablation_curves(frame.iloc[:3], ylabel="my metric").axes
    assert ax.get_ylabel() == "my metric"
    with pytest.raises(InputTypeError, match="ylabel"):
        plot_ablation_curves(frame, ylabel=3)


def test_ablation_curves_facets_per_feature_and_lines_per_mode():
    frame = _ablation_frame(modes=("zero", "oracle"), features=["digit", "paren"])
    fig = plot_ablation_curves(frame, ylabel="loss")
    assert [ax.get_title() for ax in fig.axes] == ["digit", "paren"]
    for ax in fig.axes:
        assert len(_lines(ax, "top:")) == 2
        assert len(ax.collections) == 2
        assert ax.get_ylabel() == "loss"
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "top-k (oracle)" in labels and "no intervention" in labels


def test_ablation_curves_of_one_k_show_the_random_interval_as_an_error_bar():
    """A feature with one unit above chance is ablated at k = 1 only: a band of
    one k would have no width, so the random interval is an error bar, and the x
    axis shows that k."""
    frame = _ablation_frame().query("k == 1")
    (ax,) = plot_ablation_curves(frame).axes
    (random,) = _lines(ax, "random:")
    assert random.get_marker() == "s"
    (bar,) = [c for c in ax.collections if str(c.get_gid()).startswith("band:")]
    (segment,) = bar.get_segments()
    row = frame.iloc[0]
    np.testing.assert_allclose(segment[:, 1], [row.random_low, row.random_high])
    assert list(ax.get_xticks()) == [1] and ax.get_xlim() == (0, 2)
    # draws that all score the same: a rounding-sized interval around the mean
    same = frame.assign(random_mean=0.1 + 0.2, random_low=0.3, random_high=0.3)
    plot_ablation_curves(same)


def test_ablation_curves_of_one_k_with_identical_draws():
    """Identical random draws: their mean can round an ulp outside the 2.5/97.5
    percentiles (a random summary of [x, x, x]); the error bar is still drawn."""
    mean = 0.1
    frame = (
        _ablation_frame()
        .query("k == 1")
        .assign(random_mean=mean, random_low=np.nextafter(mean, 1.0), random_high=mean)
    )
    (ax,) = plot_ablation_curves(frame).axes
    (bar,) = [c for c in ax.collections if str(c.get_gid()).startswith("band:")]
    (segment,) = bar.get_segments()
    np.testing.assert_allclose(segment[:, 1], [mean, mean])


def test_ablation_curves_without_random_draws_has_no_band():
    frame = _ablation_frame(modes=("oracle",))
    frame[["random_mean", "random_low", "random_high"]] = np.nan
    (ax,) = plot_ablation_curves(frame).axes
    assert len(_lines(ax, "top:")) == 1
    assert _lines(ax, "random:") == []
    assert len(ax.collections) == 0


@pytest.mark.parametrize("missing", ["k", "random_low", "top"])
def test_ablation_curves_missing_column_is_named(missing):
    with pytest.raises(InputError, match=rf"missing column\(s\) \['{missing}'\]"):
        plot_ablation_curves(_ablation_frame().drop(columns=missing))


def test_ablation_curves_bad_frames():
    with pytest.raises(InputTypeError, match="DataFrame"):
        plot_ablation_curves({"k": [1]})
    with pytest.raises(InputError, match="no rows"):
        plot_ablation_curves(_ablation_frame().iloc[:0])
    with pytest.raises(InputError, match="'top' must be numeric"):
        plot_ablation_curves(_ablation_frame().assign(top="high"))
    two = _ablation_frame(features=["a", "b"])
    with pytest.raises(InputError, match=r"2 \(feature, metric\) pairs"):
        plot_ablation_curves(two, ax=Figure().add_subplot())


# -- plot_unit_over_text ------------------------------------------------------------


def _pixel(fig, ax, x, y):
    """RGB (0-1) of the rendered figure at data coordinates (x, y)."""
    fig.canvas.draw()
    buffer = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    row = buffer.shape[0] - int(round(py))
    return buffer[row, int(round(px)), :3] / 255


def test_unit_over_text_colours_follow_activation_sign():
    text = "ab\ncd"
    acts = [0.9, -0.9, 0.0, -0.8, 0.8]
    labels = [1.0, 0.0, np.nan, 0.5, 1.0]
    fig = plot_unit_over_text(text, acts, labels=labels, unit_name="h3")
    FigureCanvasAgg(fig)  # to read rendered pixels back
    ax = fig.axes[0]
    rgba = ax.images[0].get_array()
    # "ab↵" on line 0 (rows 0-2), "cd" on line 1 (rows 3-5); 3 columns.
    assert rgba.shape == (6, 3, 4)
    a, b, newline = rgba[0, 0], rgba[0, 1], rgba[0, 2]
    c, d = rgba[3, 0], rgba[3, 1]
    assert a[0] > a[2] + 0.3 and d[0] > d[2] + 0.3  # positive: red
    assert b[2] > b[0] + 0.3 and c[2] > c[0] + 0.3  # negative: blue
    np.testing.assert_allclose(newline[:3], newline[0], atol=0.03)  # 0: near white
    assert rgba[3, 2, 3] == 0  # no character there: transparent
    assert rgba[5].sum() == 0  # gap row under the last line
    # Labels strip: 1 is darker green than 0.5, 0 is near white, NaN is grey.
    assert rgba[1, 0, 1] > rgba[1, 0, 0] and rgba[1, 0, 0] < rgba[4, 0, 0]
    assert rgba[1, 1, :3].min() > 0.9
    np.testing.assert_allclose(rgba[1, 2, :3], 200 / 255)
    # The rendered picture agrees: sample the cell near its corner, off the glyph.
    red = _pixel(fig, ax, -0.35, -0.35)
    blue = _pixel(fig, ax, 0.65, -0.35)
    assert red[0] > red[2] + 0.3 and blue[2] > blue[0] + 0.3
    glyphs = [t.get_text() for t in ax.texts]
    assert glyphs == ["a", "b", "↵", "c", "d"]


def test_unit_over_text_wraps_and_shows_spaces():
    text = "x y" * 30  # 90 characters, wraps at 40
    fig = plot_unit_over_text(text, np.zeros(len(text)), width=40)
    rgba = fig.axes[0].images[0].get_array()
    assert rgba.shape == (3 * 2, 40, 4)  # 3 lines, no label strip: act + gap rows
    assert rgba[4, 9, 3] == 1 and rgba[4, 10, 3] == 0  # last line: 10 characters
    glyphs = [t.get_text() for t in fig.axes[0].texts]
    assert glyphs[:4] == ["x", "·", "y", "x"]
    positions = [t.get_position() for t in fig.axes[0].texts]
    assert positions[40] == (0, 2)  # character 40 starts line 1 (row 2)


def test_unit_over_text_bad_input():
    with pytest.raises(InputError, match="3 values but the text has 4 characters"):
        plot_unit_over_text("abcd", [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="labels has 5 values .* 4 characters"):
        plot_unit_over_text("abcd", np.zeros(4), labels=np.zeros(5))
    with pytest.raises(InputError, match="character 2 has label 2.0"):
        plot_unit_over_text("abcd", np.zeros(4), labels=[0, 1, 2, np.nan])
    with pytest.raises(InputError, match="1-D"):
        plot_unit_over_text("ab", np.zeros((2, 1)))
    with pytest.raises(EmptyCorpusError, match="empty"):
        plot_unit_over_text("", [])
    with pytest.raises(InputTypeError, match="must be a str"):
        plot_unit_over_text(["ab"], [0, 0])
    with pytest.raises(InputError, match="width"):
        plot_unit_over_text("ab", [0, 0], width=0)


# -- plot_score_heatmap -------------------------------------------------------------


def test_heatmap_default_units_are_each_features_top_units():
    fig = plot_score_heatmap(SCORES, top_k=1)
    ax = fig.axes[0]
    image = ax.images[0]
    # Best units: range:paren -> h0, range:add -> h1, impulse:mul -> h3.
    assert image.get_array().shape == (3, 3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["h0", "h1", "h3"]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(SCORES.index)
    assert image.get_array()[2, 2] == pytest.approx(0.99)
    assert image.get_array().mask[1, 2]  # the NaN score is masked (shown grey)
    assert len(fig.axes) == 2  # the colorbar
    annotations = [t.get_text() for t in ax.texts]
    assert len(annotations) == 8 and "0.99" in annotations


def test_heatmap_explicit_units_and_no_annotation():
    fig = plot_score_heatmap(SCORES, units=["h2", "h0"], annotate=False)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), SCORES[["h2", "h0"]])
    assert len(ax.texts) == 0
    with pytest.raises(InputError, match=r"\['h9'\] not found"):
        plot_score_heatmap(SCORES, units=["h9"])
    with pytest.raises(InputTypeError, match="DataFrame"):
        plot_score_heatmap([[1.0]])


def test_figure_to_png_bytes():
    fig = plot_score_heatmap(SCORES)
    png = figure_to_png_bytes(fig, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width_50 = int.from_bytes(png[16:20], "big")
    width_100 = int.from_bytes(figure_to_png_bytes(fig, dpi=100)[16:20], "big")
    assert width_100 == pytest.approx(2 * width_50, abs=3)
    with pytest.raises(InputTypeError, match="Figure"):
        figure_to_png_bytes(b"png")


def test_heatmap_colours_skill_and_writes_scores():
    # a rare feature at chance has a high raw score; its skill is 0
    scores = pd.DataFrame(
        [[0.95, 0.94], [0.9, 0.6]], index=["rare", "paren"], columns=["h0", "h1"]
    )
    skill = pd.DataFrame(
        [[0.0, -0.1], [0.8, 0.2]], index=scores.index, columns=scores.columns
    )
    fig = plot_score_heatmap(scores, units=["h0", "h1"], skill=skill)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.0, 0.0], [0.8, 0.2]])
    assert ax.images[0].norm.vmin == 0 and ax.images[0].norm.vmax == 1
    assert [t.get_text() for t in ax.texts] == ["0.95", "0.94", "0.90", "0.60"]
    assert "skill above chance" in fig.axes[1].get_ylabel()
    with pytest.raises(InputError, match="skill must have the rows of scores"):
        plot_score_heatmap(scores, units=["h0"], skill=skill.iloc[::-1])
    with pytest.raises(InputTypeError, match="skill must be a pandas DataFrame"):
        plot_score_heatmap(scores, skill=skill.to_numpy())


def test_units_above_threshold_counts_per_feature_and_threshold():
    skill = pd.DataFrame(
        [[0.9, 0.6, 0.1, np.nan], [0.3, 0.0, 0.26, 0.8]],
        index=["range:paren", "range:add"],
        columns=["h0", "h1", "h2", "h3"],
    )
    fig = plot_units_above_threshold(skill, thresholds=(0.25, 0.5, 0.75))
    (ax,) = fig.axes
    counts = {
        gid: [int(p.get_width()) for p in ax.patches if p.get_gid() == gid]
        for gid in ("threshold:0.25", "threshold:0.5", "threshold:0.75")
    }
    assert counts == {
        "threshold:0.25": [2, 3],
        "threshold:0.5": [2, 1],
        "threshold:0.75": [1, 1],
    }
    assert [t.get_text() for t in ax.get_yticklabels()] == ["range:paren", "range:add"]
    assert ax.get_xlabel() == "units (of 4) with skill \u2265 threshold"
    (ax,) = plot_units_above_threshold(skill, features=["range:add"]).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["range:add"]


@pytest.mark.parametrize(
    "thresholds", [(), (0.5, 0.25), (0.0,), (1.5,), ("x",), (np.nan,)]
)
def test_units_above_threshold_bad_thresholds(thresholds):
    with pytest.raises(InputError, match="thresholds must be"):
        plot_units_above_threshold(SCORES, thresholds=thresholds)


def test_units_above_threshold_bad_input():
    with pytest.raises(InputTypeError, match="skill must be a pandas DataFrame"):
        plot_units_above_threshold(SCORES.to_numpy())
    with pytest.raises(InputError, match=r"features \['nope'\] not found"):
        plot_units_above_threshold(SCORES, features=["nope"])


def _generation_frame():
    rows = [(0, "none", 0.30, 0.28, 0.32)]
    rows += [(1, "top", 0.33, 0.30, 0.36), (1, "random", 0.30, 0.29, 0.31)]
    rows += [(5, "top", 0.45, 0.41, 0.49), (5, "random", 0.31, 0.29, 0.33)]
    frame = pd.DataFrame(rows, columns=["k", "units", "rate", "rate_low", "rate_high"])
    other = frame.assign(
        rate=1 - frame["rate"],
        rate_low=1 - frame["rate_high"],
        rate_high=1 - frame["rate_low"],
        class_="paren",
    )
    frame = pd.concat([frame.assign(class_="digit"), other], ignore_index=True)
    return frame.rename(columns={"class_": "class"}).assign(value="on")


def test_generation_shares_bars_intervals_and_no_clamp_line():
    fig = plot_generation_shares(_generation_frame(), classes=["digit"], title="next")
    (ax,) = fig.axes
    top = [p.get_height() for p in ax.patches if p.get_gid() == "top:digit"]
    random = [p.get_height() for p in ax.patches if p.get_gid() == "random:digit"]
    np.testing.assert_allclose(top, [0.33, 0.45])
    np.testing.assert_allclose(random, [0.30, 0.31])
    (none,) = _lines(ax, "none:")
    assert none.get_ydata()[0] == pytest.approx(0.30)
    # the error bars span each bar's sampling interval
    caps = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    segments = caps[0].lines[2][0].get_segments()
    np.testing.assert_allclose(
        [s[:, 1] for s in segments], [[0.30, 0.36], [0.41, 0.49]]
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "5"]
    assert ax.get_ylabel() == "share of digit in generated text"
    assert ax.get_title() == "next: digit, clamped to on"
    assert len(plot_generation_shares(_generation_frame()).axes) == 2


def test_generation_shares_bad_input():
    frame = _generation_frame()
    with pytest.raises(InputTypeError, match="DataFrame"):
        plot_generation_shares(frame.to_dict())
    with pytest.raises(InputError, match=r"missing column\(s\) \['rate_low'\]"):
        plot_generation_shares(frame.drop(columns="rate_low"))
    with pytest.raises(InputError, match="no rows"):
        plot_generation_shares(frame.iloc[:0])
    with pytest.raises(InputError, match="'units' holds \\['all'\\]"):
        plot_generation_shares(frame.assign(units="all"))
    with pytest.raises(InputError, match=r"classes \['space'\] not found"):
        plot_generation_shares(frame, classes=["space"])
    with pytest.raises(InputError, match="2 classes"):
        plot_generation_shares(frame, ax=Figure().add_subplot())
