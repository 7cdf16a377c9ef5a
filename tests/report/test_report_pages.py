"""The report's reading aids: findings sentences, chance ties, unit pages, text view."""

import base64
import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from skdni._study import _figures_and_captions
from skdni._study_report import ablation_sentences, generation_sentence, unit_file_names
from skdni.report import (
    text_view_data,
    top_contexts,
    unit_histogram_svg,
    write_html_report,
    write_unit_page,
)
from skdni.report._html import collapse_chance_ties


def _ablation(top, low=0.80, high=0.84, mode="zero"):
    return pd.DataFrame(
        {
            "k": [1, 5],
            "baseline": 0.84,
            "top": [0.84, top],
            "random_mean": 0.83,
            "random_low": low,
            "random_high": high,
            "metric": "class_accuracy",
            "mode": mode,
            "feature": "range:digit",
        }
    )


@pytest.mark.parametrize(
    "top, effect, words",
    [
        (0.76, "found", "top 5 units lowers next-character class accuracy 0.84 → 0.76"),
        (0.82, "none", "no more than random units do"),
        (0.90, "opposite", "raises next-character class accuracy 0.84 → 0.9"),
        (0.845, "opposite", "the opposite of the expected effect"),
    ],
)
def test_ablation_sentence_says_found_none_or_opposite(top, effect, words):
    (sentence,) = ablation_sentences(_ablation(top), "range:digit")
    assert sentence["effect"] == effect and sentence["k"] == 5, sentence
    assert words in sentence["text"]
    assert "(random 5: 0.83 [0.8, 0.84])" in sentence["text"]
    if effect == "opposite":
        assert "opposite" in sentence["text"]


def test_zeroing_that_lowers_less_than_random_units_is_no_effect():
    (sentence,) = ablation_sentences(
        _ablation(0.835, low=0.80, high=0.83), "range:digit"
    )
    assert sentence["effect"] == "none"
    assert sentence["text"].endswith(
        "0.84 → 0.835 (random 5: 0.83 [0.8, 0.83]): less than random units do"
    )


def test_cross_entropy_rising_under_ablation_is_the_expected_effect():
    frame = _ablation(1.9, low=1.5, high=1.6).assign(
        metric="cross_entropy", baseline=1.5, random_mean=1.55
    )
    (sentence,) = ablation_sentences(frame, "range:digit")
    assert sentence["effect"] == "found"
    assert "raises cross-entropy (nats, lower is better) 1.5 → 1.9" in sentence["text"]


def test_oracle_without_random_draws_compares_with_no_intervention():
    frame = _ablation(0.75, low=np.nan, high=np.nan, mode="oracle")
    frame["random_mean"] = np.nan
    (sentence,) = ablation_sentences(frame, "range:digit")
    assert sentence["effect"] == "none"
    assert "(oracle) lowers next-character class accuracy" in sentence["text"]
    assert "random" not in sentence["text"]


def test_a_change_too_small_for_three_digits_is_printed_with_more():
    frame = _ablation(0.84012, low=np.nan, high=np.nan, mode="oracle")
    frame["random_mean"] = np.nan
    (sentence,) = ablation_sentences(frame, "range:digit")
    assert "raises next-character class accuracy 0.84 → 0.8401" in sentence["text"]


def test_ablation_sentences_read_missing_columns_defensively():
    assert ablation_sentences(pd.DataFrame(), "x") == []
    bare = pd.DataFrame({"feature": ["x"], "k": [3], "baseline": [0.5], "top": [0.4]})
    (sentence,) = ablation_sentences(bare, "x")
    assert sentence["text"].startswith("zeroing the top 3 units lowers the metric")
    assert ablation_sentences(bare, "other feature") == []


