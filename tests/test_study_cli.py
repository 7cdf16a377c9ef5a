"""`skdni run` and `run_study` end to end on a tiny configuration; bad input."""

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skdni import InputError, run_study
from skdni.cli import main

TINY = dict(
    n_chars=6_000,
    units=16,
    epochs=2,
    cv=3,
    top_k=3,
    ks=(1, 3),
    n_random=3,
    n_samples=2,
    sample_chars=20,
    verbose=0,
)


def _one_line_error(err: str) -> bool:
    errors = [line for line in err.splitlines() if line.startswith("skdni: error:")]
    return len(errors) == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "report"
    cache = tmp_path_factory.mktemp("cache")
    return run_study(out=str(out), cache_dir=str(cache), **TINY)


@pytest.mark.slow
def test_report_folder_has_every_expected_file(tiny_study):
    out = tiny_study.out
    assert (out / "report.html").is_file()
    assert (out / "model.keras").is_file()
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"unit-scores.png", "ablation-curves.png", "unit-over-text.png"} <= figures
    tables = {p.name for p in (out / "tables").iterdir()}
    assert {"summary.csv", "scores.csv", "ablation.csv", "generation.csv"} <= tables
    manifest = json.loads((out / "skdni-manifest.json").read_text())
    assert "report.html" in manifest and "tables/summary.csv" in manifest
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figures)
    # the samples say which units were clamped to what
    assert tiny_study.samples
    feature = tiny_study.generation_feature
    assert f"the k best units of {feature} held at their own" in html


@pytest.mark.slow
def test_summary_names_units_for_every_feature(tiny_study):
    summary = pd.read_csv(tiny_study.out / "tables" / "summary.csv", index_col=0)
    at_chance = pd.read_csv(
        tiny_study.out / "tables" / "features-at-chance.csv", index_col=0
    )
    # only findings are summary rows; the other features are listed apart
    assert set(summary["feature"]) | set(at_chance["feature"]) == set(
        tiny_study.labels.columns
    )
    assert not set(summary["feature"]) & set(at_chance["feature"])
    assert summary["best_units"].notna().all()
    assert (summary["skill"] > 0).all() and (summary["skill"] <= 1).all()
    assert summary["skill"].is_monotonic_decreasing
    assert "lift" not in summary
    binary = summary[summary["kind"] == "binary"]
    assert (binary["scoring"] == "balanced_accuracy").all()
    assert (binary["chance"] == 0.5).all()
    assert any(f.startswith("tree__range:") for f in summary["feature"])
    # the model was trained on held-out-free texts: none of the inspected texts
    assert not set(tiny_study.inspect_texts) & set(tiny_study.train_texts) or len(
        tiny_study.train_texts
    ) == len(set(tiny_study.train_texts))


@pytest.mark.slow
def test_same_seed_same_tables_and_cached_model(tiny_study, tmp_path):
    cache = tmp_path / "cache"
    first = run_study(out=None, cache_dir=str(cache), **TINY)
    again = run_study(out=None, cache_dir=str(cache), **{**TINY, "cv": 4})
    pd.testing.assert_frame_equal(first.summary, tiny_study.summary)
    # a re-run with other probing options reuses the trained model from the cache
    assert again.search.n_splits_ == 4
    a = first.model.predict_proba(first.inspect_texts[:3])
    b = again.model.predict_proba(again.inspect_texts[:3])
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))


