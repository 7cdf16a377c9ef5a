"""ParserStateFeaturizer: LALR stack depth and reductions per character (paper §4)."""

import functools
import threading
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
from lark.exceptions import UnexpectedInput
from lark.parsers.lalr_parser_state import ParseConf
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, _fit_context
from .._errors import InputError
from .._texts import text_lengths
from ._base import _TextFeaturizer, progress, shift_rows
from ._lark_runtime import _rule_name, parse_failure, span_parser

FEATURES = ("stack_depth", "reduce")


class _StateParser:
    """Drives one compiled LALR grammar token by token, recording its actions."""

    def __init__(self, grammar, start):
        self.sp = span_parser(grammar, start, "lalr")
        rules = self.sp.lark.parser.parser_conf.rules
        names = []
        for rule in rules:
            if _rule_name(rule) not in names:
                names.append(_rule_name(rule))
        self.names = names
        self.start = self.sp.start
        self._reduced = []
        append = self._reduced.append

        def callback(rid):
            # the value stack only needs a placeholder: no tree is built
            return lambda children: append(rid)

        callbacks = {rule: callback(names.index(_rule_name(rule))) for rule in rules}
        table = self.sp.lark.parser.parser.parser.parse_table
        self._conf = ParseConf(table, callbacks, self.start)

    def run(self, text):
        """Per token: start, end, stack depth after its shift; reductions per token.

        Reductions happen when the parser sees the *next* token (its lookahead), so the
        reductions triggered by token k+1 (or by the end of the text) are attributed to
        token k: they complete the handle that token k closed.
        """
        reduced = self._reduced
        reduced.clear()
        ip = self.sp.lark.parse_interactive(text, self.start)
        state = ip.parser_state
        state.parse_conf = self._conf
        values = state.value_stack
        starts, ends, depth, marks = [], [], [], []
        for token in ip.iter_parse():
            # value stack now: after the previous token's shift
            depth.append(len(values))
            marks.append(len(reduced))
            starts.append(token.start_pos)
            ends.append(token.end_pos)
        depth.append(len(values))
        marks.append(len(reduced))
        ip.feed_eof(None)
        marks.append(len(reduced))
        n_tok = len(starts)
        # reductions between marks[k] and marks[k+1] were triggered by token k
        # (k == n_tok: end of text) and belong to token k - 1
        counts = np.diff(np.asarray(marks, dtype=np.int64))
        owner = np.repeat(np.arange(-1, n_tok), counts)
        rid = np.asarray(reduced, dtype=np.int64)
        keep = owner >= 0  # empty rules reduced before the first token read nothing
        return {
            "start": np.asarray(starts, dtype=np.int64),
            "end": np.asarray(ends, dtype=np.int64),
            "depth": np.asarray(depth[1:], dtype=np.int64),
            "red_tok": owner[keep],
            "red_rid": rid[keep],
        }


def _state_parser(grammar, start) -> _StateParser:
    # one per thread: a parser records its actions in a list it owns
    return _cached_state_parser(grammar, start, threading.get_ident())


@functools.lru_cache(maxsize=32)
def _cached_state_parser(grammar, start, thread) -> _StateParser:
    return _StateParser(grammar, start)


def _run_chunk(texts, first, spec, on_error, *, verbose=0):
    """Parser actions of ``texts`` (corpus indices from ``first``); runs in workers."""
    sp = _state_parser(*spec)
    out = {k: [] for k in ("start", "end", "depth", "red_tok", "red_rid")}
    failed, offset, n_tok = [], 0, 0
    for i, text in enumerate(progress(texts, verbose, "parsing")):
        try:
            res = sp.run(text)
        except UnexpectedInput as exc:
            error = parse_failure(exc, text, first + i, sp.sp)
            if on_error == "raise":
                raise error from None
            failed.append((first + i, str(error)))
            res = {k: np.empty(0, dtype=np.int64) for k in out}
        # a zero-width sentinel token at each text's start: depth 0 before any token
        out["start"] += [np.array([offset]), res["start"] + offset]
        out["end"] += [np.array([offset]), res["end"] + offset]
        out["depth"] += [np.array([0]), res["depth"]]
        out["red_tok"].append(res["red_tok"] + n_tok + 1)
        out["red_rid"].append(res["red_rid"])
        n_tok += len(res["start"]) + 1
        offset += len(text)
    result = {k: np.concatenate(v).astype(np.int64) for k, v in out.items()}
    result.update(names=sp.names, failed=failed, n_texts=len(texts), n_tokens=n_tok)
    return result


