"""ParserStateFeaturizer: LALR stack depth and reductions per character (paper §4)."""

import os
from numbers import Integral
from pathlib import Path

import numpy as np
from lark.parsers.lalr_parser_state import ParseConf

from .._compat import Interval, StrOptions
from .._docstring import fill_doc
from .._errors import InputError
from ._base import _ParsingFeaturizer
from ._lark_runtime import (
    _rule_name,
    lexer_position_on_error,
    parse_each,
    per_thread,
    span_parser,
)

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
        """Per token: start, end, stack depth after its shift; per reduction: the
        start of the token it is attributed to, and the rule.

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
        with lexer_position_on_error(ip):
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
        starts = np.asarray(starts, dtype=np.int64)
        return {
            "start": starts,
            "end": np.asarray(ends, dtype=np.int64),
            "depth": np.asarray(depth[1:], dtype=np.int64),
            "red_pos": starts[owner[keep]],
            "red_rid": rid[keep],
        }


def _run_chunk(texts, first, spec, on_error, *, verbose=0):
    """Parser actions of ``texts`` (corpus indices from ``first``); runs in workers."""
    sp = per_thread(_StateParser, *spec)
    out = {k: [] for k in ("start", "end", "depth", "red_pos", "red_rid")}
    failed = []
    for offset, res in parse_each(
        texts, first, sp.run, sp.sp, on_error, failed, verbose
    ):
        # a zero-width sentinel token at each text's start: depth 0 before any token
        out["start"].append([offset])
        out["end"].append([offset])
        out["depth"].append([0])
        if res is not None:
            for key in ("start", "end", "red_pos"):
                out[key].append(res[key] + offset)
            out["depth"].append(res["depth"])
            out["red_rid"].append(res["red_rid"])
    result = {k: np.concatenate(v or [[]]).astype(np.int64) for k, v in out.items()}
    result.update(names=sp.names, failed=failed, n_texts=len(texts))
    return result


@fill_doc
class ParserStateFeaturizer(_ParsingFeaturizer):
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
    reductions. Tokens a postlexer adds at the position of another token (Python's
    ``_INDENT``/``_DEDENT``) share its characters, which get the stack depth after
    the last of them and the reductions of all of them. Rules are named as in the
    grammar (``-> alias`` names). The start rule is reduced only at the end of every
    text, and ``_inlined`` rules are helpers the parse tree hides, so both are left
    out unless named in ``rules``.

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
    %(n_jobs)s
    %(verbose)s
    %(out)s

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
        Texts that did not parse in the last ``fit`` or ``transform``
        (only with ``on_error="nan"``); ``transform`` updates it too.

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
        "out": [None, str, os.PathLike],
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
        out=None,
    ):
        self.grammar = grammar
        self.start = start
        self.features = features
        self.rules = rules
        self.shift = shift
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.out = out

    _parse_chunk = staticmethod(_run_chunk)
    _position_keys = ("start", "end", "red_pos")

    def _spec(self):
        return (self.grammar, self.start)

    def _validate(self):
        feats = tuple(self.features)
        if not feats or len(set(feats)) != len(feats) or set(feats) - set(FEATURES):
            raise InputError(
                f"features must be distinct values among {FEATURES}, "
                f"got {self.features!r}."
            )
        self.features_ = feats

    def _fit_parsed(self, parsed):
        names = parsed["names"]
        start_rule = per_thread(_StateParser, *self._spec()).start
        self.rules_ = self._choose_rules(
            names,
            parsed["red_rid"],
            lambda name: name == start_rule or name.startswith("_"),
        )
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

    def _labels(self, parsed):
        n = int(parsed["offsets"][-1])
        pos = np.arange(n)
        tok_start = np.maximum.accumulate(parsed["start"])
        # a character belongs to the last token starting at or before it; tokens
        # starting at the same character are one group (that last token)
        tok = np.searchsorted(tok_start, pos, side="right") - 1
        red_tok = np.searchsorted(tok_start, parsed["red_pos"], side="right") - 1
        inside = pos < np.maximum.accumulate(parsed["end"])[tok]
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
                per_token[red_tok[keep], col[keep]] = 1.0
                blocks.append(per_token[tok] * inside[:, None])
        return np.hstack(blocks)
