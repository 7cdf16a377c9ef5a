"""Corpora drawn from the bundled grammars, sized in texts or in characters."""

from .._errors import InputError
from ._sampler import _check_int, _iter_samples

# Sampler settings per bundled grammar, chosen so that corpora look like the paper's
# data (measured on 1,000 texts, random_state=0):
# * arithmetic: lengths 11-51 (5th-95th percentile, median 29); 97% of texts have
#   parentheses, 44% nested two deep.
# * parentheses: uniform choices give mostly tiny texts (a 4 in 4% of them);
#   min_len=20 conditions on longer ones: 73% nest 4 deep and 55% contain a 4.
#   max_depth must stay >= 9 (the level-4 group sits at derivation depth 8).
# * dyck2: lengths 4-60, nesting up to 6.
_CORPUS_DEFAULTS = {
    "arithmetic": {"max_depth": 12, "min_len": 5, "max_len": 60},
    "parentheses": {"max_depth": 12, "min_len": 20, "max_len": 100},
    "dyck2": {"max_depth": 10, "min_len": 4, "max_len": 100},
}
_SAMPLER_DEFAULTS = {"max_depth": 8, "min_len": 1, "max_len": 200}


def make_corpus(
    grammar,
    n_texts: int | None = None,
    *,
    n_chars: int | None = None,
    start: str = "start",
    max_depth: int | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
    max_repeat: int = 4,
    random_state=None,
) -> list[str]:
    """A corpus of random strings of a grammar: ``n_texts`` texts or ``n_chars`` chars.

    Strings come from :func:`sample_grammar`; the corpus is the first ``n_texts``
    strings of its stream, or the shortest prefix of it with at least ``n_chars``
    characters in total (texts are never cut, so they all stay in the language).
    For the same ``random_state`` both forms draw the same stream.

    Parameters
    ----------
    grammar : str or path-like
        A bundled grammar name, a ``.lark`` path, or lark source.
    n_texts : int, optional
        Number of texts. Give exactly one of ``n_texts`` and ``n_chars``.
    n_chars : int, optional
        Draw texts until their total length reaches ``n_chars``.
    start : str, default="start"
        The start rule.
    max_depth, min_len, max_len : int, optional
        Sampler bounds (see :func:`sample_grammar`). ``None`` takes the grammar's
        corpus defaults for a bundled name (those of ``make_<name>_corpus``), else the
        sampler's defaults (8, 1, 200).
    max_repeat : int, default=4
        Bound on regex repeats beyond their minimum.
    random_state : int, RandomState instance or None, default=None
        Seed; the same value gives the same corpus.

    Returns
    -------
    texts : list of str

    Examples
    --------
    >>> texts = make_corpus("arithmetic", n_chars=1000, random_state=0)
    >>> sum(map(len, texts)) >= 1000
    True
    >>> texts[:3] == make_corpus("arithmetic", 3, random_state=0)
    True
    """
    if (n_texts is None) == (n_chars is None):
        raise InputError("Give exactly one of n_texts and n_chars.")
    defaults = _SAMPLER_DEFAULTS
    if isinstance(grammar, str) and grammar in _CORPUS_DEFAULTS:
        defaults = _CORPUS_DEFAULTS[grammar]
    stream = _iter_samples(
        grammar,
        start=start,
        max_depth=defaults["max_depth"] if max_depth is None else max_depth,
        min_len=defaults["min_len"] if min_len is None else min_len,
        max_len=defaults["max_len"] if max_len is None else max_len,
        max_repeat=max_repeat,
        random_state=random_state,
    )
    if n_texts is not None:
        _check_int("n_texts", n_texts, 0)
        return [next(stream) for _ in range(n_texts)]
    _check_int("n_chars", n_chars, 1)
    texts, total = [], 0
    while total < n_chars:
        texts.append(next(stream))
        total += len(texts[-1])
    return texts


