"""Character vocabularies: characters <-> the integer ids a character model reads.

A :class:`~skdni.models.CharLanguageModel` uses id 0 for padding and gives its sorted
vocabulary character ``vocabulary[i]`` the input id ``i + 1``; any other id table is
read through :class:`~skdni.models.ModelRuntime` (the model contract).
"""

import numpy as np

from .._chars import code_points
from .._errors import UnknownCharacterError
from .._texts import check_texts, text_lengths

__all__ = ["PAD_ID", "build_vocabulary", "encode_texts"]

PAD_ID = 0


def build_vocabulary(texts) -> list[str]:
    """The sorted list of distinct characters of a corpus.

    Examples
    --------
    >>> build_vocabulary(["ba", "ac"])
    ['a', 'b', 'c']
    """
    return sorted(set().union(*map(set, texts)))


def encode_texts(
    texts, vocabulary, *, unknown: str = "error", unknown_id: int = PAD_ID
) -> list[np.ndarray]:
    """Input ids (``int32``) of every character of every text.

    Parameters
    ----------
    texts : list of str
        The corpus.
    vocabulary : list of str or dict
        Sorted distinct characters (``vocabulary[i]`` gets id ``i + 1``), or a
        ``{char: input id}`` dict.
    unknown : {"error", "ignore"}, default="error"
        A character outside the vocabulary raises :class:`UnknownCharacterError`
        (naming the text, the position and the character) with ``"error"``, and is
        read as ``unknown_id`` with ``"ignore"``.
    unknown_id : int, default=0
        The id of an unknown character under ``unknown="ignore"`` (the padding id).

    Returns
    -------
    ids : list of ndarray of shape (len(text),)

    Examples
    --------
    >>> [ids.tolist() for ids in encode_texts(["abc", "ca"], ["a", "b", "c"])]
    [[1, 2, 3], [3, 1]]
    >>> [ids.tolist() for ids in encode_texts(["ax"], {"a": 5}, unknown="ignore")]
    [[5, 0]]
    """
    texts = check_texts(texts)
    if not isinstance(vocabulary, dict):
        vocabulary = {char: i + 1 for i, char in enumerate(vocabulary)}
    chars = sorted(vocabulary)
    table = np.fromiter(map(ord, chars), dtype=np.uint32, count=len(chars))
    table_ids = np.fromiter(
        map(vocabulary.get, chars), dtype=np.int32, count=len(chars)
    )
    points = code_points("".join(texts))
    index = np.minimum(np.searchsorted(table, points), len(table) - 1)
    known = table[index] == points
    ids = np.where(known, table_ids[index], unknown_id).astype(np.int32)
    if unknown == "error" and not known.all():
        row = int(np.argmin(known))
        offsets = np.concatenate([[0], np.cumsum(text_lengths(texts))])
        text = int(np.searchsorted(offsets, row, side="right") - 1)
        position = row - int(offsets[text])
        char = texts[text][position]
        raise UnknownCharacterError(
            f"Text {text}, position {position}: character {char!r} is not in the "
            f"model's vocabulary of {len(vocabulary)} characters. A CharLanguageModel "
            "with unknown='ignore' reads unknown characters as padding."
        )
    return np.split(ids, np.cumsum(text_lengths(texts))[:-1])