def test_generation_sentence_names_the_class_that_changes_most():
    frame = pd.DataFrame(
        {
            "k": [0, 5, 5, 0, 5, 5],
            "units": ["none", "top", "random"] * 2,
            "class": ["digit"] * 3 + ["paren"] * 3,
            "rate": [0.5, 0.52, 0.5, 0.2, 0.45, 0.21],
            "rate_low": [np.nan, np.nan, 0.48, np.nan, np.nan, 0.18],
            "rate_high": [np.nan, np.nan, 0.53, np.nan, np.nan, 0.24],
        }
    )
    sentence = generation_sentence(frame)
    assert sentence["effect"] == "found"
    assert (
        "paren characters 0.2 → 0.45 (random 5: 0.21 [0.18, 0.24])" in sentence["text"]
    )
    assert generation_sentence(pd.DataFrame()) is None


def test_unit_file_names_are_safe_and_unique():
    pages = unit_file_names(["lstm_0/h3", "lstm_0-h3", "h3", "gru/c 1"])
    assert pages == {
        "lstm_0/h3": "units/lstm_0-h3.html",
        "lstm_0-h3": "units/lstm_0-h3-2.html",
        "h3": "units/h3.html",
        "gru/c 1": "units/gru-c-1.html",
    }


def test_figures_with_and_without_captions():
    fig = Figure()
    assert _figures_and_captions({"a": fig, "b": (fig, "how to read b")}) == (
        {"a": fig, "b": fig},
        {"b": "how to read b"},
    )


def test_chance_ties_collapse_into_one_row_per_feature():
    table = pd.DataFrame(
        {
            "feature": ["f"] * 4 + ["g"] * 2,
            "unit": ["h0", "h1", "h2", "h3", "h0", "h1"],
            "score": [0.9, 0.5, 0.5, 0.51, 0.5, 0.5],
            "above_chance": [True, False, False, False, False, False],
        }
    )
    collapsed = collapse_chance_ties(table)
    assert collapsed["unit"].tolist() == [
        "h0",
        "3 units at chance",
        "2 units at chance",
    ]
    assert collapsed["score"].tolist() == [0.9, 0.51, 0.5]
    plain = pd.DataFrame({"a": [1.0]})
    assert collapse_chance_ties(plain) is plain


def test_report_opens_with_findings_then_captioned_figures(tmp_path):
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1])
    findings = {
        "model": "The model <predicts>.",
        "lead": "1 of 2 features.",
        "items": [
            {
                "feature": "range:digit",
                "unit": "lstm_0/h3",
                "href": "units/lstm_0-h3.html",
                "stats": "CV balanced accuracy 0.94, chance 0.5",
                "others": [{"name": "h4", "href": None}],
                "more": 2,
                "causal": [{"effect": "opposite", "text": "zeroing raises it"}],
            }
        ],
        "at_chance": ["depth:mul"],
        "notes": [],
    }
    page = write_html_report(
        tmp_path / "report.html",
        title="t",
        parameters={},
        tables={"summary": pd.DataFrame({"x": [0.123456]})},
        figures={"unit scores": fig, "custom": fig},
        captions={"custom": "Read <this> way."},
        findings=findings,
    ).read_text()
    assert page.index('id="findings"') < page.index("<figure") < page.index("<table")
    assert "The model &lt;predicts&gt;." in page
    assert 'href="units/lstm_0-h3.html">lstm_0/h3</a> predicts' in page
    assert "also h4 and 2 more" in page
    assert 'class="effect-opposite">zeroing raises it</span>' in page
    assert "<summary>1 feature with no unit above chance</summary>" in page
    assert "Read &lt;this&gt; way." in page
    assert "chance line" in page  # the default caption of "unit scores"
    assert 'id="glossary"' in page and "<dt>q-value</dt>" in page
    assert "more finding" not in page
    findings["items"] *= 3
    page = write_html_report(
        tmp_path / "folded.html",
        title="t",
        parameters={},
        tables={},
        figures={},
        findings=findings,
        max_findings=2,
    ).read_text()
    assert "<summary>1 more finding</summary>" in page
    assert page.count('<li data-feature="range:digit">') == 3