def make_parentheses_corpus(
    n_texts: int | None = None,
    *,
    n_chars: int | None = None,
    max_depth: int = 12,
    min_len: int = 20,
    max_len: int = 100,
    random_state=None,
) -> list[str]:
    """Balanced parentheses nested up to 4 levels, every digit equal to its level.

    The paper's §5.1 language (bundled grammar ``"parentheses"``). With the defaults
    about three texts in four nest 4 levels deep and half contain a ``4``.

    Parameters
    ----------
    n_texts : int, optional
        Number of texts; or give ``n_chars`` instead.
    n_chars : int, optional
        Draw whole texts until their total length reaches ``n_chars``.
    max_depth : int, default=12
        Derivation depth bound; below 9 no digit ``4`` can appear.
    min_len, max_len : int, default=20, 100
        Length bounds; a larger ``min_len`` gives deeper nesting more often.
    random_state : int, RandomState instance or None, default=None
        Seed; the same value gives the same corpus.

    Returns
    -------
    texts : list of str

    Examples
    --------
    >>> texts = make_parentheses_corpus(50, random_state=0)
    >>> all(20 <= len(t) <= 100 for t in texts), any("4" in t for t in texts)
    (True, True)
    """
    return make_corpus(
        "parentheses",
        n_texts,
        n_chars=n_chars,
        random_state=random_state,
        max_depth=max_depth,
        min_len=min_len,
        max_len=max_len,
    )


def make_arithmetic_corpus(
    n_texts: int | None = None,
    *,
    n_chars: int | None = None,
    max_depth: int = 12,
    min_len: int = 5,
    max_len: int = 60,
    random_state=None,
) -> list[str]:
    """Arithmetic expressions: single digits, parentheses and ``+ - * /``.

    The paper's §4 grammar (bundled grammar ``"arithmetic"``). With the defaults
    texts are 11 to 51 characters long (5th to 95th percentile) and most contain
    parentheses, often nested.

    Parameters
    ----------
    n_texts : int, optional
        Number of texts; or give ``n_chars`` instead.
    n_chars : int, optional
        Draw whole texts until their total length reaches ``n_chars``.
    max_depth : int, default=12
        Derivation depth bound; each parenthesis level costs 4 derivation levels.
    min_len, max_len : int, default=5, 60
        Length bounds.
    random_state : int, RandomState instance or None, default=None
        Seed; the same value gives the same corpus.

    Returns
    -------
    texts : list of str

    Examples
    --------
    >>> texts = make_arithmetic_corpus(n_chars=200, random_state=0)
    >>> sum(map(len, texts)) >= 200, all(5 <= len(t) <= 60 for t in texts)
    (True, True)
    """
    return make_corpus(
        "arithmetic",
        n_texts,
        n_chars=n_chars,
        random_state=random_state,
        max_depth=max_depth,
        min_len=min_len,
        max_len=max_len,
    )


def make_dyck2_corpus(
    n_texts: int | None = None,
    *,
    n_chars: int | None = None,
    max_depth: int = 10,
    min_len: int = 4,
    max_len: int = 100,
    random_state=None,
) -> list[str]:
    """Balanced strings over two bracket types, ``()`` and ``[]`` (Dyck-2).

    Parameters
    ----------
    n_texts : int, optional
        Number of texts; or give ``n_chars`` instead.
    n_chars : int, optional
        Draw whole texts until their total length reaches ``n_chars``.
    max_depth : int, default=10
        Derivation depth bound; each bracket level costs 2 derivation levels.
    min_len, max_len : int, default=4, 100
        Length bounds.
    random_state : int, RandomState instance or None, default=None
        Seed; the same value gives the same corpus.

    Returns
    -------
    texts : list of str

    Examples
    --------
    >>> texts = make_dyck2_corpus(5, random_state=0)
    >>> all(set(t) <= set("()[]") and len(t) % 2 == 0 for t in texts)
    True
    """
    return make_corpus(
        "dyck2",
        n_texts,
        n_chars=n_chars,
        random_state=random_state,
        max_depth=max_depth,
        min_len=min_len,
        max_len=max_len,
    )
