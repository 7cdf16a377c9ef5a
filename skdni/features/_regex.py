"""RegexFeaturizer: span features from regular-expression matches."""

import os
import re
from numbers import Integral

import numpy as np

from .._compat import StrOptions
from .._docstring import fill_doc
from .._errors import InputError
from ._base import _TextFeaturizer, progress


def _match_chunk(texts, first, patterns, representation, flags, *, verbose=0):
    """Labels of every pattern on ``texts``; runs in workers."""
    compiled = [re.compile(p, flags) for p in patterns]
    k = len(compiled)
    lengths = [len(t) for t in texts]
    n = sum(lengths)
    starts, ends, cols = [], [], []
    offset = 0
    for text in progress(texts, verbose, "matching"):
        for j, rx in enumerate(compiled):
            for m in rx.finditer(text):
                if m.end() > m.start():  # an empty match covers no character
                    starts.append(offset + m.start())
                    ends.append(offset + m.end())
                    cols.append(j)
        offset += len(text)
    starts, ends, cols = (np.asarray(a, dtype=np.int64) for a in (starts, ends, cols))
    if representation == "impulse":
        out = np.zeros((n, k))
        out[starts, cols] = 1.0
        out[ends - 1, cols] = 1.0
        return out
    size = (n + 1) * k
    diff = np.bincount(starts * k + cols, minlength=size) - np.bincount(
        ends * k + cols, minlength=size
    )
    return (np.cumsum(diff.reshape(n + 1, k)[:n], axis=0) > 0).astype(float)


@fill_doc
class RegexFeaturizer(_TextFeaturizer):
    """Label characters by the matches of regular expressions.

    Each pattern gives one binary feature: with ``representation="range"`` every
    character of a (non-empty) match is 1, with ``"impulse"`` its first and last
    characters are. Matches are found with :meth:`re.Pattern.finditer` (leftmost,
    non-overlapping), enough to express "inside a quotation", "inside a comment",
    "a number".

    Parameters
    ----------
    patterns : dict of str to str, or list of str
        Feature name to regular expression; a list uses each pattern as its name.
    representation : {"range", "impulse"}, default="range"
    flags : int, default=0
        ``re`` flags for every pattern (e.g. ``re.MULTILINE``).
    %(n_jobs)s
    %(verbose)s
    %(out)s

    Attributes
    ----------
    feature_names_ : list of str
        ``"<representation>:<name>"``.
    feature_kinds_ : list of str
        All ``"binary"``.

    Examples
    --------
    >>> from skdni.features import RegexFeaturizer
    >>> f = RegexFeaturizer({"in_string": r'"[^"]*"', "comment": r"#.*"})
    >>> f.fit_transform(['x = "a" # b']).T.tolist()[0]
    [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    >>> [str(n) for n in f.get_feature_names_out()]
    ['range:in_string', 'range:comment']
    """

    _parameter_constraints = {
        "patterns": [dict, list, tuple],
        "representation": [StrOptions({"range", "impulse"})],
        "flags": [Integral, re.RegexFlag],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "out": [None, str, os.PathLike],
    }

    def __init__(
        self,
        patterns,
        *,
        representation="range",
        flags=0,
        n_jobs=None,
        verbose=0,
        out=None,
    ):
        self.patterns = patterns
        self.representation = representation
        self.flags = flags
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.out = out

    def _named_patterns(self):
        items = (
            list(self.patterns.items())
            if isinstance(self.patterns, dict)
            else [(p, p) for p in self.patterns]
        )
        if not items:
            raise InputError("RegexFeaturizer needs at least one pattern.")
        for name, pattern in items:
            try:
                re.compile(pattern, self.flags)
            except (re.error, TypeError) as exc:
                raise InputError(
                    f"Pattern {name!r} ({pattern!r}) is not a regular expression: {exc}"
                ) from exc
        return items

    # ------------------------------------------- the template's hooks

    def _fit(self, texts):
        items = self._named_patterns()
        self.patterns_ = [p for _, p in items]
        self.feature_names_ = [f"{self.representation}:{name}" for name, _ in items]
        self.feature_kinds_ = ["binary"] * len(items)

    def _transform_array(self, texts):
        args = (self.patterns_, self.representation, self.flags)
        return np.concatenate(self._map_chunks(_match_chunk, texts, *args), axis=0)

    def _transform_out(self, texts):
        args = (self.patterns_, self.representation, self.flags)
        max_chars = self._out_chunk_chars(len(self.patterns_))
        return self._write_out(
            texts, self._iter_chunks(_match_chunk, texts, *args, max_chars=max_chars)
        )
