"""ParseTreeFeaturizer: parse-tree nodes as range/impulse/depth features (paper §4)."""

import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
from lark.exceptions import UnexpectedInput
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, _fit_context
from .._errors import InputError
from .._texts import text_lengths
from ._base import _TextFeaturizer, progress, shift_rows
from ._lark_runtime import parse_failure, span_parser

REPRESENTATIONS = ("range", "impulse", "depth")


def _parse_chunk(texts, first, spec, on_error, *, verbose=0):
    """Parse ``texts`` (corpus indices from ``first``) into spans; runs in workers."""
    sp = span_parser(*spec)
    rids, starts, ends, failed = [], [], [], []
    offset = 0
    for i, text in enumerate(progress(texts, verbose, "parsing")):
        try:
            rid, start, end = sp.spans(text)
        except UnexpectedInput as exc:
            error = parse_failure(exc, text, first + i, sp)
            if on_error == "raise":
                raise error from None
            failed.append((first + i, str(error)))
        else:
            rids.append(rid)
            starts.append(start + offset)
            ends.append(end + offset)
        offset += len(text)
    cat = np.concatenate
    empty = [np.empty(0, dtype=np.int64)]
    return {
        "names": sp.names,
        "rid": cat(rids or empty),
        "start": cat(starts or empty),
        "end": cat(ends or empty),
        "failed": failed,
        "n_texts": len(texts),
    }