class ParserStateFeaturizer(_TextFeaturizer):
    """Label each character with the state of an LALR parser reading the text.

    The paper's §4 "general featurization": lark's LALR parser is driven token by
    token and, for every character, records

    * ``stack_depth``: the number of symbols on the parser stack after the token
      holding the character was shifted, divided by the largest depth seen in ``fit``
      (clipped to [0, 1]);
    * ``reduce:<rule>``: 1 if the rule was reduced right after the token holding the
      character was read, else 0.

    Characters of one multi-character token share its labels. An LALR parser
    reduces when it sees the *next* token (its lookahead), so the reductions that
    token k+1 triggers, and those at the end of the text, are attributed to token k,
    the token that completed the reduced handle. Characters the lexer ignores
    (whitespace, comments) keep the stack depth of the previous token and have no
    reductions. Rules are named as in the grammar (``-> alias`` names). The start rule
    is reduced only at the end of every text, and ``_inlined`` rules are helpers the
    parse tree hides, so both are left out unless named in ``rules``.

    Parameters
    ----------
    grammar : str or Path
        Lark grammar source, a ``.lark`` path, a bundled grammar name, or
        ``"python"``. It must be LALR(1).
    start : str, default="start"
        The start rule.
    features : tuple of {"stack_depth", "reduce"}, default=both
        Which features to output, in this order.
    rules : list of str or None, default=None
        Rules for ``reduce:`` features. None: every rule reduced in ``fit`` except the
        start rule and ``_inlined`` rules.
    shift : int, default=0
        Row t gets the labels of character t + shift (NaN past the text's end).
    on_error : {"raise", "nan"}, default="raise"
        As in :class:`ParseTreeFeaturizer`.
    n_jobs : int or None, default=None
        Parse chunks of texts in parallel (joblib); the output does not depend on it.
    verbose : int, default=0
        Show a progress bar.

    Attributes
    ----------
    features_ : tuple of str
    rules_ : list of str
        Rules of the ``reduce:`` features, in grammar order.
    max_stack_depth_ : int
        Largest stack depth seen in ``fit`` (divides ``stack_depth``).
    feature_names_ : list of str
        ``"stack_depth"`` and ``"reduce:<rule>"``.
    feature_kinds_ : list of {"binary", "continuous"}
        ``stack_depth`` is continuous, ``reduce:`` features binary.
    failed_texts_ : list of int
        Texts that did not parse in the last ``fit`` or ``transform``.

    Examples
    --------
    >>> from skdni.features import ParserStateFeaturizer
    >>> f = ParserStateFeaturizer("arithmetic").fit(["(1+2)*3"])
    >>> [str(n) for n in f.get_feature_names_out()]
    ['stack_depth', 'reduce:add', 'reduce:mul', 'reduce:paren', 'reduce:digit']
    >>> f.transform(["1+2"])[:, 1].tolist()  # add is reduced after reading "2"
    [0.0, 0.0, 1.0]
    """

    _parameter_constraints = {
        "grammar": [str, Path],
        "start": [str],
        "features": [tuple, list],
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
        features=FEATURES,
        rules=None,
        shift=0,
        on_error="raise",
        n_jobs=None,
        verbose=0,
    ):
        self.grammar = grammar
        self.start = start
        self.features = features
        self.rules = rules
        self.shift = shift
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _spec(self):
        return (self.grammar, self.start)

    def _parse(self, texts):
        spec = self._spec()
        results = self._map_chunks(_run_chunk, texts, spec, self.on_error)
        lengths = text_lengths(texts)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        parts = {k: [] for k in ("start", "end", "depth", "red_tok", "red_rid")}
        failed, first, n_tok = [], 0, 0
        for res in results:
            for key in ("start", "end"):
                parts[key].append(res[key] + offsets[first])
            parts["depth"].append(res["depth"])
            parts["red_tok"].append(res["red_tok"] + n_tok)
            parts["red_rid"].append(res["red_rid"])
            failed.extend(res["failed"])
            first += res["n_texts"]
            n_tok += res["n_tokens"]
        parsed = {k: np.concatenate(v) for k, v in parts.items()}
        parsed.update(
            names=results[0]["names"],
            failed=failed,
            lengths=lengths,
            offsets=offsets,
            start_rule=_state_parser(*spec).start,
        )
        return parsed

    def _record_failures(self, parsed):
        self.failed_texts_ = [i for i, _ in parsed["failed"]]
        if parsed["failed"]:
            warnings.warn(
                f"{len(parsed['failed'])} text(s) did not parse and are labelled NaN "
                f"(failed_texts_); first: {parsed['failed'][0][1]}",
                UserWarning,
                stacklevel=3,
            )

    def _validate(self):
        feats = tuple(self.features)
        if not feats or len(set(feats)) != len(feats) or set(feats) - set(FEATURES):
            raise InputError(
                f"features must be distinct values among {FEATURES}, "
                f"got {self.features!r}."
            )
        return feats

    def _fit(self, texts):
        self.features_ = self._validate()
        parsed = self._parse(texts)
        self._record_failures(parsed)
        names = parsed["names"]
        if self.rules is not None:
            unknown = [r for r in self.rules if r not in names]
            if unknown:
                raise InputError(
                    f"Unknown rule(s) {unknown} for this grammar; rules: "
                    f"{', '.join(names)}."
                )
            self.rules_ = [n for n in names if n in self.rules]
        else:
            seen = set(np.unique(parsed["red_rid"]).tolist())
            self.rules_ = [
                n
                for i, n in enumerate(names)
                if i in seen and n != parsed["start_rule"] and not n.startswith("_")
            ]
        self.max_stack_depth_ = int(parsed["depth"].max(initial=0))
        self.feature_names_ = []
        for feat in self.features_:
            if feat == "stack_depth":
                self.feature_names_.append("stack_depth")
            else:
                self.feature_names_ += [f"reduce:{r}" for r in self.rules_]
        self.feature_kinds_ = [
            "continuous" if n == "stack_depth" else "binary"
            for n in self.feature_names_
        ]
        return parsed

    def _labels(self, parsed):
        n = int(parsed["offsets"][-1])
        pos = np.arange(n)
        tok_start = np.maximum.accumulate(parsed["start"])
        tok = np.searchsorted(tok_start, pos, side="right") - 1
        inside = pos < parsed["end"][tok]
        blocks = []
        for feat in self.features_:
            if feat == "stack_depth":
                depth = parsed["depth"][tok] / max(self.max_stack_depth_, 1)
                blocks.append(np.minimum(depth, 1.0)[:, None])
            else:
                names = parsed["names"]
                column = np.full(len(names), -1)
                column[[names.index(r) for r in self.rules_]] = np.arange(
                    len(self.rules_)
                )
                col = column[parsed["red_rid"]]
                keep = col >= 0
                per_token = np.zeros((len(parsed["start"]), len(self.rules_)))
                per_token[parsed["red_tok"][keep], col[keep]] = 1.0
                blocks.append(per_token[tok] * inside[:, None])
        out = np.hstack(blocks)
        offsets = parsed["offsets"]
        for i, _ in parsed["failed"]:
            out[offsets[i] : offsets[i + 1]] = np.nan
        return shift_rows(out, parsed["lengths"], self.shift)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, texts, y=None):
        """Parse ``texts``; learn the reduced rules and the largest stack depth.

        Parameters
        ----------
        texts : list of str
        y : ignored

        Returns
        -------
        self : ParserStateFeaturizer
        """
        self._fit(self._check_texts(texts))
        return self

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
        return self._labels(self._fit(self._check_texts(texts)))

    def transform(self, texts):
        """Label every character of ``texts`` with the parser's state.

        Parameters
        ----------
        texts : list of str

        Returns
        -------
        Y : ndarray of shape (n_chars, n_features)
        """
        check_is_fitted(self, "feature_names_")
        texts = self._check_texts(texts)
        parsed = self._parse(texts)
        self._record_failures(parsed)
        return self._labels(parsed)
