"""No input a user can type into ``skdni`` ends in a traceback (issue 11)."""

import re
from pathlib import Path

import pytest

from skdni.cli import main


def _one_line_error(err: str) -> bool:
    errors = [line for line in err.splitlines() if "error:" in line]
    return len(errors) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--cv", "1", r"'cv' parameter .* range \[2, inf\)"),
        ("--cv", "x", r"expected an integer, got 'x'"),
        ("--seed", "-1", r"'random_state' parameter .* \[0, 4294967295\]"),
        ("--seed", str(2**32), r"'random_state' parameter"),
        ("--n-jobs", "0", r"non-zero integer"),
        ("--n-jobs", "two", r"expected an integer"),
        ("--units", "0", r"'units' parameter"),
        ("--epochs", "0", r"'epochs' parameter"),
        ("--top-k", "0", r"'top_k' parameter"),
        ("--n-chars", "0", r"positive integer"),
        ("--cell", "transformer", r"invalid choice"),
        ("--features", "syntax", r"unknown feature set"),
    ],
)
def test_options_are_checked_when_parsed(option, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", option, value, "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and re.search(message, err), err
    assert _one_line_error(err)
    assert not (tmp_path / "o").exists()


def test_good_options_pass_the_parser():
    from skdni.cli import build_parser

    args = build_parser().parse_args(
        "run --cv 2 --seed 0 --n-jobs -1 --units 1 --epochs 1 --top-k 1".split()
    )
    assert (args.cv, args.seed, args.n_jobs) == (2, 0, -1)


def test_grammar_file_that_is_not_utf8_is_a_one_line_error(tmp_path, capsys):
    grammar = tmp_path / "latin1.lark"
    grammar.write_bytes('start: "caf\xe9"\n'.encode("latin-1"))
    code = main(["run", "--grammar", str(grammar), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "latin1.lark" in err and "not UTF-8" in err and _one_line_error(err)


def _crash_in_training(monkeypatch):
    from skdni.models import CharLanguageModel

    def crash(self, *args, **kwargs):
        raise RuntimeError("numerical trouble\nsecond line")

    monkeypatch.setattr(CharLanguageModel, "fit", crash)


def test_unexpected_failure_names_the_stage_and_the_traceback_file(
    tmp_path, capsys, monkeypatch
):
    _crash_in_training(monkeypatch)
    argv = ["run", "--n-chars", "2000", "--cv", "2", "--out", str(tmp_path / "o")]
    argv += ["--quiet"]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert _one_line_error(err), err
    assert "RuntimeError" in err and "numerical trouble" in err
    assert "stage 'model" in err and "--debug" in err
    path = Path(re.search(r"full traceback in (\S+);", err).group(1))
    try:
        trace = path.read_text()
        assert "Traceback" in trace and "numerical trouble" in trace
    finally:
        path.unlink()


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    _crash_in_training(monkeypatch)
    argv = ["run", "--n-chars", "2000", "--cv", "2", "--out", str(tmp_path / "o")]
    argv += ["--quiet"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--debug"]
    with pytest.raises(RuntimeError, match="numerical trouble"):
        main(argv)


def test_interrupt_is_one_line(tmp_path, capsys, monkeypatch):
    from skdni.models import CharLanguageModel

    def interrupt(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(CharLanguageModel, "fit", interrupt)
    argv = ["run", "--n-chars", "2000", "--cv", "2", "--out", str(tmp_path / "o")]
    argv += ["--quiet"]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == "skdni: interrupted"
