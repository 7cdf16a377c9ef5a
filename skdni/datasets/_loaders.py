"""Real text from disk: any files, or the Python standard library's source."""

import os
import sysconfig
import tokenize
import warnings
from pathlib import Path

from .._errors import EmptyCorpusError, InputError, InputTypeError
from ._split import MAX_TEXT_CHARS, _check_max_text_chars, split_lines

# Third-party packages can live inside the standard library's directory; they are
# not the standard library.
_NOT_STDLIB = {"site-packages", "dist-packages", "__pycache__"}


def _collect_paths(paths_or_dir, pattern: str) -> list[Path]:
    if isinstance(paths_or_dir, str | os.PathLike):
        items = [paths_or_dir]
    elif isinstance(paths_or_dir, bytes):
        raise InputTypeError("Give paths as str or pathlib.Path, not bytes.")
    else:
        try:
            items = list(paths_or_dir)
        except TypeError:
            raise InputTypeError(
                "Expected a path or a list of paths, got "
                f"{type(paths_or_dir).__name__}."
            ) from None
        if not items:
            raise EmptyCorpusError("The list of paths is empty.")
    files = []
    for item in items:
        if not isinstance(item, str | os.PathLike):
            raise InputTypeError(
                f"Expected a path (str or pathlib.Path), got {type(item).__name__}: "
                f"{item!r}."
            )
        path = Path(item)
        if path.is_dir():
            files.extend(
                sorted(
                    (p for p in path.rglob(pattern) if p.is_file()),
                    key=lambda p: p.relative_to(path).as_posix(),
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"Path {str(path)!r} does not exist.")
    if not files:
        raise EmptyCorpusError(
            f"No file matches pattern {pattern!r} in "
            f"{', '.join(repr(str(item)) for item in items)}."
        )
    return files


def _check_max_chars(max_chars):
    if max_chars is not None and (
        isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1
    ):
        raise InputError(
            f"max_chars must be a positive int or None, got {max_chars!r}."
        )


def _read_files(files, *, max_chars, max_text_chars, read):
    """``[(path, texts), ...]``: each readable non-empty file cut into texts of at
    most ``max_text_chars`` characters at line ends, until ``max_chars`` in all."""
    per_file, total, undecodable = [], 0, []
    for path in files:
        if max_chars is not None and total >= max_chars:
            break
        try:
            text = read(path)
        except (UnicodeDecodeError, SyntaxError):
            # SyntaxError: tokenize rejects an invalid coding cookie.
            undecodable.append(str(path))
            continue
        if not text:  # an empty file has no characters to contribute
            continue
        if max_chars is not None and total + len(text) > max_chars:
            # the lines of this file that still fit; never a cut inside a line
            text = split_lines(text, None, first=max_chars - total)
            total = max_chars  # nothing more fits after a cut file
            if not text:
                break
        else:
            total += len(text)
        per_file.append((path, split_lines(text, max_text_chars)))
    if undecodable:
        shown = ", ".join(undecodable[:5])
        more = f" and {len(undecodable) - 5} more" if len(undecodable) > 5 else ""
        warnings.warn(
            f"Skipped {len(undecodable)} undecodable file(s): {shown}{more}.",
            UserWarning,
            stacklevel=3,
        )
    if not per_file:
        if max_chars is not None and files:
            raise EmptyCorpusError(
                f"No text was read: the first line of the first file is longer than "
                f"max_chars={max_chars} characters; raise max_chars."
            )
        raise EmptyCorpusError(
            "No text was read: every matching file is empty or undecodable."
        )
    return per_file


def _flat(per_file):
    return [text for _, texts in per_file for text in texts]


def read_text_files_by_file(
    paths_or_dir, *, pattern="*", max_chars=None, max_text_chars=MAX_TEXT_CHARS
):
    """``[(path, texts), ...]`` of :func:`load_text_files`, kept per file (for a
    split by file); ``.py`` files are decoded as Python source (PEP 263)."""
    _check_max_chars(max_chars)
    _check_max_text_chars(max_text_chars)
    files = _collect_paths(paths_or_dir, pattern)

    def read(path):
        if path.suffix == ".py":
            return _read_python(path)
        return path.read_text(encoding="utf-8")

    return _read_files(
        files, max_chars=max_chars, max_text_chars=max_text_chars, read=read
    )


def load_text_files(
    paths_or_dir,
    *,
    pattern: str = "*",
    max_chars: int | None = None,
    max_text_chars: int | None = MAX_TEXT_CHARS,
    encoding: str = "utf-8",
) -> list[str]:
    """Read text files into a corpus, in a deterministic order.

    Each file gives one text, or, when longer than ``max_text_chars``, several
    consecutive texts cut at line ends (``"".join`` of a file's texts is the file).
    A cut goes before a line that starts a new top-level statement when one is in
    reach (a line at column 0 that does not continue the one above, outside any
    triple-quoted string), so cut Python or C source still parses; else before any
    line. Only a single line longer than ``max_text_chars`` is cut inside the line.

    Parameters
    ----------
    paths_or_dir : str, path-like, or list of them
        Files, or directories searched recursively for files matching ``pattern``
        (sorted by their path relative to the directory). Items keep the order
        given.
    pattern : str, default="*"
        Glob pattern for files inside directories, e.g. ``"*.py"``.
    max_chars : int, optional
        Read at most this many characters in all: files are read whole while they
        fit, then the lines of the next file that fit (never part of a line).
    max_text_chars : int or None, default=2000
        Longest text, in characters; longer files are cut into several texts at
        line ends. None: one text per file, whatever its length.
    encoding : str, default="utf-8"
        Encoding of the files. Line endings are normalized to ``"\\n"``.

    Returns
    -------
    texts : list of str
        Empty files are left out (they have no characters). Files that do not
        decode are skipped with one ``UserWarning`` naming them.

    Raises
    ------
    InputError
        A path does not exist (named in the message), or ``max_chars`` is invalid.
    EmptyCorpusError
        No file matches, or every file is empty or undecodable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "b.txt").write_text("second")
    >>> _ = (folder / "a.txt").write_text("first")
    >>> load_text_files(folder, pattern="*.txt")
    ['first', 'second']
    >>> _ = (folder / "c.txt").write_text("one\\ntwo\\nthree\\n")
    >>> load_text_files(folder, max_chars=17)  # 5 + 6 + the lines that fit
    ['first', 'second', 'one\\n']
    >>> load_text_files(folder, max_text_chars=8)
    ['first', 'second', 'one\\ntwo\\n', 'three\\n']
    """
    _check_max_chars(max_chars)
    _check_max_text_chars(max_text_chars)
    files = _collect_paths(paths_or_dir, pattern)
    return _flat(
        _read_files(
            files,
            max_chars=max_chars,
            max_text_chars=max_text_chars,
            read=lambda p: p.read_text(encoding=encoding),
        )
    )


def _read_python(path: Path) -> str:
    # Source files declare their encoding (PEP 263); tokenize.open honours it.
    with tokenize.open(path) as file:
        return file.read()


def _stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def load_python_source(
    max_chars: int | None = None, *, max_text_chars: int | None = MAX_TEXT_CHARS
) -> list[str]:
    """Python source code of the running interpreter's standard library.

    Reads the ``.py`` files under ``sysconfig.get_paths()["stdlib"]`` from disk (no
    network), sorted by relative path, skipping ``site-packages``; each non-empty
    file gives one text or, if longer than ``max_text_chars``, several texts cut
    at line ends as in :func:`load_text_files`. Each file is decoded with the
    encoding it declares (PEP 263); the few that do not decode are skipped with a
    ``UserWarning`` naming them.

    Parameters
    ----------
    max_chars : int, optional
        Read at most this many characters in all (files whole while they fit, then
        the lines of the next file that fit).
    max_text_chars : int or None, default=2000
        Longest text, in characters (None: one text per file).

    Returns
    -------
    texts : list of str

    Examples
    --------
    >>> texts = load_python_source(max_chars=5000)
    >>> sum(map(len, texts)) <= 5000, max(map(len, texts)) <= 2000
    (True, True)
    """
    _check_max_chars(max_chars)
    _check_max_text_chars(max_text_chars)
    root = _stdlib_dir()
    if not root.is_dir():
        raise InputError(
            f"The standard library directory {str(root)!r} does not exist."
        )
    files = [
        p
        for p in _collect_paths(root, "*.py")
        if not _NOT_STDLIB.intersection(p.relative_to(root).parts[:-1])
    ]
    return _flat(
        _read_files(
            files,
            max_chars=max_chars,
            max_text_chars=max_text_chars,
            read=_read_python,
        )
    )
