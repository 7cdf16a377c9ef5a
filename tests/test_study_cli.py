"""`skdni run` and `run_study` end to end on a tiny configuration; bad input."""

import json
import subprocess
import sys

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


@pytest.mark.slow
def test_summary_names_units_for_every_feature(tiny_study):
    summary = pd.read_csv(tiny_study.out / "tables" / "summary.csv", index_col=0)
    assert set(summary["feature"]) == set(tiny_study.labels.columns)
    assert summary["best_units"].notna().all()
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
    ):
        assert option in result.stdout