class ParseTreeFeaturizer(_TextFeaturizer):
    """Turn the parse tree of each text into per-character rule features.

    Every node of a rule in the lark parse tree labels the characters of its span
    (the paper's §4 "parse tree featurization", Figure 1):

    * ``range:<rule>`` is 1 on every character inside a node of that rule, else 0;
    * ``impulse:<rule>`` is 1 on the first and last character of each such node;
    * ``depth:<rule>`` is the number of nested nodes of that rule covering the
      character, divided by the maximum depth seen in ``fit`` (clipped to [0, 1]) —
      the paper's composite f1.

    Rules get the names a user reads in the grammar: ``-> paren`` aliases give
    ``paren``; ``_rule`` (inlined) rules make no node; a ``?rule`` with a single child
    makes no node of its own. A node's span covers every character its rule consumed,
    including filtered tokens such as ``"("`` and ``")"``, from lark's token positions
    (as ``propagate_positions`` would give). The start rule covers the whole text, so
    it is a constant feature and is left out unless named in ``rules``.

    With ``parser="lalr"`` (the default) no tree is built: the LALR parser's reduce
    callbacks compute node spans as they go, and labels are made from the spans with
    difference arrays and cumulative sums.

    Parameters
    ----------
    grammar : str or Path
        Lark grammar source, a path to a ``.lark`` file, a bundled grammar name
        (``"arithmetic"``, ``"parentheses"``, ``"dyck2"``, ``"c"``), or ``"python"``
        (lark's own Python grammar with its indenter; start ``file_input``).
    start : str, default="start"
        The start rule.
    parser : {"lalr", "earley"}, default="lalr"
        Lark's parser. Earley handles any context-free grammar but is much slower and
        builds a tree.
    representations : tuple of {"range", "impulse", "depth"}, default=all three
        Which feature representations to output, in this order.
    rules : list of str or None, default=None
        Rules to featurize. None: every rule seen in ``fit`` except the start rule.
    shift : int, default=0
        Row t gets the labels of character t + shift of the same text (1: labels of
        the next character, what a language model must predict); rows whose
        character t + shift is outside the text are NaN.
    on_error : {"raise", "nan"}, default="raise"
        A text that does not parse raises :class:`~skdni.ParseFailure` (naming the
        text, the character position and what was expected), or with ``"nan"`` gets
        NaN in every row, is listed in ``failed_texts_`` and triggers a warning.
    n_jobs : int or None, default=None
        Parse chunks of texts in parallel (joblib); the output does not depend on it.
    verbose : int, default=0
        Show a progress bar.

    Attributes
    ----------
    representations_ : tuple of str
        The representations output, in order.
    rules_ : list of str
        Featurized rules, in grammar order.
    max_depth_ : dict of str to int
        Deepest nesting of each rule seen in ``fit`` (divides ``depth``).
    feature_names_ : list of str
        ``"<representation>:<rule>"`` for each representation, then each rule.
    feature_kinds_ : list of {"binary", "continuous"}
        ``depth`` features are continuous, the others binary.
    failed_texts_ : list of int
        Indices of texts that did not parse in the last ``fit`` or ``transform``
        (only with ``on_error="nan"``).

    Notes
    -----
    The bundled ``"c"`` grammar is a practical C99 subset (LALR, basic lexer): it
    ignores comments and preprocessor lines and decides typedef names with a
    postlexer (earlier ``typedef`` in the same text, common library types and
    ``*_t``, or an identifier directly followed by another identifier). It does not
    cover K&R parameter declarations, GNU extensions (``__attribute__``, ``asm``,
    statement expressions), C11 keywords, or macros that expand to syntax; see the
    header of ``skdni/datasets/grammars/c.lark``. ``"python"`` is lark's own Python
    3 grammar; stdlib files using syntax it lacks fail to parse.

    See Also
    --------
    ParserStateFeaturizer : features of the LALR parser's actions instead of its tree.

    Examples
    --------
    >>> from skdni.features import ParseTreeFeaturizer
    >>> f = ParseTreeFeaturizer("arithmetic", representations=("range", "depth"))
    >>> Y = f.fit_transform(["((1+2))"])
    >>> [str(n) for n in f.get_feature_names_out()[:3]]
    ['range:add', 'range:paren', 'range:digit']
    >>> Y[:, list(f.get_feature_names_out()).index("depth:paren")]
    array([0.5, 1. , 1. , 1. , 1. , 1. , 0.5])
    """

    _parameter_constraints = {
        "grammar": [str, Path],
        "start": [str],
        "parser": [StrOptions({"lalr", "earley"})],
        "representations": [tuple, list],
        "rules": [list, tuple, None],
        "shift": [Interval(Integral, None, None, closed="neither")],
        "on_error": [StrOptions({"raise", "nan"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        grammar,
        *,
        start="start",
        parser="lalr",
        representations=REPRESENTATIONS,
        rules=None,
        shift=0,
        on_error="raise",
        n_jobs=None,
        verbose=0,
    ):
        self.grammar = grammar
        self.start = start
        self.parser = parser
        self.representations = representations
        self.rules = rules
        self.shift = shift
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _spec(self):
        return (self.grammar, self.start, self.parser)

    def _parse(self, texts):
        """Spans of every text, rule ids in the grammar's ``names`` order."""
        results = self._map_chunks(_parse_chunk, texts, self._spec(), self.on_error)
        names = results[0]["names"]
        lengths = text_lengths(texts)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        # chunk-local positions -> corpus positions
        firsts, rid, start, end, failed = 0, [], [], [], []
        for res in results:
            shift = offsets[firsts]
            rid.append(res["rid"])
            start.append(res["start"] + shift)
            end.append(res["end"] + shift)
            failed.extend(res["failed"])
            firsts += res["n_texts"]
        return {
            "names": names,
            "rid": np.concatenate(rid),
            "start": np.concatenate(start),
            "end": np.concatenate(end),
            "failed": failed,
            "lengths": lengths,
            "offsets": offsets,
        }

    def _record_failures(self, parsed):
        self.failed_texts_ = [i for i, _ in parsed["failed"]]
        if parsed["failed"]:
            warnings.warn(
                f"{len(parsed['failed'])} text(s) did not parse and are labelled NaN "
                f"(failed_texts_); first: {parsed['failed'][0][1]}",
                UserWarning,
                stacklevel=3,
            )

    @staticmethod
    def _count_blocks(parsed, rule_ids, block_chars=1 << 18):
        """Nesting counts of the given rules, in blocks of whole texts.

        Yields ``(lo, hi, counts, col, start, end)``: rows ``lo:hi``, their
        ``(hi - lo, len(rule_ids))`` counts (difference arrays + cumsum) and the
        block's spans (column, block-local start and end). Blocks bound the memory
        of the difference arrays.
        """
        offsets = parsed["offsets"]
        k = len(rule_ids)
        column = np.full(len(parsed["names"]), -1)
        column[rule_ids] = np.arange(k)
        col = column[parsed["rid"]]
        keep = col >= 0
        col, start, end = col[keep], parsed["start"][keep], parsed["end"][keep]
        # spans come text by text, so block boundaries are found by bisection
        text_of_span = np.searchsorted(offsets, start, side="right") - 1
        first = 0
        while first < len(offsets) - 1:
            last = np.searchsorted(offsets, offsets[first] + block_chars, side="right")
            last = min(max(last - 1, first + 1), len(offsets) - 1)
            lo, hi = int(offsets[first]), int(offsets[last])
            a, b = np.searchsorted(text_of_span, [first, last])
            c, s0, e0 = col[a:b], start[a:b] - lo, end[a:b] - lo
            size = (hi - lo + 1) * k
            diff = np.bincount(s0 * k + c, minlength=size) - np.bincount(
                e0 * k + c, minlength=size
            )
            counts = np.cumsum(diff.reshape(hi - lo + 1, k)[:-1], axis=0)
            yield lo, hi, counts, c, s0, e0
            first = last

    def _validate(self):
        reps = tuple(self.representations)
        bad = [r for r in reps if r not in REPRESENTATIONS]
        if bad or not reps or len(set(reps)) != len(reps):
            raise InputError(
                f"representations must be distinct values among {REPRESENTATIONS}, "
                f"got {self.representations!r}."
            )
        return reps

    def _learn(self, parsed):
        sp_names = parsed["names"]
        start_name = span_parser(*self._spec()).start
        if self.rules is not None:
            unknown = [r for r in self.rules if r not in sp_names]
            if unknown:
                raise InputError(
                    f"Unknown rule(s) {unknown} for this grammar; rules with nodes: "
                    f"{', '.join(sp_names)}."
                )
            rules = [n for n in sp_names if n in self.rules]
        else:
            seen = np.zeros(len(sp_names), dtype=bool)
            seen[np.unique(parsed["rid"])] = True
            rules = [n for i, n in enumerate(sp_names) if seen[i] and n != start_name]
        ids = np.array([sp_names.index(r) for r in rules], dtype=np.int64)
        maxima = np.zeros(len(rules), dtype=np.int64)
        for _, _, counts, *_ in self._count_blocks(parsed, ids):
            maxima = np.maximum(maxima, counts.max(axis=0, initial=0))
        self.rules_ = rules
        self.max_depth_ = {r: int(m) for r, m in zip(rules, maxima, strict=True)}
        self.feature_names_ = [
            f"{rep}:{r}" for rep in self.representations_ for r in rules
        ]
        self.feature_kinds_ = [
            "continuous" if rep == "depth" else "binary"
            for rep in self.representations_
            for _ in rules
        ]

    def _labels(self, parsed):
        names = parsed["names"]
        ids = np.array([names.index(r) for r in self.rules_], dtype=np.int64)
        k = len(ids)
        out = np.zeros((int(parsed["offsets"][-1]), k * len(self.representations_)))
        scale = np.array([max(self.max_depth_[r], 1) for r in self.rules_])
        for lo, hi, counts, col, start, end in self._count_blocks(parsed, ids):
            for r, rep in enumerate(self.representations_):
                block = out[lo:hi, r * k : (r + 1) * k]
                if rep == "range":
                    block[...] = counts > 0
                elif rep == "depth":
                    np.minimum(counts / scale, 1.0, out=block)
                else:
                    block[start, col] = 1.0
                    block[end - 1, col] = 1.0
        offsets = parsed["offsets"]
        for i, _ in parsed["failed"]:
            out[offsets[i] : offsets[i + 1]] = np.nan
        return shift_rows(out, parsed["lengths"], self.shift)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, texts, y=None):
        """Parse ``texts`` and learn the rules and their maximum depths.

        Parameters
        ----------
        texts : list of str
        y : ignored

        Returns
        -------
        self : ParseTreeFeaturizer
        """
        self._fit(self._check_texts(texts))
        return self

    def _fit(self, texts):
        self.representations_ = self._validate()
        parsed = self._parse(texts)
        self._record_failures(parsed)
        self._learn(parsed)
        return parsed

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, texts, y=None):
        """Fit and transform, parsing each text once.

        Parameters
        ----------
        texts : list of str
        y : ignored

        Returns
        -------
        Y : ndarray of shape (n_chars, n_features)
        """
        parsed = self._fit(self._check_texts(texts))
        return self._labels(parsed)

    def transform(self, texts):
        """Label every character of ``texts``.

        Parameters
        ----------
        texts : list of str

        Returns
        -------
        Y : ndarray of shape (n_chars, n_features)
            Rows in corpus order; labels in [0, 1]; NaN for texts that did not parse
            (``on_error="nan"``) and rows shifted past a text's end.
        """
        check_is_fitted(self, "feature_names_")
        texts = self._check_texts(texts)
        parsed = self._parse(texts)
        self._record_failures(parsed)
        return self._labels(parsed)
