"""The HTML report is one offline file with every figure, table and sample, escaped."""

import base64
import re
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import skdni
from skdni import InputError, InputTypeError
from skdni.report import (
    figure_to_png_bytes,
    save_figures,
    save_tables,
    software_versions,
    write_html_report,
)


class _Collector(HTMLParser):
    """Every start tag with its attributes, and the text of each <pre>."""

    def __init__(self):
        super().__init__()
        self.tags, self.pre, self._in_pre = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "pre":
            self._in_pre = True
            self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._in_pre:
            self.pre[-1] += data


def _figure(n_points):
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot(range(n_points))
    return fig


@pytest.fixture
def report(tmp_path):
    figures = {
        "sorted unit scores": _figure(3),
        "ablation <top-k>": _figure(4),
        "ablation <top-k>!": figure_to_png_bytes(_figure(5)),  # same slug: deduplicated
    }
    tables = {
        "summary": pd.DataFrame(
            {"feature": ["range:paren", "<script>"], "score": [0.91234567, 0.5]}
        ),
        "chance": pd.Series({"range:paren": 0.5}, name="chance"),
    }
    samples = {"clamped h3 = 1": ["(1+2)<3", "a & b\n c"]}
    path = write_html_report(
        tmp_path / "out" / "report.html",
        title="Study of <arithmetic>",
        parameters={"grammar": "arithmetic", "seed": 0, "units": "<128>"},
        tables=tables,
        figures=figures,
        samples=samples,
        notes="First paragraph <b>.\n\nSecond paragraph.",
    )
    return path, path.read_text(encoding="utf-8"), figures


def test_report_holds_every_figure_with_stable_ids(report):
    path, page, figures = report
    assert path.name == "report.html" and path.parent.name == "out"
    parser = _Collector()
    parser.feed(page)
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert [img["id"] for img in images] == [
        "figure-sorted-unit-scores",
        "figure-ablation-top-k",
        "figure-ablation-top-k-2",
    ]
    assert [img["data-figure"] for img in images] == list(figures)
    assert [img["alt"] for img in images] == list(figures)
    for img, name in zip(images, figures, strict=True):
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        png = base64.b64decode(img["src"][len(prefix) :])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        if isinstance(figures[name], bytes):
            assert png == figures[name]


def test_report_has_no_external_reference_and_only_inline_scripts(report):
    _, page, _ = report
    parser = _Collector()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in {"link", "iframe", "object", "embed"}
        if tag == "script":  # inline only (sortable tables), never loaded
            assert "src" not in attrs
        for key in ("src", "href"):
            if key in attrs:
                assert "http" not in attrs[key].lower()
                assert attrs[key].startswith(("#", "data:image/png;base64,"))
    assert not re.search(r"(?i)url\(|@import|//[a-z]", page.split("<body>")[0])


def test_report_tables_samples_and_text_are_escaped(report):
    _, page, _ = report
    parser = _Collector()
    parser.feed(page)
    sections = {a.get("data-table"): a["id"] for t, a in parser.tags if t == "section"}
    assert sections["summary"] == "table-summary"
    assert sections["chance"] == "table-chance"
    tables = [a for t, a in parser.tags if t == "table"]
    assert len(tables) == 4  # parameters, 2 results, versions
    assert all("skdni-table" in a["class"].split() for a in tables)
    assert "&lt;script&gt;" in page
    assert page.count("<script>") == 1  # the sortable tables' own script, nothing else
    assert ">0.912</td>" in page and ">0.9123" not in page  # 3 significant digits
    assert parser.pre == ["(1+2)<3", "a & b\n c"]  # decoded text equals the sample
    assert "(1+2)&lt;3" in page and "a &amp; b" in page
    assert "<title>Study of &lt;arithmetic&gt;</title>" in page
    assert "<p>First paragraph &lt;b&gt;.</p>" in page
    assert "<td>&lt;128&gt;</td>" in page


def test_report_lists_parameters_and_versions(report):
    _, page, _ = report
    assert '<section id="parameters">' in page
    assert "<th>grammar</th><td>arithmetic</td>" in page
    assert f"<th>skdni</th><td>{skdni.__version__}</td>" in page
    for name in ["python", "numpy", "scikit-learn", "keras", "jax", "lark", "pandas"]:
        assert f"<th>{name}</th>" in page
    assert "<th>matplotlib</th>" in page and "<th>keras backend</th>" in page


def test_software_versions_does_not_import_keras(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    versions = software_versions()
    assert "keras" not in sys.modules
    assert versions["keras backend"] == "jax (Keras not imported)"
    assert versions["numpy"] == np.__version__
    assert versions["pandas"] == pd.__version__


def test_software_versions_reads_an_imported_keras(monkeypatch):
    class _Backend:
        @staticmethod
        def backend():
            return "fake-backend"

    class _Keras:
        backend = _Backend

    monkeypatch.setitem(sys.modules, "keras", _Keras)
    assert software_versions()["keras backend"] == "fake-backend"


def test_report_bad_input(tmp_path):
    good = {"title": "t", "parameters": {}, "tables": {}, "figures": {}}
    out = tmp_path / "r.html"
    with pytest.raises(InputTypeError, match="figure 'bad' must be a matplotlib"):
        write_html_report(out, **{**good, "figures": {"bad": b"GIF89a"}})
    with pytest.raises(InputTypeError, match="table 'bad' must be a pandas"):
        write_html_report(out, **{**good, "tables": {"bad": [[1, 2]]}})
    with pytest.raises(InputTypeError, match="samples\\['s'\\] must be a list of str"):
        write_html_report(out, **good, samples={"s": "one string"})
    with pytest.raises(InputTypeError, match="parameters must be a dict"):
        write_html_report(out, **{**good, "parameters": [("seed", 0)]})
    with pytest.raises(InputError, match="is a folder"):
        write_html_report(tmp_path, **good)
    assert not out.exists()
    assert write_html_report(out, **good).exists()  # an empty report is still valid


def test_save_figures_and_tables(tmp_path):
    figures = {"Sorted unit scores": _figure(3), "sorted unit scores?": _figure(4)}
    paths = save_figures(figures, tmp_path / "figures", dpi=40)
    assert [p.name for p in paths.values()] == [
        "sorted-unit-scores.png",
        "sorted-unit-scores-2.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths.values())
    table = pd.DataFrame({"score": [0.5, 0.75]}, index=["h1", "h2"])
    (csv,) = save_tables({"top units": table}, tmp_path / "tables").values()
    assert csv.name == "top-units.csv"
    pd.testing.assert_frame_equal(pd.read_csv(csv, index_col=0), table)
    with pytest.raises(InputTypeError, match="table 'x'"):
        save_tables({"x": "not a table"}, tmp_path)


def test_samples_caption_says_how_the_samples_were_made(tmp_path):
    kwargs = dict(title="t", parameters={}, tables={}, figures={})
    samples = {"top-5": ["((1))"]}
    path = write_html_report(
        tmp_path / "a.html",
        samples=samples,
        samples_caption="top-5: the top 5 units of <e1> held at 'on'",
        **kwargs,
    )
    page = path.read_text()
    caption = page.index("the top 5 units of &lt;e1&gt; held at")
    assert page.index('id="samples"') < caption < page.index("((1))")
    # no caption given: none shown
    plain = write_html_report(tmp_path / "b.html", samples=samples, **kwargs)
    assert "samples-caption" not in plain.read_text()
