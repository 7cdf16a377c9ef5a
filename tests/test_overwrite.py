"""``--overwrite`` replaces a report only once the new one is complete, deletes only
the manifest's files inside the report folder, and leaves the old report
byte-identical when a run fails at any stage (issue 11)."""

import json
from pathlib import Path

import pytest

from skdni import InputError, ModelFileError, SkdniError, run_study
from skdni._study import _MANIFEST
from skdni.cli import main

FAST = dict(
    n_chars=3_000,
    units=8,
    epochs=1,
    cv=2,
    top_k=2,
    ks=(1,),
    n_random=1,
    n_samples=1,
    sample_chars=10,
    features=("regex",),
    verbose=0,
    overwrite=True,
)


def _old_report(root: Path) -> Path:
    """A previous report (its manifest lists its files) and a file of the user's."""
    out = root / "reports" / "R"
    (out / "figures").mkdir(parents=True)
    (out / "tables").mkdir()
    files = {
        "report.html": "<html>old</html>",
        "model.keras": "old model bytes",
        "figures/unit-scores.png": "old png",
        "figures/retired-figure.png": "old png, a figure the new run does not make",
        "tables/summary.csv": "old,csv",
    }
    for name, text in files.items():
        (out / name).write_text(text)
    (out / _MANIFEST).write_text(json.dumps(sorted(files) + [_MANIFEST]))
    (out / "notes.txt").write_text("the user's own notes")
    return out


def _snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (bytes), and the folder's siblings."""
    files = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    return {"files": files, "siblings": sorted(p.name for p in folder.parent.iterdir())}


@pytest.fixture
def old(tmp_path):
    out = _old_report(tmp_path)
    return out, _snapshot(out)


def _run(out, tmp_path, **options):
    return run_study(
        out=str(out), cache_dir=str(tmp_path / "cache"), **{**FAST, **options}
    )


def test_empty_corpus_folder_leaves_the_old_report(old, tmp_path):
    out, before = old
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkdniError, match="No text|empty"):
        _run(out, tmp_path, corpus=str(tmp_path / "empty"))
    assert _snapshot(out) == before


def test_too_many_folds_leaves_the_old_report(old, tmp_path):
    out, before = old
    with pytest.raises(InputError, match="cv.500"):
        _run(out, tmp_path, cv=500)
    assert _snapshot(out) == before


def test_bad_model_file_leaves_the_old_report(old, tmp_path):
    out, before = old
    model = tmp_path / "broken.keras"
    model.write_text("not a zip archive")
    with pytest.raises(ModelFileError, match="broken.keras"):
        _run(out, tmp_path, model=str(model))
    assert _snapshot(out) == before


def test_crash_in_training_leaves_the_old_report(old, tmp_path, monkeypatch):
    from skdni.models import CharLanguageModel

    def crash(self, *args, **kwargs):
        raise RuntimeError("out of memory in training")

    monkeypatch.setattr(CharLanguageModel, "fit", crash)
    out, before = old
    with pytest.raises(RuntimeError, match="out of memory"):
        _run(out, tmp_path)
    assert _snapshot(out) == before


@pytest.mark.slow
def test_crash_while_writing_the_report_leaves_the_old_one(old, tmp_path, monkeypatch):
    import skdni.report

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(skdni.report, "write_html_report", crash)
    out, before = old
    with pytest.raises(OSError, match="disk full"):
        _run(out, tmp_path)
    # the half-written new report was in a temporary folder beside R, now removed
    assert _snapshot(out) == before


def test_cli_failures_leave_the_old_report(old, tmp_path, capsys):
    out, before = old
    (tmp_path / "empty").mkdir()
    for extra in (["--cv", "500"], ["--corpus", str(tmp_path / "empty")]):
        argv = ["run", "--out", str(out), "--overwrite", "--quiet"]
        argv += ["--n-chars", "2000", "--cache-dir", str(tmp_path / "cache")]
        assert main(argv + extra) == 2
        assert "Traceback" not in capsys.readouterr().err
        assert _snapshot(out) == before


@pytest.mark.slow
def test_overwrite_replaces_only_the_manifest_files(old, tmp_path):
    out, before = old
    result = _run(out, tmp_path)
    after = _snapshot(out)
    manifest = json.loads((out / _MANIFEST).read_text())
    assert set(after["files"]) == set(manifest) | {"notes.txt"}
    assert after["files"]["notes.txt"] == before["files"]["notes.txt"]
    # an old figure that the new run did not make is gone (it was skdni's)
    assert "figures/retired-figure.png" not in after["files"]
    assert after["files"]["report.html"] != before["files"]["report.html"]
    assert result.out == out
    assert after["siblings"] == before["siblings"]  # no temporary folder left


@pytest.mark.parametrize(
    "entry", ["../victim.txt", "figures/../../victim.txt", "/abs/victim.txt", ""]
)
def test_manifest_entries_outside_the_folder_are_refused(old, tmp_path, entry):
    out, _ = old
    victim = tmp_path / "victim.txt"
    victim.write_text("not skdni's")
    if entry.startswith("/abs/"):
        entry = str(victim)
    names = json.loads((out / _MANIFEST).read_text()) + [entry]
    (out / _MANIFEST).write_text(json.dumps(names))
    before = _snapshot(out)
    with pytest.raises(InputError, match="not a plain relative path.*nothing"):
        _run(out, tmp_path)
    assert victim.read_text() == "not skdni's"
    assert _snapshot(out) == before


def test_manifest_symlink_out_of_the_folder_is_refused(old, tmp_path):
    out, _ = old
    victim = tmp_path / "victim.txt"
    victim.write_text("not skdni's")
    (out / "link.txt").symlink_to(victim)
    names = json.loads((out / _MANIFEST).read_text()) + ["link.txt"]
    (out / _MANIFEST).write_text(json.dumps(names))
    with pytest.raises(InputError, match="link.txt"):
        _run(out, tmp_path)
    assert victim.read_text() == "not skdni's"


@pytest.mark.parametrize("text", ["{not json", '{"report.html": 1}', "[1, 2]"])
def test_corrupt_manifest_is_a_clear_error_and_deletes_nothing(
    old, tmp_path, capsys, text
):
    out, _ = old
    (out / _MANIFEST).write_text(text)
    before = _snapshot(out)
    argv = ["run", "--out", str(out), "--overwrite", "--quiet", "--n-chars", "2000"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "skdni-manifest.json" in err and "nothing was deleted" in err
    assert "Traceback" not in err
    assert _snapshot(out) == before


def test_a_file_the_manifest_does_not_list_is_not_overwritten(tmp_path):
    out = tmp_path / "reports" / "R"
    out.mkdir(parents=True)
    (out / "report.html").write_text("the user's own report")
    with pytest.raises(InputError, match="report.html.*not listed"):
        _run(out, tmp_path)
    assert (out / "report.html").read_text() == "the user's own report"


def test_an_unwritable_report_folder_fails_before_the_study(tmp_path, monkeypatch):
    from skdni.models import CharLanguageModel

    def no_training(*args, **kwargs):
        raise AssertionError("the study ran although the report cannot be written")

    monkeypatch.setattr(CharLanguageModel, "fit", no_training)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(InputError, match="a-file' is not a writable folder"):
        _run(blocker / "R", tmp_path)