def test_text_view_data_round_trips_within_quantisation():
    rng = np.random.default_rng(0)
    texts = ["ab(c)", "de", "fgh"]
    acts = rng.normal(size=(10, 2))
    labels = np.array([0, 1, 1, 1, 0, np.nan, 0, 1, 2, 0])
    data = text_view_data(texts, acts, ["h0", "lstm/h1"], {"f": (labels, [1])})
    assert data["text"] == "ab(c)defgh" and data["starts"] == [0, 5, 7]
    for j, unit in enumerate(data["units"]):
        codes = np.frombuffer(base64.b64decode(unit["data"]), dtype=np.int8)
        np.testing.assert_allclose(
            codes / 127 * unit["scale"], acts[:, j], atol=unit["scale"] / 254
        )
    (feature,) = data["features"]
    codes = np.frombuffer(base64.b64decode(feature["data"]), dtype=np.uint8)
    assert codes[5] == 255  # NaN
    values = feature["lo"] + (feature["hi"] - feature["lo"]) * codes / 254
    np.testing.assert_allclose(np.delete(values, 5), np.delete(labels, 5))
    assert data["initial_feature"] == 0 and data["initial_unit"] == 1
    # whole texts up to the cap
    capped = text_view_data(texts, acts, ["h0", "h1"], {}, max_chars=8)
    assert capped["text"] == "ab(c)de"


def test_text_view_of_a_50k_character_corpus_stays_small():
    n_units, n_features, n = 64, 40, 50_000
    rng = np.random.default_rng(0)
    texts = ["x" * 500] * (n // 500)
    features = {f"f{i}": (rng.integers(0, 2, n), [i]) for i in range(n_features)}
    data = text_view_data(
        texts,
        rng.normal(size=(n, n_units)),
        [f"h{i}" for i in range(n_units)],
        features,
    )
    size = len(json.dumps(data))
    assert len(data["text"]) == 20_000
    assert size < 3_000_000, size


def test_top_contexts_do_not_overlap_and_stay_in_their_text():
    texts = ["aaaaaaaaaa", "bbbbbbbbbb"]
    acts = np.zeros(20)
    acts[[2, 3, 15]] = [5.0, 4.0, 3.0]
    contexts = top_contexts(texts, acts, n_contexts=3, width=2)
    assert [(c["text"], c["position"]) for c in contexts] == [(0, 2), (1, 5), (0, 7)]
    assert "".join(ch for ch, _ in contexts[1]["chars"]) == "bbbbb"
    assert contexts[0]["chars"][2] == ("a", 5.0)


def test_unit_histogram_svg_is_valid_and_escaped():
    svg = unit_histogram_svg(
        np.r_[np.zeros(50), np.ones(50)],
        np.r_[np.zeros(50), np.ones(50)],
        unit_name="lstm/h<1>",
        feature_name="a&b",
        kind="binary",
    )
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert len(root.findall("{http://www.w3.org/2000/svg}polygon")) == 2
    assert b"lstm/h&lt;1&gt; by a&amp;b" in svg
    assert b"feature = 1 (50)" in svg


def test_unit_page_shows_contexts_histogram_and_effect(tmp_path):
    svg = unit_histogram_svg(
        np.arange(6.0),
        np.r_[0, 0, 0, 1, 1, 1],
        unit_name="h1",
        feature_name="f",
        kind="binary",
    )
    page = write_unit_page(
        tmp_path / "units" / "h1.html",
        title="Unit h1",
        back="../report.html",
        features=pd.DataFrame({"feature": ["f"], "score": [0.91234]}),
        figures={"h1 by f": svg},
        contexts=top_contexts(["a<b", "cd"], np.array([0, 2.0, -1, 0, 0])),
        effects=[],
        no_effect="Not among the ablated units.",
    ).read_text()
    assert 'src="data:image/svg+xml;base64,' in page
    assert 'href="../report.html"' in page
    assert ">&lt;</span>" in page and "rgba(214,96,77,1.00)" in page
    assert ">0.912</td>" in page and "Not among the ablated units." in page
