"""Python source cut into pieces (issue 10): every failure goes through on_error,
and pieces cut at line ends by the loaders parse."""

import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skdni import ParseFailure
from skdni.datasets import load_text_files
from skdni.datasets._python_postlex import PythonPostLex
from skdni.features import ParserStateFeaturizer, ParseTreeFeaturizer

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# real files of several shapes: classes, long functions, module docstrings
FILES = ["bisect.py", "colorsys.py", "fnmatch.py", "queue.py", "shlex.py"]
SOURCES = [(STDLIB / name).read_text(encoding="utf-8") for name in FILES]

FEATURIZERS = {
    "tree": lambda **kw: ParseTreeFeaturizer(
        "python", representations=("range", "depth"), **kw
    ),
    "state": lambda **kw: ParserStateFeaturizer("python", **kw),
}


@pytest.mark.parametrize("kind", sorted(FEATURIZERS))
@pytest.mark.parametrize(
    "text",
    [
        "# Copyright",  # only a comment, no newline (lark: IndexError)
        "x = 1\n# comment",  # ends in a comment (lark: a spurious INDENT)
        "x = 1  # comment",
        "def f():\n    x = 1\n    # comment",
        "x = 1",  # no newline at the end
        "if x:\n    y = 1",
        "        return x\n\n    def g(self):\n        pass\n",  # starts indented
        "    # a comment\n    x = 1\n  y = 2\n",
    ],
)
def test_pieces_of_files_parse(kind, text):
    f = FEATURIZERS[kind](on_error="raise")
    Y = f.fit_transform([text, "z = 2\n"])
    assert Y.shape[0] == len(text) + 6
    assert not np.isnan(Y).any()


@pytest.mark.parametrize("kind", sorted(FEATURIZERS))
@pytest.mark.parametrize(
    "text, position",
    [
        ('x = "abc', 4),  # cut inside a string
        ('x = """abc\ndef\n', 4),  # cut inside a triple-quoted string
        ("x)\n", 1),  # a closing bracket without its opening one
        ("def f():\n  return 1\n y\n", 21),  # inconsistent dedent
    ],
)
def test_what_does_not_parse_goes_through_on_error(kind, text, position):
    with pytest.raises(ParseFailure, match=r"Text 1 does not parse at character"):
        FEATURIZERS[kind](on_error="raise").fit(["z = 2\n", text])
    try:
        FEATURIZERS[kind](on_error="raise").fit([text])
    except ParseFailure as exc:
        assert f"at character {position} " in str(exc)
    f = FEATURIZERS[kind](on_error="nan")
    with pytest.warns(UserWarning, match="1 text"):
        Y = f.fit_transform(["z = 2\n", text])
    assert f.failed_texts_ == [1]
    assert np.isnan(Y[6:]).all() and not np.isnan(Y[:6]).any()


@pytest.mark.parametrize("kind", sorted(FEATURIZERS))
def test_any_exception_of_a_postlexer_is_a_parse_failure(kind, monkeypatch):
    # lark's indenter raised IndexError and AssertionError on some inputs: whatever
    # a postlexer raises is a failure of that text, with its position
    def broken(self, token):
        raise IndexError("list index out of range")
        yield

    monkeypatch.setattr(PythonPostLex, "handle_NL", broken)
    with pytest.raises(
        ParseFailure, match=r"Text 0 .* character \d+ .*IndexError: list index"
    ):
        FEATURIZERS[kind](on_error="raise").fit(["x = 1\ny = 2\n"])
    f = FEATURIZERS[kind](on_error="nan")
    with pytest.warns(UserWarning, match="IndexError"):
        f.fit(["x = 1\ny = 2\n", "z"])
    assert f.failed_texts_ == [0]


def _parses_or_fails_through_on_error(text):
    """``text`` parses, or is a ParseFailure ("raise") and a NaN text ("nan")."""
    for kind, make in FEATURIZERS.items():
        try:
            Y = make(on_error="raise").fit_transform([text])
            assert not np.isnan(Y).any(), kind
        except ParseFailure as exc:
            assert "Text 0 does not parse" in str(exc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            f = make(on_error="nan")
            Y = f.fit_transform([text, "z = 2\n"])
        assert Y.shape[0] == len(text) + 6
        assert np.isnan(Y[: len(text)]).all() == (f.failed_texts_ == [0])


@settings(max_examples=20, deadline=None)
@given(file=st.integers(0, len(SOURCES) - 1), cut=st.floats(0, 1))
def test_random_prefixes_of_stdlib_files(file, cut):
    """Any prefix of a real file, cut anywhere (inside a line, a comment, a string)."""
    source = SOURCES[file]
    _parses_or_fails_through_on_error(source[: max(1, int(cut * len(source)))])


@settings(max_examples=20, deadline=None)
@given(
    file=st.integers(0, len(SOURCES) - 1),
    start=st.floats(0, 1),
    length=st.integers(1, 3000),
)
def test_random_pieces_of_stdlib_files(file, start, length):
    """Any piece of a real file: parses, or is a ParseFailure / a NaN text."""
    source = SOURCES[file]
    lo = int(start * (len(source) - 1))
    _parses_or_fails_through_on_error(source[lo : lo + length])


@settings(max_examples=20, deadline=None)
@given(file=st.integers(0, len(SOURCES) - 1), data=st.data())
def test_prefixes_at_line_ends_of_top_level_statements_parse(file, data):
    """A prefix of a file that ends before a top-level statement parses."""
    source = SOURCES[file]
    starts = [
        i + 1
        for i, ch in enumerate(source[:-1])
        if ch == "\n"
        and source[i + 1 : i + 5] in ("def ", "clas", "impo", "from")
        and not source[: i + 1].rsplit("\n", 2)[-2].startswith("@")  # decorated
    ]
    cut = data.draw(st.sampled_from(starts))
    for make in FEATURIZERS.values():
        make(on_error="raise").fit([source[:cut], source[cut:]])


def test_loader_pieces_of_stdlib_files_parse(tmp_path):
    for name, source in zip(FILES, SOURCES, strict=True):
        (tmp_path / name).write_text(source)
    texts = load_text_files(tmp_path, max_text_chars=1500)
    assert "".join(texts) == "".join(SOURCES)
    assert len(texts) == 40  # the 38,131 characters were cut
    f = ParseTreeFeaturizer("python", representations=("range",), on_error="nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        f.fit(texts)
    # pieces cut between statements parse, wherever their indentation starts; a
    # cut inside a long if/elif chain (shlex's read_token is 170 lines) leaves an
    # elif that does not parse on its own
    assert f.failed_texts_ == [12, 33, 34, 36]
    assert all(texts[i].lstrip().startswith(("if", "break")) for i in [12, 33])
