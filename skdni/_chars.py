"""Characters: code points, the bracket set and the default character class.

One home for the character helpers the featurizers, the vocabulary and the
intervention scorer share, so they cannot drift apart.
"""

import numpy as np

__all__ = ["BRACKETS", "CLASS_BRACKETS", "char_class", "code_points"]

#: Bracket pairs, opening and closing alternating: what ``is_bracket`` and
#: ``BracketDepth`` count.
BRACKETS = "()[]{}"
#: Characters :func:`char_class` calls ``"paren"``: the pairs and angle brackets.
CLASS_BRACKETS = frozenset(BRACKETS + "<>")


def code_points(text: str) -> np.ndarray:
    """The Unicode code point of every character of ``text``.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    points : ndarray of shape (len(text),), uint32
        ``ord`` of each character.

    Examples
    --------
    >>> code_points("a(").tolist()
    [97, 40]
    """
    # UTF-32 gives one fixed-width code point per character without a Python loop.
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def char_class(char: str) -> str:
    """Default character class, the paper's "type of the next character".

    Parameters
    ----------
    char : str
        One character.

    Returns
    -------
    name : {"digit", "paren", "space", "letter", "operator"}
        ``"operator"`` for every character of no other class.

    Examples
    --------
    >>> [char_class(c) for c in "(7+x"]
    ['paren', 'digit', 'operator', 'letter']
    """
    if char.isdigit():
        return "digit"
    if char in CLASS_BRACKETS:
        return "paren"
    if char.isspace():
        return "space"
    if char.isalpha():
        return "letter"
    return "operator"
