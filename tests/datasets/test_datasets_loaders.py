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


def test_max_chars_cuts_the_last_text(folder):
    assert load_text_files(folder, max_chars=6) == ["aa\nx", "bb"]
    assert load_text_files(folder, max_chars=4) == ["aa\nx"]
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
    texts = load_python_source(max_chars=50_000)
    assert sum(map(len, texts)) == 50_000
    assert texts == load_python_source(max_chars=50_000)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    first = sorted(
        p.relative_to(stdlib).as_posix()
        for p in stdlib.glob("*.py")
        if p.stat().st_size
    )[0]
    assert texts[0] == (stdlib / first).read_text(encoding="utf-8")
    assert any("def " in t for t in texts)