def test_existing_output_folder_is_refused_and_foreign_files_survive(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["run", "--out", str(out), "--n-chars", "2000"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" in err
    assert _one_line_error(err)
    assert (out / "mine.txt").read_text() == "keep me"


def test_missing_corpus_is_a_one_line_error(tmp_path, capsys):
    code = main(
        ["run", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "nope" in err and "does not exist" in err and _one_line_error(err)


def test_grammar_that_does_not_compile_is_a_one_line_error(tmp_path, capsys):
    grammar = tmp_path / "bad.lark"
    grammar.write_text("start: undefined_rule\n")
    code = main(["run", "--grammar", str(grammar), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not compile" in err and _one_line_error(err)


def test_a_keras_file_that_is_not_a_char_model_is_refused(tmp_path, capsys):
    from skdni._backend import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
    path = tmp_path / "dense.keras"
    model.save(path)
    code = main(["run", "--model", str(path), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "dense.keras" in err and _one_line_error(err)


def test_run_on_a_users_own_keras_model(tmp_path, capsys):
    """A plain Keras Embedding(V) -> GRU -> Dense(V) model, ids from 0, saved by Keras
    itself, with its vocabulary as a JSON list: skdni run inspects it end to end."""
    import json

    from skdni._backend import import_keras
    from skdni.datasets import make_corpus
    from skdni.models._vocabulary import build_vocabulary

    keras = import_keras()
    keras.utils.set_random_seed(0)
    chars = build_vocabulary(make_corpus("arithmetic", n_chars=20_000, random_state=0))
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(len(chars), 8),
            keras.layers.GRU(8, return_sequences=True),
            keras.layers.Dense(len(chars), activation="softmax"),
        ]
    )
    path, vocabulary = tmp_path / "mine.keras", tmp_path / "vocab.json"
    model.save(path)
    vocabulary.write_text(json.dumps(chars))
    out = tmp_path / "o"
    argv = ["run", "--model", str(path), "--vocabulary", str(vocabulary)]
    argv += ["--n-chars", "3000", "--cv", "3", "--top-k", "2", "--out", str(out)]
    assert main(argv + ["--quiet"]) == 0, capsys.readouterr().err
    assert (out / "report.html").is_file()
    # a loaded model has no training texts (majority_rate_ is NaN): the chance
    # level printed is the majority rate of the scored held-out characters
    printed = capsys.readouterr().out
    rate = re.search(r"majority-class rate (\S+)\)", printed)
    assert rate and 0.05 < float(rate.group(1)) < 0.5, printed
    from skdni.models import CharLanguageModel

    saved = CharLanguageModel.load(out / "model.keras")  # skdni's file: ids kept
    assert saved.char_to_id_ == {char: i for i, char in enumerate(chars)}
    code = main(["run", "--model", str(path), "--out", str(tmp_path / "o2")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--vocabulary" in err and _one_line_error(err)


def test_unknown_feature_set_is_refused():
    with pytest.raises(InputError, match="Unknown feature set"):
        run_study(features=("range", "syntax"), out=None)


def test_help_documents_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "skdni.cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    for option in (
        "--grammar",
        "--corpus",
        "--model",
        "--units",
        "--cell",
        "--epochs",
        "--cv",
        "--top-k",
        "--features",
        "--n-jobs",
        "--out",
        "--seed",
        "--cache-dir",
        "--overwrite",
        "--language",
        "--max-text-chars",
        "--max-inspect-chars",
        "--ablation-features",
        "--ks",
        "--n-random",
        "--no-ablation",
    ):
        assert option in result.stdout
    # every option has a help text, and each option with a value its default once
    parser = __import__("skdni.cli", fromlist=["build_parser"]).build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    for action in run._actions:
        assert action.help, action.option_strings
    assert result.stdout.count("(default: 50000)") == 1
    assert "(default: None)" not in result.stdout


@pytest.mark.slow
def test_localization_and_lags_of_the_top_findings_are_in_the_report(tiny_study):
    from skdni._study import LOCALIZATION_KS, MAX_LAG

    summary, search = tiny_study.summary, tiny_study.search
    curves, lags = tiny_study.localization, tiny_study.lags
    # the top binary and the top continuous finding (this study has both)
    found = summary[summary["skill"] > 0]
    features = [found[found["kind"] == k]["feature"].iloc[0] for k in found["kind"]]
    assert set(curves["feature"]) == set(features) and len(set(features)) == 2
    n_units = search.scores_.shape[1]
    for feature, curve in curves.groupby("feature"):
        assert list(curve["k"]) == [k for k in LOCALIZATION_KS if k <= n_units]
        assert curve["top_k"].between(-1, 1).all()
        kind = search.feature_kinds_[feature]
        assert set(curve["scoring"]) == {"roc_auc" if kind == "binary" else "r2"}
        # all units jointly are the whole-layer probe
        if n_units in set(curve["k"]):
            last = curve[curve["k"] == n_units].iloc[0]
            assert last["top_k"] == pytest.approx(last["whole_layer"])
    assert set(lags["feature"]) == set(features)
    assert set(lags["lag"]) == set(range(-MAX_LAG, MAX_LAG + 1))
    for feature, profile in lags.groupby("feature"):
        best = [str(search.scores_.columns[u]) for u in search.top_units_[feature]]
        assert set(profile["unit"]) == set(best[:3])
        # scored as the search scores the feature: at lag 0, the search's scores
        kind = search.feature_kinds_[feature]
        assert set(profile["scoring"]) == {
            "balanced_accuracy" if kind == "binary" else "r2"
        }
        at_zero = profile[profile["lag"] == 0].set_index("unit")["score"]
        searched = search.scores_.loc[feature, at_zero.index]
        np.testing.assert_allclose(at_zero, searched, atol=0.05)
    # figures and tables of the report, listed in the manifest
    out = tiny_study.out
    manifest = json.loads((out / "skdni-manifest.json").read_text())
    assert {"tables/localization.csv", "tables/lags.csv"} <= set(manifest)
    pngs = {p for p in manifest if p.startswith("figures/")}
    assert len([p for p in pngs if p.startswith("figures/localization-")]) == 2
    assert len([p for p in pngs if p.startswith("figures/lags-")]) == 2
    saved = pd.read_csv(out / "tables" / "localization.csv", index_col=0)
    assert list(saved["feature"]) == list(curves["feature"])
    html = (out / "report.html").read_text()
    assert "How many units carry" in html and "anticipate or remember" in html


def test_no_finding_means_no_localization_or_lags():
    from skdni._study import _SUMMARY_COLUMNS, _analyses

    class Search:  # every feature at chance: the summary has no row
        scores_ = pd.DataFrame([[0.5, 0.5]], index=["f"], columns=["h0", "h1"])

    summary = pd.DataFrame(columns=_SUMMARY_COLUMNS)
    localization, lags = _analyses(Search, summary, None, None, None, None)
    assert localization.empty and lags.empty


@pytest.mark.slow
def test_rerun_with_other_probing_options_does_not_retrain(tmp_path, monkeypatch):
    from skdni.models import CharLanguageModel

    cache = tmp_path / "cache"
    first = run_study(out=None, cache_dir=str(cache), **TINY)

    def no_training(*args, **kwargs):
        raise AssertionError("the model was retrained instead of read from the cache")

    monkeypatch.setattr(CharLanguageModel, "fit", no_training)
    again = run_study(out=None, cache_dir=str(cache), **{**TINY, "cv": 4, "top_k": 2})
    assert again.search.n_splits_ == 4
    assert all(len(units) <= 2 for units in again.search.top_units_.values())
    pd.testing.assert_frame_equal(again.labels, first.labels)


def test_split_holds_texts_out_and_refuses_a_single_text():
    from skdni._study import _split

    texts = [[f"text {i}"] for i in range(10)]  # 10 files of 6 characters
    split = _split(texts, 0.2, 10**6, seed=0)
    assert len(split.inspect) == 2 and len(split.train) == 8
    assert sorted(split.train + split.inspect) == sorted(t for [t] in texts)
    # max_inspect_chars: no more held out than inspected, never a text past the cap
    split = _split(texts, 0.5, 13, seed=0)
    assert len(split.inspect) == 2 and split.counts["held_out_files"] == 3
    assert split.counts["inspected_chars"] == 12 and split.counts["unused_chars"] == 6
    with pytest.raises(InputError, match="at least 2"):
        _split([["only one"]], 0.2, 10**6, seed=0)


def test_split_without_training_inspects_every_file_up_to_the_cap():
    from skdni._study import _split

    # a given model trains on nothing: one file is enough, and every file may be
    # inspected (up to the cap), whatever the held-out fraction
    split = _split([["only one"]], 0.2, 10**6, seed=0, trains=False)
    assert split.inspect == ["only one"] and split.train == []
    assert "none trained on" in split.describe()
    texts = [[f"text {i}"] for i in range(10)]
    split = _split(texts, 0.2, 10**6, seed=0, trains=False)
    assert sorted(split.inspect) == sorted(t for [t] in texts) and not split.train
    split = _split(texts, 0.2, 13, seed=0, trains=False)
    assert split.counts["inspected_chars"] == 12 and len(split.inspect) == 2


def _plain_keras_model(chars, units=8):
    """Embedding(V) -> GRU -> Dense(V), ids from 0: a model skdni did not write."""
    from skdni._backend import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(len(chars), 8),
            keras.layers.GRU(units, return_sequences=True),
            keras.layers.Dense(len(chars), activation="softmax"),
        ]
    )


def test_model_with_a_one_file_corpus_of_one_sentence_per_line(tmp_path, capsys):
    """--model with a one-file --corpus: nothing is trained, so one file is enough;
    the parentheses grammar has no newline, so each line of the file is a text (a
    sentence) and every text parses: tree features without NaN."""
    from skdni.datasets import make_corpus
    from skdni.models._vocabulary import build_vocabulary

    sentences = make_corpus("parentheses", n_chars=4_000, random_state=0)
    chars = build_vocabulary(sentences)
    assert "\n" not in chars
    path, vocabulary = tmp_path / "mine.keras", tmp_path / "vocab.json"
    _plain_keras_model(chars).save(path)
    vocabulary.write_text(json.dumps(chars))
    corpus = tmp_path / "sentences.txt"
    corpus.write_text("\n".join(sentences) + "\n")
    options = dict(TINY, ablation_features=0, cache_dir=str(tmp_path / "cache"))
    options.pop("units"), options.pop("epochs")
    result = run_study(
        model=str(path),
        vocabulary=str(vocabulary),
        corpus=str(corpus),
        grammar="parentheses",
        out=str(tmp_path / "o"),
        **options,
    )
    assert not result.parse_failures
    assert result.inspect_texts == sentences[: len(result.inspect_texts)]
    counts = result.corpus_counts
    assert counts["files"] == 1 and counts["train_texts"] == 0
    assert counts["texts"] == len(sentences) and counts["lines_are_texts"]
    assert counts["inspected_chars"] == sum(map(len, sentences))  # under the cap
    tree = result.labels.filter(like="tree__")
    assert tree.shape[1] > 0 and not tree.isna().any().any()
    # the same through the command line, with the counts it prints
    argv = ["run", "--model", str(path), "--vocabulary", str(vocabulary)]
    argv += ["--corpus", str(corpus), "--grammar", "parentheses", "--cv", "3"]
    argv += ["--ablation-features", "0", "--out", str(tmp_path / "o2")]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    printed = capsys.readouterr().err  # the stage lines
    assert "1 file -> " in printed
    assert "one per line: the grammar has no newline" in printed
    assert "none trained on" in printed and "did not parse" not in printed


def test_model_with_a_corpus_of_blank_lines_is_a_clear_error(tmp_path):
    """One sentence per line, but every line blank: an InputError naming the corpus,
    and nothing written."""
    from skdni.datasets import make_corpus
    from skdni.models._vocabulary import build_vocabulary

    chars = build_vocabulary(make_corpus("parentheses", n_chars=2_000, random_state=0))
    path, vocabulary = tmp_path / "mine.keras", tmp_path / "vocab.json"
    _plain_keras_model(chars).save(path)
    vocabulary.write_text(json.dumps(chars))
    corpus = tmp_path / "blank.txt"
    corpus.write_text("\n  \n\n")
    with pytest.raises(InputError, match="blank.txt.*every line of its files is blank"):
        run_study(
            model=str(path),
            vocabulary=str(vocabulary),
            corpus=str(corpus),
            grammar="parentheses",
            out=str(tmp_path / "o"),
            cv=3,
            verbose=0,
            cache_dir=str(tmp_path / "cache"),
        )
    assert not (tmp_path / "o").exists()


def _files(n_files, n_texts, lines_per_text=1):
    """Files of ``n_texts`` texts of 10-character lines, named by file and text."""
    return [
        [f"f{f:02d}t{t:03d}..\n" * lines_per_text for t in range(n_texts)]
        for f in range(n_files)
    ]


def test_split_is_by_file_and_the_cap_is_exact():
    from skdni._study import _split

    groups = _files(20, 30, lines_per_text=5)  # 50-character texts, 1,500 a file
    for cap in (1, 49, 50, 777, 1_500, 4_321):
        split = _split(groups, 0.2, cap, seed=3)
        inspected = sum(map(len, split.inspect))
        # exact to the line: never more than the cap, less by under one line
        assert cap - 10 < inspected <= cap or (cap < 10 and inspected == 0)
        train_files = {t[:3] for t in split.train}
        held_files = {t[:3] for t in split.inspect}
        assert not train_files & held_files  # never a file on both sides
        c = split.counts
        assert c["train_files"] + c["held_out_files"] == 20
        assert c["train_chars"] == sum(map(len, split.train))
        assert c["inspected_chars"] == inspected
        # no more is held out than the cap needs: one file, or just enough files
        assert c["held_out_files"] == max(1, -(-cap // 1_500))
        assert c["unused_chars"] == c["held_out_chars"] - inspected


def test_corpus_of_files_all_longer_than_the_cap(tmp_path):
    from skdni._study import StudyConfig, _load_corpus

    for i in range(4):
        lines = "".join(f"x{i} = {j}  # a line of python\n" for j in range(300))
        (tmp_path / f"m{i}.py").write_text(lines)  # 9,000+ characters each
    cfg = StudyConfig(
        corpus=str(tmp_path), max_inspect_chars=2_000, max_text_chars=500, cv=3
    )
    split = _load_corpus(cfg)
    c = split.counts
    assert c["files"] == 4 and c["held_out_files"] == 1 and c["train_files"] == 3
    assert 2_000 - 40 < c["inspected_chars"] <= 2_000
    assert max(map(len, split.train + split.inspect)) <= 500
    assert all(t.endswith("\n") for t in split.train + split.inspect)
    assert "4 files -> " in split.describe() and "(cap 2,000)" in split.describe()


def test_too_few_inspected_texts_for_cv_says_what_to_change(tmp_path):
    from skdni._study import StudyConfig, _load_corpus

    for i in range(10):
        (tmp_path / f"{i}.txt").write_text(f"line {i}\n" * 100)  # 700 characters
    cfg = StudyConfig(corpus=str(tmp_path), max_inspect_chars=1_000, cv=5)
    with pytest.raises(InputError) as info:
        _load_corpus(cfg)
    message = str(info.value)
    assert message.startswith(
        "--cv 5 needs at least 5 inspected texts (one per fold), but the 994 "
        "inspected characters of held-out files are 2 texts: lower --cv to 2; or "
        "lower --max-text-chars (now 2,000) to about 198 so that they make 5 texts"
    ), message
    assert "--max-inspect-chars (now 1,000)" in message


def test_n_chars_used_up_by_the_first_file(tmp_path):
    from skdni._study import StudyConfig, _load_corpus

    for i in range(3):
        (tmp_path / f"{i}.txt").write_text("word\n" * 1_000)
    cfg = StudyConfig(corpus=str(tmp_path), n_chars=3_000)
    with pytest.raises(
        InputError,
        match=r"needs at least 2 files; --n-chars 3,000 "
        r"is used up by the first file \(of 3\): raise --n-chars",
    ):
        _load_corpus(cfg)


def test_a_single_file_corpus_is_a_one_line_error(tmp_path, capsys):
    corpus = tmp_path / "one.txt"
    corpus.write_text("x = 1\n" * 50)
    code = main(["run", "--corpus", str(corpus), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "at least 2" in err and _one_line_error(err)


def test_too_few_held_out_texts_for_cv_fails_before_training(tmp_path, capsys):
    for i in range(4):
        (tmp_path / f"{i}.txt").write_text(f"text number {i}\n")
    code = main(["run", "--corpus", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--cv 20 needs at least 20 inspected texts" in err
    assert "are 1 text: " in err and _one_line_error(err)
    assert not (tmp_path / "o" / "model.keras").exists()


def test_stages_print_labelled_lines_with_the_corpus_counts(
    tmp_path, capsys, monkeypatch
):
    import skdni._study

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"{i:02d}.py").write_text(f"xy = {i:04d}\n" * 200)  # 2,000 chars

    def stop(train_texts, units, cell, epochs, seed, unknown, verbose):
        raise InputError("stop after the corpus stage")

    monkeypatch.setattr(skdni._study, "_train_model", stop)
    argv = ["run", "--corpus", str(corpus), "--out", str(tmp_path / "o")]
    argv += ["--max-text-chars", "300", "--max-inspect-chars", "7000", "--cv", "5"]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "[skdni 1/6] corpus" in err
    assert (
        # 7 texts a file (6 x 300 + 200); 4 files held out for the 7,000-char cap
        "30 files -> 210 texts (at most 300 characters each): 182 train (52,000 "
        "chars, 26 files), 28 held out (4 files); 7,000 chars in 25 texts inspected "
        "(cap 7,000); 1,000 held-out chars past the cap are not used"
    ) in err
    assert "[skdni 2/6] model: training a LSTM(128) language model on 52,000" in err
    assert main(argv + ["--quiet", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["skdni: error: stop after the corpus stage"]


def test_every_option_reaches_run_study(monkeypatch, tmp_path):
    import skdni._study

    seen = {}

    def fake_run_study(**options):
        seen.update(options)
        raise InputError("stop here")

    monkeypatch.setattr(skdni._study, "run_study", fake_run_study)
    argv = (
        "run --grammar dyck2 --corpus c --model m.keras --vocabulary v.json "
        "--n-chars 123 --units 7 "
        "--cell gru --epochs 3 --cv 4 --top-k 5 --features parser,regex --n-jobs 2 "
        "--out o --overwrite --seed 9 --cache-dir cc --quiet --max-text-chars 99 "
        "--max-inspect-chars 777 --inspect-fraction 0.3 --ablation-features 2 "
        "--ks 2,4 --n-random 6 --ablation-metric class_cross_entropy "
        "--ablation-positions 0123) --clamp-value off"
    ).split()
    assert main(argv) == 2
    assert seen == dict(
        grammar="dyck2",
        corpus="c",
        language=None,
        model="m.keras",
        vocabulary="v.json",
        n_chars=123,
        max_text_chars=99,
        max_inspect_chars=777,
        inspect_fraction=0.3,
        ablation_features=2,
        ks=(2, 4),
        n_random=6,
        ablation_metric="class_cross_entropy",
        ablation_positions="0123)",
        clamp_value="off",
        units=7,
        cell="gru",
        epochs=3,
        cv=4,
        top_k=5,
        features=("parser", "regex"),
        n_jobs=2,
        out="o",
        overwrite=True,
        seed=9,
        cache_dir="cc",
        verbose=0,
    )
    seen.clear()
    main(["run"])
    assert seen["grammar"] is None and seen["corpus"] is None  # run_study: parentheses
    from skdni._study import StudyConfig

    defaults = StudyConfig()
    for name in (
        "features",
        "ks",
        "ablation_features",
        "max_inspect_chars",
        "ablation_metric",
        "ablation_positions",
        "clamp_value",
    ):
        assert seen[name] == getattr(defaults, name), name
    seen.clear()
    main(["run", "--no-ablation", "--ablation-features", "5"])
    assert seen["ablation_features"] == 0


@pytest.mark.slow
def test_causal_checks_name_their_metric_and_say_what_they_found(tiny_study):
    cfg = tiny_study.config
    ablation = tiny_study.ablation
    assert set(ablation["metric"]) == {cfg.ablation_metric}
    assert set(ablation["positions"]) == {"all"}
    chosen = list(pd.unique(ablation["feature"]))
    assert 0 < len(chosen) <= cfg.ablation_features
    # depth features (nesting) come first when the search found any
    depth = [f for f in tiny_study.summary["feature"] if "depth" in f]
    if depth:
        assert "depth" in chosen[0]
    # the oracle only for binary features, calibrated to each unit's own levels
    oracle = ablation[ablation["mode"] == "oracle"]
    assert set(oracle["value"]) <= {"labels->calibrated"}
    kinds = tiny_study.search.feature_kinds_
    assert (kinds[oracle["feature"]] == "binary").all()
    # Figure 4's data: sign-aware clamps of the first feature, intervals per k
    generation = tiny_study.generation
    assert tiny_study.generation_feature == chosen[0]
    assert set(generation["value"]) == {"on"}
    assert set(generation["units"]) == {"none", "top", "random"}
    assert (generation["rate_low"] <= generation["rate"] + 1e-12).all()
    assert (generation["rate"] <= generation["rate_high"] + 1e-12).all()
    classes = tiny_study.generation_classes
    assert 0 < len(classes) <= 3 and set(classes) <= set(generation["class"])
    # one sentence per ablated feature and mode, one for the generation: the
    # report's findings' sentences, led by the feature
    from skdni._study_report import ablation_sentences, generation_sentence

    lines = tiny_study.causal_findings
    expected = [
        f"{f}: {sentence['text']}."
        for f in chosen
        for sentence in ablation_sentences(ablation, f)
    ]
    expected.append(f"{chosen[0]}: {generation_sentence(generation)['text']}.")
    assert lines == expected
    assert len(lines) == len(ablation.groupby(["feature", "mode"])) + 1
    k = max(cfg.ks)
    row = ablation[(ablation["feature"] == chosen[0]) & (ablation["mode"] == "zero")]
    row = row[row["k"] == k].iloc[0]
    assert lines[0].startswith(f"{chosen[0]}: zeroing the top {k} units")
    assert f"{row['baseline']:.3g} → {row['top']:.3g}" in lines[0]
    assert any(
        v in lines[0]
        for v in ("no more than random", "the model uses these", "the opposite")
    )
    assert lines[-1].startswith(f"{chosen[0]}: clamping the top {k} units")


@pytest.mark.slow
def test_report_figures_in_display_order_with_captions(tiny_study):
    from skdni._study import _report_figures

    figures = _report_figures(tiny_study)
    assert list(figures) == [
        "unit scores",
        "units above threshold",
        "features x top units",
        "ablation curves",
        "generation shares",
        *[
            f"{what} {feature}"
            for feature in pd.unique(tiny_study.localization["feature"])
            for what in ("localization", "lags")
        ],
        "unit over text",
    ]
    for name, (fig, caption) in figures.items():
        assert fig.axes, name
        assert len(caption) > 80 and caption.endswith("."), name
    (ablation_fig, caption) = figures["ablation curves"]
    assert ablation_fig.axes[0].get_ylabel() == "next-char class accuracy (class mass)"
    assert "class accuracy" in caption
    files = {p.name for p in (tiny_study.out / "figures").iterdir()}
    assert {"generation-shares.png", "units-above-threshold.png"} <= files


def test_bad_causal_options_are_refused_before_training():
    for options, match in [
        (dict(ablation_metric="f1"), "ablation_metric must be one of"),
        (dict(ablation_positions=""), "ablation_positions must be"),
        (dict(clamp_value="high"), "clamp_value must be"),
        (dict(clamp_value=float("nan")), "clamp_value must be"),
        (dict(generation_class_map="words"), "generation_class_map must be"),
    ]:
        with pytest.raises(InputError, match=match):
            run_study(out=None, **options)


def test_version(capsys):
    import skdni

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skdni {skdni.__version__}"


def test_overwrite_replaces_only_files_in_the_manifest(tmp_path):
    from skdni._study import _MANIFEST, _prepare_out

    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "report.html").write_text("old")
    (out / "figures" / "unit-scores.png").write_text("old")
    (out / "notes.txt").write_text("the user's")
    (out / _MANIFEST).write_text(json.dumps(["report.html", "figures/unit-scores.png"]))
    with pytest.raises(InputError, match="not empty"):
        _prepare_out(out, overwrite=False)
    # the files to replace; nothing is deleted before the new report is complete
    replaced = _prepare_out(out, overwrite=True)
    assert set(replaced) == {"report.html", "figures/unit-scores.png", _MANIFEST}
    assert (out / "report.html").read_text() == "old"
    assert (out / "notes.txt").read_text() == "the user's"


def test_a_keras_file_with_a_python_lambda_is_refused_by_safe_mode(tmp_path, capsys):
    import zipfile

    from skdni._backend import import_keras
    from skdni.models._char_lm import _FORMAT, _SIDECAR

    keras = import_keras()
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Lambda(lambda x: x)]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    sidecar = {"format": _FORMAT, "vocabulary": ["a"], "params": {}, "history": {}}
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(_SIDECAR, json.dumps(sidecar))
    code = main(["run", "--model", str(path), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    # safe_mode refuses to deserialize the Python lambda (it would run its bytecode)
    assert "lambda.keras" in err and "Lambda" in err and _one_line_error(err)


@pytest.mark.slow
def test_corpus_of_python_files_with_the_python_grammar(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(10):
        body = "".join(f"def f{j}(x):\n    return x + {j}\n\n" for j in range(i + 2))
        (corpus / f"m{i}.py").write_text(body)
    # a text the grammar cannot parse (one of the 3 files held out with seed 0, for
    # 20% of the 1,922 characters): its grammar features become NaN rows, and the run
    # says so
    (corpus / "m3b.py").write_text("def (:\n" * 5)
    out = tmp_path / "o"
    argv = ["run", "--corpus", str(corpus), "--grammar", "python", "--out", str(out)]
    argv += ["--units", "8", "--epochs", "1", "--cv", "2", "--top-k", "2", "--quiet"]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 of 3 inspected texts did not parse" in captured.out
    # findings (summary) and features without one (features-at-chance) together
    features = pd.concat(
        [
            pd.read_csv(out / "tables" / f"{name}.csv", index_col=0)["feature"]
            for name in ("summary", "features-at-chance")
        ]
    )
    assert any(f.startswith("tree__range:") for f in features)
    assert any(f.startswith("parser__") for f in features)
    assert any(f.startswith("chars__") for f in features)
    html = (out / "report.html").read_text()
    assert "did not parse" in html and "1 of 3" in html
    assert "11 files -&gt; 11 texts" in html  # the corpus counts, in the parameters


@pytest.mark.slow
def test_model_option_inspects_the_saved_model_without_training(
    tiny_study, tmp_path, monkeypatch
):
    from skdni.models import CharLanguageModel

    path = tmp_path / "lm.keras"
    tiny_study.model.save(path)

    def no_training(*args, **kwargs):
        raise AssertionError("--model must not train")

    monkeypatch.setattr(CharLanguageModel, "fit", no_training)
    options = {**TINY, "features": ("regex",), "cache_dir": str(tmp_path / "cache")}
    result = run_study(model=str(path), out=str(tmp_path / "o"), **options)
    assert result.model.model_.count_params() == tiny_study.model.model_.count_params()
    np.testing.assert_allclose(
        result.model.predict_proba(result.inspect_texts[:2]),
        tiny_study.model.predict_proba(result.inspect_texts[:2]),
        atol=1e-6,
    )
    assert all(c.startswith("chars__") for c in result.labels.columns)
    reloaded = CharLanguageModel.load(tmp_path / "o" / "model.keras")
    assert reloaded.vocabulary_ == tiny_study.model.vocabulary_


def test_language_needs_a_corpus_no_grammar_and_an_installed_package(tmp_path, capsys):
    (tmp_path / "a.c").write_text("int x;\n")
    base = ["run", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--language", "c"]) == 2
    assert "give a corpus" in capsys.readouterr().err
    assert (
        main([*base, "--language", "c", "--corpus", str(tmp_path)] + ["--grammar", "c"])
        == 2
    )
    assert "not both" in capsys.readouterr().err
    assert main([*base, "--language", "cobol", "--corpus", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pip install tree-sitter-cobol" in err and _one_line_error(err)
    assert not (tmp_path / "o" / "model.keras").exists()


C_FUNCTIONS = """
static int add_{i}(int a, int b)
{{
    int total = a + b * {i};
    if (total > 10) {{
        printf("big %d\\n", total);
        return total - 1;
    }}
    return add_{i}(total, (a - b));
}}
"""


@pytest.mark.slow
def test_corpus_of_c_files_with_tree_sitter(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(10):
        text = "".join(C_FUNCTIONS.format(i=10 * n + j) for j in range(3))
        (corpus / f"f{n}.c").write_text(text)
    # not C: a folder is read for *.c / *.h with --language c
    (corpus / "notes.txt").write_text("{{{ not C at all")
    out = tmp_path / "o"
    argv = ["run", "--corpus", str(corpus), "--language", "c", "--out", str(out)]
    argv += ["--units", "8", "--epochs", "1", "--cv", "2", "--top-k", "2", "--quiet"]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # findings (summary) and features without one (features-at-chance) together
    features = set(
        pd.concat(
            [
                pd.read_csv(out / "tables" / f"{name}.csv", index_col=0)["feature"]
                for name in ("summary", "features-at-chance")
            ]
        )
    )
    assert "tree__range:call_expression" in features
    assert "tree__depth:compound_statement" in features
    assert "did not parse" not in captured.out


def _ablation_row(feature, top, low, high, metric="class_accuracy", n_random=10):
    return {
        "feature": feature,
        "mode": "zero",
        "metric": metric,
        "k": 10,
        "baseline": 0.8,
        "top": top,
        "random_mean": (low + high) / 2,
        "random_low": low,
        "random_high": high,
        "n_random": n_random,
        "positions": "all",
    }


def test_causal_findings_say_effect_no_effect_and_the_opposite():
    from skdni._study import _causal_findings
    from skdni._study_report import ablation_sentences

    ablation = pd.DataFrame(
        [
            _ablation_row("depth", 0.7, 0.78, 0.80),
            _ablation_row("digit", 0.79, 0.78, 0.80),
            _ablation_row("operator", 0.85, 0.78, 0.80),
            # a loss: higher is worse
            _ablation_row("loss", 0.9, 0.5, 0.6, metric="class_cross_entropy"),
            _ablation_row("none drawn", 0.7, np.nan, np.nan, n_random=0),
        ]
    )
    lines = _causal_findings(ablation, pd.DataFrame(), None)
    assert lines[0] == (
        "depth: zeroing the top 10 units lowers next-character class accuracy "
        "0.8 → 0.7 (random 10: 0.79 [0.78, 0.8], 10 draws): more than random units "
        "do: the model uses these units."
    )
    assert lines[1].endswith("no more than random units do.")
    assert lines[2].endswith("the opposite of the expected effect.")
    assert lines[3].startswith("loss: zeroing the top 10 units raises class cross")
    assert lines[3].endswith("the model uses these units.")
    assert lines[4].endswith("no random draws to compare with (--n-random 0).")
    # the report's findings are the same sentences (one set of rules)
    for line, feature in zip(lines, ablation["feature"], strict=True):
        (sentence,) = ablation_sentences(ablation, feature)
        assert line == f"{feature}: {sentence['text']}."
    effects = [ablation_sentences(ablation, f)[0]["effect"] for f in ablation.feature]
    assert effects == ["found", "none", "opposite", "found", "found"]


def _generation_rows(with_random=True):
    rows = []
    for cls, none, top, rnd in [("(", 0.33, 0.40, 0.39), (")", 0.33, 0.52, 0.42)]:
        rows.append((0, "none", cls, none))
        rows.append((10, "top", cls, top))
        if with_random:
            rows.append((10, "random", cls, rnd))
    frame = pd.DataFrame(rows, columns=["k", "units", "class", "rate"])
    return frame.assign(
        rate_low=frame["rate"] - 0.01,
        rate_high=frame["rate"] + 0.01,
        n_samples=40,
        value="on",
    )


def test_generation_finding_names_the_class_moved_most():
    from skdni._study import _causal_findings, _moved_classes
    from skdni._study_report import generation_sentence

    generation = _generation_rows()
    assert _moved_classes(generation) == [")", "("]
    (line,) = _causal_findings(pd.DataFrame(), generation, "depth")
    assert line == (
        "depth: clamping the top 10 units to 'on' changes the share of generated "
        "')' characters 0.33 → 0.52 [0.51, 0.53] (40 samples; random 10: 0.42 "
        "[0.41, 0.43]): the top units make the model write more ')'."
    )
    assert line == f"depth: {generation_sentence(generation)['text']}."
    # without random draws: the class moved most from no clamp, said plainly
    alone = _generation_rows(with_random=False)
    assert _moved_classes(alone) == [")", "("]
    (line,) = _causal_findings(pd.DataFrame(), alone, "depth")
    assert line.endswith("no random units to compare with (--n-random 0).")
    # overlapping intervals: no effect
    overlap = generation.assign(
        rate_low=generation["rate"] - 0.2, rate_high=generation["rate"] + 0.2
    )
    (line,) = _causal_findings(pd.DataFrame(), overlap, "depth")
    assert line.endswith("no more than random units do.")
    assert generation_sentence(overlap)["effect"] == "none"


def test_distinct_columns_equals_pandas_duplicated(rng):
    from skdni._study import _distinct_columns

    values = rng.integers(0, 3, size=(50, 8)).astype(float)
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, 3] = values[:, 1]  # a duplicate, NaN in the same rows
    values[:, 5] = values[:, 0]
    values[7, 5] = -0.0 if values[7, 0] == 0 else values[7, 5]
    values[:, 6] = values[:, 1]
    values[0, 6] = 9.0  # differs in one row: kept
    frame = pd.DataFrame(values, columns=list("abcdefgh"))
    want = np.flatnonzero(~frame.T.duplicated()).tolist()
    assert _distinct_columns(frame) == want
    assert 3 not in want and 5 not in want and 6 in want


def test_which_grammars_read_newlines():
    from skdni.datasets._grammars import grammar_reads_newlines

    # no newline in the language: a corpus file is one sentence per line
    for name in ("parentheses", "arithmetic", "dyck2"):
        assert not grammar_reads_newlines(name), name
    # newlines are tokens (Python) or ignored whitespace (C): texts keep them
    assert grammar_reads_newlines("python") and grammar_reads_newlines("c")


def test_a_study_that_fails_in_training_stops_its_warm_up(tmp_path, monkeypatch):
    """The background compile started once the corpus is read is stopped when a
    later stage fails: no process is left behind the error."""
    import skdni._study as study
    from skdni.models import CharLanguageModel

    started = []

    def start(tasks):
        started.append(
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        )
        return started[-1]

    def failing_fit(*args, **kwargs):
        raise RuntimeError("training failed")

    monkeypatch.setattr(study, "start_warm_up", start)
    monkeypatch.setattr(CharLanguageModel, "fit", failing_fit)
    with pytest.raises(RuntimeError, match="training failed"):
        run_study(out=None, cache_dir=str(tmp_path / "cache"), **TINY)
    assert len(started) == 1 and started[0].poll() is not None


def test_corpus_line_of_a_given_model_does_not_call_texts_held_out():
    """With --model nothing is held out: chars past the cap are just not used."""
    from skdni._study import _split

    split = _split([[f"text {i}"] for i in range(10)], 0.2, 13, seed=0, trains=False)
    assert split.counts["unused_chars"] > 0
    assert "past the cap are not used" in split.describe()
    assert "held-out" not in split.describe()


def test_files_are_labelled_whole_and_cut_like_their_texts():
    """A file cut into texts is parsed whole: a cut inside a C ``#if`` block is no
    syntax error, and each text's labels are its rows of the whole file's labels
    (also for the last text, cut by the inspection cap)."""
    from skdni._study import _features, _split
    from skdni.datasets._split import split_lines

    body = "".join(C_FUNCTIONS.format(i=i) for i in range(6))
    files = [f"#if defined(X)\n{body}#endif\n", f"#ifdef Y\n{body}#endif\n"]
    groups = [split_lines(f, 300) for f in files]
    assert all(len(texts) > 2 for texts in groups)
    split = _split(groups, 0.5, len(files[0]) + 500, seed=0, trains=False)
    assert split.spans[0] == (0, 0) and len(split.files) == 2
    n = sum(map(len, split.inspect))  # the cap cuts at a line end
    assert len(files[0]) < n <= len(files[0]) + 500
    args = (None, None, ("range", "depth", "regex"), "nan")
    _, labels, failed = _features(
        *args, split.inspect, 1, 0, "c", split.files, split.spans
    )
    assert failed == [] and not labels.isna().any().any()
    _, whole, _ = _features(*args, split.files, 1, 0, "c")
    expected = whole.iloc[:n].reset_index(drop=True)
    pd.testing.assert_frame_equal(labels, expected[labels.columns])
    # labelled text by text, the cuts inside the #if blocks are syntax errors
    _, apart, failed_apart = _features(*args, split.inspect, 1, 0, "c")
    assert failed_apart and apart.isna().any(axis=1).any()


def test_span_of_a_text_after_a_cut_one_points_at_that_text():
    """The cap cuts text A of a file to its first line, and the next text B still
    has room for its first line: B's span is where B starts, not after A's prefix."""
    from skdni._study import _split

    a, b = "a\n" + "b" * 20 + "\n", "c\n" + "d" * 30 + "\n"
    split = _split([[a, b]], 0.2, 10, seed=0, trains=False)
    assert split.inspect == ["a\n", "c\n"]
    for text, (f, start) in zip(split.inspect, split.spans, strict=True):
        assert split.files[f][start : start + len(text)] == text


def test_ablation_features_skip_a_feature_with_the_same_top_units_in_any_order():
    """Two features with the same top units (in another order) would repeat one
    causal check: the second is skipped."""
    from types import SimpleNamespace

    from skdni._study import _ablation_features

    summary = pd.DataFrame(
        {
            "feature": ["tree__impulse:integer", "chars__digit", "tree__range:string"],
            "kind": ["binary"] * 3,
            "skill": [0.93, 0.92, 0.9],
        }
    )
    search = SimpleNamespace(
        top_units_={
            "tree__impulse:integer": [3, 25, 5],
            "chars__digit": [25, 5, 3],
            "tree__range:string": [45, 25, 5],
        }
    )
    chosen = _ablation_features(summary, 3, search)
    assert chosen == ["tree__impulse:integer", "tree__range:string"]
