"""Ready features: character classes, bracket depth, position in line, quotations.

Each is a picklable callable ``text -> labels`` for :class:`FunctionFeaturizer`
(so ``n_jobs > 1`` works), carrying its feature ``names``;
:func:`character_features` bundles them into one featurizer.
"""

import re

import numpy as np

from .._chars import BRACKETS
from .._chars import code_points as _codes
from .._docstring import fill_doc
from .._errors import InputError
from ._function import FunctionFeaturizer

OPERATORS = "+-*/%=<>!&|^~?:"

_CLASS_PARAMETERS = """\
Parameters
----------
text : str
    One text.

Returns
-------
labels : ndarray of shape (len(text),)
    1.0 on the matching characters, else 0.0."""


def _in_set(text: str, chars: str) -> np.ndarray:
    return np.isin(_codes(text), _codes(chars)).astype(float)


@fill_doc(char_class_parameters=_CLASS_PARAMETERS)
def is_digit(text: str) -> np.ndarray:
    """1 on ASCII digits ``0-9``.

    %(char_class_parameters)s

    Examples
    --------
    >>> is_digit("a1").tolist()
    [0.0, 1.0]
    """
    c = _codes(text)
    return ((c >= 48) & (c <= 57)).astype(float)


@fill_doc(char_class_parameters=_CLASS_PARAMETERS)
def is_letter(text: str) -> np.ndarray:
    """1 on letters (any script, :meth:`str.isalpha`).

    %(char_class_parameters)s
    """
    c = _codes(text)
    ascii_letter = ((c | 32) >= 97) & ((c | 32) <= 122)
    out = ascii_letter.astype(float)
    for i in np.flatnonzero(c > 127):  # only non-ASCII chars need Python's tables
        out[i] = float(text[i].isalpha())
    return out


@fill_doc(char_class_parameters=_CLASS_PARAMETERS)
def is_whitespace(text: str) -> np.ndarray:
    """1 on whitespace (:meth:`str.isspace`).

    %(char_class_parameters)s
    """
    return np.fromiter((c.isspace() for c in text), dtype=float, count=len(text))


@fill_doc(char_class_parameters=_CLASS_PARAMETERS)
def is_bracket(text: str) -> np.ndarray:
    """1 on ``( ) [ ] { }``.

    %(char_class_parameters)s
    """
    return _in_set(text, BRACKETS)


@fill_doc(char_class_parameters=_CLASS_PARAMETERS)
def is_operator(text: str) -> np.ndarray:
    """1 on the operator characters ``+-*/%=<>!&|^~?:``.

    %(char_class_parameters)s
    """
    return _in_set(text, OPERATORS)


is_digit.names = ["digit"]
is_letter.names = ["letter"]
is_whitespace.names = ["whitespace"]
is_bracket.names = ["bracket"]
is_operator.names = ["operator"]


