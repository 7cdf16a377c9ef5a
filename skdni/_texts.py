"""The character table: a corpus is a list of strings, and every text-input transformer
returns one row per character in corpus order."""

import re
from collections.abc import Iterator, Mapping, Sequence, Set

import numpy as np

from ._errors import EmptyCorpusError, InputError, InputTypeError

# UTF-16 halves that no UTF encoder accepts on their own (str can hold them)
_SURROGATE = re.compile("[\ud800-\udfff]")


_PASS = "pass a list (or tuple, 1-D NumPy array, pandas Series) of str"


def check_texts(texts, *, allow_empty_texts: bool = False) -> list[str]:
    """Validate a corpus and return it as a list of ``str``.

    A corpus is an ordered, re-readable sequence: a list, tuple, NumPy array or
    pandas Series of ``str``. Raises :class:`InputTypeError` for anything else —
    a bare string, a mapping (its keys would be read as texts), a set (its order
    depends on ``PYTHONHASHSEED``), a generator or other one-shot iterable (it
    would be consumed by ``fit``) — and for non-string items; raises
    :class:`EmptyCorpusError` for an empty corpus or (unless allowed) an empty
    text, and :class:`InputError` for a lone surrogate (not a Unicode character).
    """
    if isinstance(texts, str | bytes):
        raise InputTypeError(
            "Expected a list of texts, got a single string; wrap it in a list: [text]."
        )
    kind = type(texts).__name__
    if isinstance(texts, Mapping):
        raise InputTypeError(
            f"Expected a corpus of texts, got a mapping ({kind}); {_PASS}, e.g. "
            "list(d.values()) or list(d.keys())."
        )
    if isinstance(texts, Set):
        raise InputTypeError(
            f"Expected a corpus of texts, got an unordered {kind}: its row order "
            f"would change from run to run; {_PASS}, e.g. sorted(texts)."
        )
    if _is_pandas(texts, "DataFrame"):
        raise InputTypeError(
            f"Expected a corpus of texts, got a DataFrame; {_PASS}: select one "
            "column, e.g. df['text']."
        )
    if isinstance(texts, np.ndarray) or _is_pandas(texts, "Series", "Index"):
        texts = list(np.asarray(texts, dtype=object).ravel())
    elif isinstance(texts, Sequence):
        texts = list(texts)
    else:
        what = "a one-shot iterator" if isinstance(texts, Iterator) else kind
        raise InputTypeError(
            f"Expected a corpus of texts, got {what} ({kind}); {_PASS}, e.g. "
            "list(texts) — the texts are read more than once."
        )
    if not texts:
        raise EmptyCorpusError("The corpus is empty: expected at least one text.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(
                f"Text {i} is a {type(text).__name__}, expected a str."
            )
        if not text and not allow_empty_texts:
            raise EmptyCorpusError(f"Text {i} is empty: every text needs a character.")
        if not text.isascii():
            surrogate = _SURROGATE.search(text)
            if surrogate is not None:
                raise InputError(
                    f"Text {i} has a lone surrogate {surrogate.group()!r} at "
                    f"character {surrogate.start()}: it is not a Unicode character "
                    "(text decoded with errors='surrogateescape'?); decode with "
                    "errors='replace' or remove it."
                )
    return texts


def _is_pandas(obj, *names) -> bool:
    cls = type(obj)
    return cls.__module__.startswith("pandas") and cls.__name__ in names


def text_lengths(texts) -> np.ndarray:
    """Number of characters (rows) of each text."""
    return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))


def sequence_ids(texts) -> np.ndarray:
    """The text index of every character row (use as ``groups`` for ``GroupKFold``).

    Parameters
    ----------
    texts : list of str
        The corpus (empty texts are allowed: they have no rows).

    Returns
    -------
    ids : ndarray of shape (n_chars,), int
        ``ids[row]`` is the index of the text that row belongs to.

    Examples
    --------
    >>> sequence_ids(["ab", "c"])
    array([0, 0, 1])
    """
    texts = check_texts(texts, allow_empty_texts=True)
    return np.repeat(np.arange(len(texts)), text_lengths(texts))


def char_offsets(texts) -> np.ndarray:
    """The row where each text starts, plus the total number of rows at the end.

    ``rows[offsets[i]:offsets[i + 1]]`` are the rows of text ``i``.

    Parameters
    ----------
    texts : list of str
        The corpus (empty texts are allowed: they have no rows).

    Returns
    -------
    offsets : ndarray of shape (n_texts + 1,), int
        Cumulative text lengths, starting at 0.

    Examples
    --------
    >>> char_offsets(["ab", "c"])
    array([0, 2, 3])
    """
    texts = check_texts(texts, allow_empty_texts=True)
    return np.concatenate([[0], np.cumsum(text_lengths(texts))])
