"""The character table: a corpus is a list of strings, and every text-input transformer
returns one row per character in corpus order (DESIGN §1)."""

from collections.abc import Iterable

import numpy as np

from ._errors import EmptyCorpusError, InputTypeError


def check_texts(texts, *, allow_empty_texts: bool = False) -> list[str]:
    """Validate a corpus and return it as a list of ``str``.

    Raises :class:`InputTypeError` for a bare string or non-string items and
    :class:`EmptyCorpusError` for an empty corpus or (unless allowed) an empty text.
    """
    if isinstance(texts, str | bytes):
        raise InputTypeError(
            "Expected a list of texts, got a single string; wrap it in a list: [text]."
        )
    if not isinstance(texts, Iterable):
        raise InputTypeError(
            f"Expected a list of texts (strings), got {type(texts).__name__}."
        )
    texts = list(texts.ravel() if isinstance(texts, np.ndarray) else texts)
    if not texts:
        raise EmptyCorpusError("The corpus is empty: expected at least one text.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(
                f"Text {i} is a {type(text).__name__}, expected a str."
            )
        if not text and not allow_empty_texts:
            raise EmptyCorpusError(f"Text {i} is empty: every text needs a character.")
    return texts


def text_lengths(texts) -> np.ndarray:
    """Number of characters (rows) of each text."""
    return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))


def sequence_ids(texts) -> np.ndarray:
    """The text index of every character row (use as ``groups`` for ``GroupKFold``).

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

    Examples
    --------
    >>> char_offsets(["ab", "c"])
    array([0, 2, 3])
    """
    texts = check_texts(texts, allow_empty_texts=True)
    return np.concatenate([[0], np.cumsum(text_lengths(texts))])
