"""ParseTreeFeaturizer: parse-tree nodes as range/impulse/depth features (paper §4)."""

import os
from numbers import Integral
from pathlib import Path

import numpy as np

from .._compat import Interval, StrOptions
from .._docstring import fill_doc
from .._errors import InputError
from ._base import _ParsingFeaturizer
from ._lark_runtime import parse_each, span_parser

REPRESENTATIONS = ("range", "impulse", "depth")
# Counts (rows x rules) per block: 512 kB of int64 differences stay in the CPU
# cache (measured fastest on a 300-column Python featurization).
_BLOCK_CELLS = 1 << 16


def _parse_chunk(texts, first, spec, on_error, *, verbose=0):
    """Parse ``texts`` (corpus indices from ``first``) into spans; runs in workers."""
    sp = span_parser(*spec)
    parts, failed = {"rid": [], "start": [], "end": []}, []
    for offset, spans in parse_each(
        texts, first, sp.spans, sp, on_error, failed, verbose
    ):
        if spans is not None:
            rid, start, end = spans
            parts["rid"].append(rid)
            parts["start"].append(start + offset)
            parts["end"].append(end + offset)
    empty = [np.empty(0, dtype=np.int64)]
    out = {key: np.concatenate(value or empty) for key, value in parts.items()}
    out.update(names=sp.names, failed=failed, n_texts=len(texts))
    return out


@fill_doc
class ParseTreeFeaturizer(_ParsingFeaturizer):
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
    dtype : {np.float64, np.float32}, default=np.float64
        Type of the output. With many rules the output is wide (3 columns per rule)
        and ``np.float32`` halves its memory and the time spent writing it; every
        label (0, 1, NaN, depth / max depth) is then rounded to float32.
    %(n_jobs)s
    %(verbose)s
    %(out)s

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
        (only with ``on_error="nan"``); ``transform`` updates it too.

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
        "dtype": [type, StrOptions({"float32", "float64"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "out": [None, str, os.PathLike],
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
        dtype=np.float64,
        n_jobs=None,
        verbose=0,
        out=None,
    ):
        self.grammar = grammar
        self.start = start
        self.parser = parser
        self.representations = representations
        self.rules = rules
        self.shift = shift
        self.on_error = on_error
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.out = out

    def _spec(self):
        return (self.grammar, self.start, self.parser)

    @staticmethod
    def _count_blocks(parsed, rule_ids):
        """Nesting counts of the given rules, block of rows by block of rows.

        Yields ``(lo, hi, counts, firsts, lasts)``: rows ``lo:hi``, their
        ``(hi - lo, len(rule_ids))`` counts, and the ``(rows, columns)`` (relative to
        ``lo``) of the first and of the last characters of spans in the block.
        Counts are cumulative sums of +1 at span starts and -1 at span ends, carried
        from block to block; blocks of about ``_BLOCK_CELLS`` counts stay in the CPU
        cache and bound the memory whatever the number of rules or text lengths.
        """
        n, k = int(parsed["offsets"][-1]), len(rule_ids)
        column = np.full(len(parsed["names"]), -1)
        column[rule_ids] = np.arange(k)
        col = column[parsed["rid"]]
        keep = col >= 0
        # events sorted by position, so each block finds its own by bisection
        start, end = parsed["start"][keep], parsed["end"][keep]
        by_start = np.argsort(start, kind="stable")
        by_end = np.argsort(end, kind="stable")
        start, start_col = start[by_start], col[keep][by_start]
        end, end_col = end[by_end], col[keep][by_end]
        carry = np.zeros(k, dtype=np.int32)
        rows = max(1, _BLOCK_CELLS // max(k, 1))
        for lo in range(0, n, rows):
            hi = min(lo + rows, n)
            s0, s1 = np.searchsorted(start, [lo, hi])
            # ends at rows lo..hi-1 close spans; ends at lo+1..hi are last characters
            e0, e1, e2, e3 = np.searchsorted(end, [lo, lo + 1, hi, hi + 1])
            size = (hi - lo) * k
            diff = np.bincount(
                (start[s0:s1] - lo) * k + start_col[s0:s1], minlength=size
            ) - np.bincount((end[e0:e2] - lo) * k + end_col[e0:e2], minlength=size)
            # int32 counts: nesting never reaches 2**31, and half the memory traffic
            counts = np.cumsum(diff.reshape(hi - lo, k), axis=0, dtype=np.int32)
            counts += carry
            carry = counts[-1].copy()
            firsts = (start[s0:s1] - lo, start_col[s0:s1])
            lasts = (end[e1:e3] - 1 - lo, end_col[e1:e3])
            yield lo, hi, counts, firsts, lasts

    _parse_chunk = staticmethod(_parse_chunk)

    def _validate(self):
        reps = tuple(self.representations)
        bad = [r for r in reps if r not in REPRESENTATIONS]
        if bad or not reps or len(set(reps)) != len(reps):
            raise InputError(
                f"representations must be distinct values among {REPRESENTATIONS}, "
                f"got {self.representations!r}."
            )
        self.representations_ = reps
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise InputError(f"dtype must be float32 or float64, got {self.dtype!r}.")

    def _fit_parsed(self, parsed):
        sp_names = parsed["names"]
        start_name = span_parser(*self._spec()).start
        rules = self._choose_rules(sp_names, parsed["rid"], start_name.__eq__)
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
        n_cols = k * len(self.representations_)
        out = np.zeros((int(parsed["offsets"][-1]), n_cols), dtype=self.dtype)
        scale = np.array([max(self.max_depth_[r], 1) for r in self.rules_])
        for lo, hi, counts, firsts, lasts in self._count_blocks(parsed, ids):
            for r, rep in enumerate(self.representations_):
                block = out[lo:hi, r * k : (r + 1) * k]
                # written in place: no temporary of the block's size
                if rep == "range":
                    np.minimum(counts, 1, out=block, casting="unsafe")
                elif rep == "depth":
                    np.divide(counts, scale, out=block, casting="unsafe")
                    np.minimum(block, 1, out=block)
                else:
                    block[firsts] = 1
                    block[lasts] = 1
        return out
