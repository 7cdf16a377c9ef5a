"""The report stays bounded whatever the corpus (issue 10): short windows of text,
images of at most 4,000 pixels a side, tables of at most max_table_rows rows."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from skdni import InputError
from skdni.report import (
    figure_to_png_bytes,
    plot_score_heatmap,
    plot_unit_scores,
    plot_unit_windows,
    write_html_report,
)
from skdni.report._figures import MAX_IMAGE_PIXELS, choose_windows, png_size


def _decoded_size(png):
    # decoding the whole image: PIL refuses decompression bombs, browsers choke
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.size


def _corpus(n_texts=40, lines=60, seed=0):
    rng = np.random.default_rng(seed)
    texts = [
        "".join(f"line {t}.{i} = f(x[{i}])  # c\n" for i in range(lines))
        for t in range(n_texts)
    ]
    n = sum(map(len, texts))
    acts = np.tanh(rng.normal(size=n) * 0.3)
    labels = np.zeros(n)
    return texts, acts, labels


def test_a_tall_figure_is_rendered_within_the_pixel_bound():
    fig = Figure(figsize=(3, 200))  # 22,000 px tall at 110 dpi
    fig.add_subplot().plot([0, 1])
    png = figure_to_png_bytes(fig)
    assert max(_decoded_size(png)) <= MAX_IMAGE_PIXELS
    assert _decoded_size(png) == png_size(png)
    assert max(png_size(png)) > 0.9 * MAX_IMAGE_PIXELS  # not shrunk more than needed
    small = figure_to_png_bytes(fig, max_pixels=3000)
    assert max(_decoded_size(small)) <= 3000


def test_a_small_figure_keeps_its_resolution():
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1])
    assert png_size(figure_to_png_bytes(fig, dpi=100)) == png_size(
        figure_to_png_bytes(fig, dpi=100, max_pixels=10**6)
    )


def test_windows_around_the_strongest_activations_and_the_spans():
    texts, acts, labels = _corpus()
    offsets = np.cumsum([0] + [len(t) for t in texts])
    strongest = offsets[7] + 500
    acts[strongest] = 5.0
    span = slice(offsets[30] + 100, offsets[30] + 120)
    labels[span] = 1
    windows = choose_windows(texts, acts, labels, n_windows=4, window_chars=300)
    assert len(windows) == 4
    reasons = [w[3] for w in windows]
    assert reasons.count("feature span") >= 1
    assert any(lo <= strongest < hi and t == 7 for t, lo, hi, _ in windows)
    assert any(lo <= span.start < hi and t == 30 for t, lo, hi, _ in windows)
    for t, lo, hi, _ in windows:
        assert offsets[t] <= lo < hi <= offsets[t + 1]  # inside one text
        assert hi - lo <= 300
        # windows start at a line start
        assert lo == offsets[t] or texts[t][lo - offsets[t] - 1] == "\n"
    spans = sorted((lo, hi) for _, lo, hi, _ in windows)
    assert all(a[1] <= b[0] for a, b in zip(spans[:-1], spans[1:], strict=True))


@pytest.mark.parametrize("n_texts", [2, 400])
def test_unit_over_a_whole_corpus_stays_a_few_windows(n_texts):
    texts, acts, labels = _corpus(n_texts=n_texts)
    labels[::7] = 1
    fig = plot_unit_windows(
        texts, acts, labels=labels, unit_name="h3", feature_name="range:x"
    )
    text_artists = sum(len(ax.texts) for ax in fig.axes)
    assert text_artists <= 4 * 320  # characters drawn: the windows only
    width, height = _decoded_size(figure_to_png_bytes(fig))
    assert max(width, height) <= MAX_IMAGE_PIXELS


def test_unit_windows_refuse_mismatched_activations():
    with pytest.raises(InputError, match="one value per character"):
        plot_unit_windows(["abc"], [0.1, 0.2])
    with pytest.raises(InputError, match="positive ints"):
        plot_unit_windows(["abc"], [0.1, 0.2, 0.3], n_windows=0)


def test_many_features_and_units_stay_within_the_pixel_bound():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(
        rng.uniform(size=(150, 128)),
        index=[f"range:rule{i}" for i in range(150)],
        columns=[f"h{i}" for i in range(128)],
    )
    # 8 panels of scores; a heatmap 150 x 128 would be 6,000 x 5,800 px at 110 dpi
    for fig in (plot_unit_scores(scores.iloc[:80]), plot_score_heatmap(scores)):
        assert max(_decoded_size(figure_to_png_bytes(fig))) <= MAX_IMAGE_PIXELS


def test_html_tables_are_capped(tmp_path):
    table = pd.DataFrame({"x": np.arange(1000.0)})
    path = write_html_report(
        tmp_path / "r.html",
        title="t",
        parameters={},
        tables={"big": table},
        figures={},
        max_table_rows=50,
    )
    section = path.read_text().split('data-table="big"')[1].split("</section>")[0]
    assert "The first 50 of 1,000 rows." in section
    # a header row and 50 rows (a plain row number is not shown)
    assert (
        section.count("<tr>") == 51
        and ">49</td>" in section
        and ">50</td>" not in section
    )
    full = write_html_report(
        tmp_path / "f.html",
        title="t",
        parameters={},
        tables={"big": table},
        figures={},
        max_table_rows=None,
    )
    section = full.read_text().split('data-table="big"')[1].split("</section>")[0]
    assert section.count("<tr>") == 1001 and "The first" not in section
