"""Counterfactual pairs for interchange interventions (:class:`InterchangeScorer`)."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._errors import InputError
from ._corpora import make_parentheses_corpus

__all__ = ["make_interchange_pairs"]

_GRAMMARS = ("parentheses",)


def make_interchange_pairs(grammar: str, n_pairs: int, *, random_state=None) -> dict:
    """Base / source pairs whose counterfactual next character is known.

    ``"parentheses"``: every digit equals its nesting level, so the character before
    a digit fixes the next digit. A case pairs a base text at a position followed by
    a digit (depth ``d``) with a source text at a position followed by a digit of
    another depth ``d'``; patching units that hold the depth from the source should
    make the model predict ``d'`` (``targets``) instead of ``d``.

    Parameters
    ----------
    grammar : {"parentheses"}
        The corpus grammar (the one whose next digit is known from the context).
    n_pairs : int
        Number of base / source cases.
    random_state : int, RandomState or None, default=None
        Seeds the texts and the positions drawn.

    Returns
    -------
    dict
        Exactly the arguments of :meth:`InterchangeScorer.evaluate`:
        ``base_texts``, ``source_texts``, ``base_positions``, ``source_positions``,
        ``targets`` (the source's depth digit). Score the predicted *digit* with
        ``InterchangeScorer(..., candidates="01234")``.

    Examples
    --------
    >>> pairs = make_interchange_pairs("parentheses", 5, random_state=0)
    >>> sorted(pairs)
    ['base_positions', 'base_texts', 'source_positions', 'source_texts', 'targets']
    >>> text, pos = pairs["source_texts"][0], pairs["source_positions"][0]
    >>> text[pos + 1] == pairs["targets"][0]
    True
    """
    if grammar not in _GRAMMARS:
        raise InputError(f"make_interchange_pairs knows {_GRAMMARS}, got {grammar!r}.")
    if not isinstance(n_pairs, Integral) or n_pairs < 1:
        raise InputError(f"n_pairs must be a positive int, got {n_pairs!r}.")
    rng = check_random_state(random_state)
    texts = make_parentheses_corpus(
        n_chars=max(5_000, 40 * int(n_pairs)), random_state=rng
    )
    # every (text, position) followed by a digit, grouped by that digit (the depth)
    spots = {}
    for i, text in enumerate(texts):
        for t in range(len(text) - 1):
            if text[t + 1].isdigit():
                spots.setdefault(text[t + 1], []).append((i, t))
    depths = sorted(spots)
    if len(depths) < 2:
        raise InputError("The sampled corpus has digits of one depth only.")
    out = {
        key: []
        for key in (
            "base_texts",
            "source_texts",
            "base_positions",
            "source_positions",
            "targets",
        )
    }
    for _ in range(int(n_pairs)):
        base_depth, source_depth = rng.choice(depths, size=2, replace=False)
        base = spots[base_depth][rng.randint(len(spots[base_depth]))]
        source = spots[source_depth][rng.randint(len(spots[source_depth]))]
        out["base_texts"].append(texts[base[0]])
        out["base_positions"].append(base[1])
        out["source_texts"].append(texts[source[0]])
        out["source_positions"].append(source[1])
        out["targets"].append(str(source_depth))
    out["base_positions"] = np.array(out["base_positions"], dtype=np.int64)
    out["source_positions"] = np.array(out["source_positions"], dtype=np.int64)
    return out
