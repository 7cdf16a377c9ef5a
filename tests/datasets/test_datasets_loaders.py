import sysconfig
from pathlib import Path

import pytest

from skdni import EmptyCorpusError, InputError, InputTypeError
from skdni.datasets import load_python_source, load_text_files


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bbb")
    (tmp_path / "a.txt").write_text("aa\r\nx")
    (tmp_path / "sub" / "c.txt").write_text("c")
    (tmp_path / "sub" / "d.py").write_text("print(1)\n")
    (tmp_path / "empty.txt").write_text("")
    return tmp_path


def test_directory_sorted_and_recursive(folder):
    assert load_text_files(folder) == ["aa\nx", "bbb", "c", "print(1)\n"]
    assert load_text_files(str(folder), pattern="*.txt") == ["aa\nx", "bbb", "c"]
    assert load_text_files(folder, pattern="*.py") == ["print(1)\n"]


def test_files_keep_the_given_order(folder):
    paths = [folder / "b.txt", str(folder / "a.txt"), folder / "sub"]
    assert load_text_files(paths) == ["bbb", "aa\nx", "c", "print(1)\n"]
    assert load_text_files(folder / "b.txt") == ["bbb"]


def test_max_chars_never_cuts_a_line(folder):
    # "bbb" is one line: it does not fit in the 2 characters left, so it is left out
    assert load_text_files(folder, max_chars=6) == ["aa\nx"]
    assert load_text_files(folder, max_chars=4) == ["aa\nx"]
    # the lines of the last file that fit
    assert load_text_files(folder, max_chars=3) == ["aa\n"]
    assert load_text_files(folder, max_chars=1000) == load_text_files(folder)


def test_encoding(tmp_path):
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    assert load_text_files(tmp_path, encoding="latin-1") == ["café"]


def test_undecodable_file_is_skipped_with_a_warning(tmp_path):
    (tmp_path / "good.txt").write_text("ok")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.warns(
        UserWarning, match=r"Skipped 1 undecodable file\(s\): .*bad\.txt"
    ):
        assert load_text_files(tmp_path) == ["ok"]


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError, match="nope.txt.*does not exist"):
        load_text_files([tmp_path, missing])


def test_nothing_matches(folder):
    with pytest.raises(EmptyCorpusError, match=r"No file matches pattern '\*\.md'"):
        load_text_files(folder, pattern="*.md")


def test_only_empty_files(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(EmptyCorpusError, match="empty or undecodable"):
        load_text_files(tmp_path)


@pytest.mark.parametrize(
    "arg, error, match",
    [
        ([], EmptyCorpusError, "list of paths is empty"),
        (3, InputTypeError, "got int"),
        ([Path("."), 3], InputTypeError, "got int: 3"),
        (b"bytes", InputTypeError, "not bytes"),
    ],
)
def test_bad_paths(arg, error, match):
    with pytest.raises(error, match=match):
        load_text_files(arg)


@pytest.mark.parametrize("max_chars", [0, -1, 2.5, True])
def test_bad_max_chars(folder, max_chars):
    with pytest.raises(InputError, match="max_chars must be a positive int"):
        load_text_files(folder, max_chars=max_chars)
    with pytest.raises(InputError, match="max_chars must be a positive int"):
        load_python_source(max_chars=max_chars)


def test_python_source_is_the_stdlib():
    texts = load_python_source(max_chars=50_000, max_text_chars=None)
    assert 49_000 < sum(map(len, texts)) <= 50_000
    assert texts == load_python_source(max_chars=50_000, max_text_chars=None)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    first = sorted(
        p.relative_to(stdlib).as_posix()
        for p in stdlib.glob("*.py")
        if p.stat().st_size
    )[0]
    assert texts[0] == (stdlib / first).read_text(encoding="utf-8")
    assert any("def " in t for t in texts)


def test_first_line_longer_than_max_chars(tmp_path):
    (tmp_path / "a.txt").write_text("x" * 50 + "\n")
    with pytest.raises(EmptyCorpusError, match="first line .* longer than max_chars"):
        load_text_files(tmp_path, max_chars=10)


@pytest.mark.parametrize("max_text_chars", [0, -3, 1.5, False])
def test_bad_max_text_chars(folder, max_text_chars):
    with pytest.raises(InputError, match="max_text_chars must be a positive int"):
        load_text_files(folder, max_text_chars=max_text_chars)


def test_long_files_are_cut_at_line_ends(tmp_path):
    lines = [f"line {i:03d}\n" for i in range(100)]  # 9 chars each
    (tmp_path / "a.txt").write_text("".join(lines))
    (tmp_path / "b.txt").write_text("short\n")
    texts = load_text_files(tmp_path, max_text_chars=40)
    assert texts[-1] == "short\n"
    assert "".join(texts[:-1]) == "".join(lines)
    assert [len(t) for t in texts[:-1]] == [36] * 25  # 4 whole lines per text
    assert all(t.endswith("\n") for t in texts)


def test_cuts_prefer_top_level_lines(tmp_path):
    block = "def f():\n    x = 1\n    return x\n"  # 33 chars
    (tmp_path / "a.py").write_text(block * 4)
    texts = load_text_files(tmp_path, max_text_chars=80)
    # cut between blocks, never inside one, even though more lines would fit
    assert texts == [block * 2, block * 2]


def test_cuts_avoid_continuations_and_open_strings(tmp_path):
    source = (
        'x = """doc\nstill doc\n"""\n'
        "if x:\n    pass\nelse:\n    pass\n"
        "@decorator\ndef g():\n    pass\n"
    )
    (tmp_path / "a.py").write_text(source)
    for limit in range(31, len(source)):  # 31: the longest block
        texts = load_text_files(tmp_path, max_text_chars=limit)
        assert "".join(texts) == source
        for text in texts[1:]:
            assert not text.startswith(("still", '"""', "else", "def"))


def test_a_line_longer_than_max_text_chars_is_cut_inside(tmp_path):
    (tmp_path / "a.txt").write_text("ab\n" + "x" * 25 + "\n")
    assert load_text_files(tmp_path, max_text_chars=10) == [
        "ab\n",
        "x" * 10,
        "x" * 10,
        "x" * 5 + "\n",
    ]


def test_python_source_texts_are_bounded():
    texts = load_python_source(max_chars=200_000)
    assert max(map(len, texts)) <= 2000
    assert 190_000 < sum(map(len, texts)) <= 200_000