class BracketDepth:
    """Nesting depth of bracket pairs, divided by ``max_depth`` (clipped to [0, 1]).

    Like ``depth:paren`` of :class:`ParseTreeFeaturizer`, an opening and its closing
    bracket are inside the pair (depth 1 at top level). Unmatched closing brackets
    never take the depth below 0.

    Parameters
    ----------
    pairs : str, default="()[]{}"
        Opening and closing characters, alternating.
    max_depth : int, default=8
        The depth labelled 1; deeper characters are clipped to 1.

    Examples
    --------
    >>> BracketDepth("()", max_depth=2)("(a(b))c").tolist()
    [0.5, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    def __init__(self, pairs: str = BRACKETS, max_depth: int = 8):
        if len(pairs) % 2 or not pairs:
            raise InputError(
                f"pairs must alternate opening and closing characters (an even, "
                f"non-zero number): {pairs!r}"
            )
        self.pairs = pairs
        self.max_depth = max_depth
        self.names = ["bracket_depth"]

    def __call__(self, text: str) -> np.ndarray:
        c = _codes(text)
        opens = np.isin(c, _codes(self.pairs[0::2])).astype(np.int64)
        closes = np.isin(c, _codes(self.pairs[1::2])).astype(np.int64)
        # depth after each char; a closing bracket is still inside its pair
        step = opens - closes
        depth = np.cumsum(step)
        # clip at 0 without losing later balance: running minimum correction
        depth = depth - np.minimum(np.minimum.accumulate(depth), 0)
        depth = depth + closes
        return np.minimum(depth / self.max_depth, 1.0)


class PositionInLine:
    """Column of each character (0 at a line start) divided by ``max_column``, clipped.

    Parameters
    ----------
    max_column : int, default=80
        The column labelled 1; later columns are clipped to 1.

    Examples
    --------
    >>> PositionInLine(max_column=4)("ab\\ncd").tolist()
    [0.0, 0.25, 0.5, 0.0, 0.25]
    """

    def __init__(self, max_column: int = 80):
        self.max_column = max_column
        self.names = ["column"]

    def __call__(self, text: str) -> np.ndarray:
        n = len(text)
        newlines = np.flatnonzero(_codes(text) == 10)
        line_start = np.zeros(n, dtype=np.int64)
        line_start[newlines[newlines + 1 < n] + 1] = newlines[newlines + 1 < n] + 1
        line_start = np.maximum.accumulate(line_start) if n else line_start
        return np.minimum((np.arange(n) - line_start) / self.max_column, 1.0)


class InsideQuotes:
    """1 on every character of a quotation, quotes included (backslash escapes
    respected; a quotation does not cross a line end).

    Parameters
    ----------
    quotes : str, default=(double and single quote)
        The quote characters; a quotation opens and closes with the same one.

    Examples
    --------
    >>> InsideQuotes()('a "b" c').tolist()
    [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    """

    def __init__(self, quotes: str = "\"'"):
        self.quotes = quotes
        self.names = ["in_quotes"]
        self._rx = re.compile(
            "|".join(
                rf"{re.escape(q)}(?:[^{re.escape(q)}\\\n]|\\.)*{re.escape(q)}"
                for q in quotes
            )
        )

    def __call__(self, text: str) -> np.ndarray:
        diff = np.zeros(len(text) + 1)
        for m in self._rx.finditer(text):
            diff[m.start()] += 1
            diff[m.end()] -= 1
        return (np.cumsum(diff[:-1]) > 0).astype(float)


class _CharacterTable:
    """All ready features as one callable (one call per text, several columns)."""

    def __init__(self, brackets, max_depth, max_column, quotes):
        self.parts = [
            is_digit,
            is_letter,
            is_whitespace,
            is_bracket,
            is_operator,
            BracketDepth(brackets, max_depth),
            PositionInLine(max_column),
            InsideQuotes(quotes),
        ]
        self.names = [name for part in self.parts for name in part.names]
        self.kinds = ["binary"] * 5 + ["continuous"] * 2 + ["binary"]

    def __call__(self, text):
        return np.column_stack([part(text) for part in self.parts])


def character_features(
    *,
    brackets: str = BRACKETS,
    max_depth: int = 8,
    max_column: int = 80,
    quotes: str = "\"'",
    n_jobs=None,
) -> FunctionFeaturizer:
    """A featurizer of the ready character features.

    Columns: ``digit``, ``letter``, ``whitespace``, ``bracket``, ``operator``,
    ``bracket_depth``, ``column``, ``in_quotes``.

    Parameters
    ----------
    brackets : str, default="()[]{}"
        Bracket pairs of ``bracket_depth`` (see :class:`BracketDepth`).
    max_depth : int, default=8
        Depth labelled 1 by ``bracket_depth``.
    max_column : int, default=80
        Column labelled 1 by ``column`` (see :class:`PositionInLine`).
    quotes : str, default=(double and single quote)
        Quote characters of ``in_quotes`` (see :class:`InsideQuotes`).
    n_jobs : int or None, default=None
        Passed to :class:`FunctionFeaturizer`.

    Returns
    -------
    featurizer : FunctionFeaturizer
        An unfitted featurizer of the eight columns.

    Examples
    --------
    >>> f = character_features().fit(["f(1)"])
    >>> [str(n) for n in f.get_feature_names_out()][:3]
    ['digit', 'letter', 'whitespace']
    >>> f.transform(["f(1)"])[:, 0].tolist()
    [0.0, 0.0, 1.0, 0.0]
    """
    table = _CharacterTable(brackets, max_depth, max_column, quotes)
    return FunctionFeaturizer(table, kind=table.kinds, n_jobs=n_jobs)
