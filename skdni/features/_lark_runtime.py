"""Compiled grammars driven without building parse trees; readable lark errors.

A compiled ``lark.Lark`` does not pickle, so featurizers keep only the grammar argument
and get the compiled parser from :func:`span_parser`, a per-process cache (worker
processes compile once and reuse it for every chunk they get).
"""

import contextlib
import functools
import threading
from dataclasses import dataclass

import numpy as np
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
)
from lark.parsers.lalr_parser_state import ParseConf

from .._errors import ParseFailure
from ..datasets import compile_grammar
from ._base import progress


def _rule_name(rule) -> str:
    """The name a user reads in the grammar: the alias (``-> paren``), else the rule."""
    return str(rule.alias or rule.options.template_source or rule.origin.name)


@dataclass(frozen=True)
class _RuleShape:
    """How lark shapes the tree node of one rule (see lark's ``parse_tree_builder``)."""

    rule_id: int  # index into names, or -1: the rule is inlined and makes no node
    n_static: int  # filtered children that are not inlined (+ placeholders)
    expand_idx: tuple  # positions of inlined (``_rule``) children
    expand1: bool  # ``?rule``: a single filtered child replaces the node


class SpanParser:
    """One compiled grammar; parses texts into node spans ``(rule_id, start, end)``.

    With LALR, the parser's tree-building callbacks are replaced by callbacks that
    compute each node's span from its children as they are reduced, mirroring lark's
    tree shaping (``_rule`` inlined, ``?rule`` with one child collapsed, aliases
    renamed), so no tree is built or walked. A node's span covers every character its
    rule consumed, including filtered tokens such as ``"("`` and ``")"``. With Earley,
    the tree (``propagate_positions``) is walked instead.
    """

    def __init__(self, grammar, start, parser):
        self.lark = compile_grammar(grammar, start=start, parser=parser)
        self.start = self.lark.options.start[0]
        self.parser = parser
        self.terminals = {t.name: t.pattern for t in self.lark.terminals}
        if parser == "lalr":
            rules = self.lark.parser.parser_conf.rules
        else:
            rules = self.lark.rules
        names, shapes = [], {}
        placeholders = self.lark.options.maybe_placeholders
        for rule in rules:
            name = _rule_name(rule)
            inlined = rule.origin.name.startswith("_")
            if not inlined and name not in names:
                names.append(name)
            keep_all = rule.options.keep_all_tokens
            included = [
                (i, not sym.is_term and sym.name.startswith("_"))
                for i, sym in enumerate(rule.expansion)
                if keep_all or not (sym.is_term and sym.filter_out)
            ]
            n_none = sum(rule.options.empty_indices) if placeholders else 0
            shapes[rule] = _RuleShape(
                rule_id=-1 if inlined else names.index(name),
                n_static=sum(1 for _, e in included if not e) + n_none,
                expand_idx=tuple(i for i, e in included if e),
                expand1=bool(rule.options.expand1 and not rule.alias),
            )
        #: every node name the grammar can produce, in grammar order
        self.names = names
        self.shapes = shapes
        self._spans = []
        if parser == "lalr":
            callbacks = {rule: self._callback(shape) for rule, shape in shapes.items()}
            table = self.lark.parser.parser.parser.parse_table
            self._conf = ParseConf(table, callbacks, self.start)

    def _callback(self, shape):
        """A reduce callback returning ``(start, end, n_filtered_children)``."""
        append = self._spans.append
        rid, n_static, expand_idx = shape.rule_id, shape.n_static, shape.expand_idx
        # a node exists unless inlined, or a ?rule whose only filtered child replaces it
        if rid < 0:
            makes_node = None
        elif shape.expand1:
            makes_node = 1
        else:
            makes_node = 0

        def reduce(children):
            start = end = None
            for c in children:
                if type(c) is tuple:
                    if c[0] is not None:
                        start = c[0]
                        break
                else:
                    start = c.start_pos
                    break
            if start is not None:
                for c in reversed(children):
                    if type(c) is tuple:
                        if c[1] is not None:
                            end = c[1]
                            break
                    else:
                        end = c.end_pos
                        break
            n = n_static
            for i in expand_idx:
                n += children[i][2]
            if start is not None and makes_node is not None:
                if makes_node == 0 or n != 1:
                    append((rid, start, end))
            return (start, end, n)

        return reduce

    def spans(self, text):
        """``(rule_ids, starts, ends)`` of every node, or raise lark's error."""
        self._spans.clear()
        if self.parser == "lalr":
            ip = self.lark.parse_interactive(text, self.start)
            ip.parser_state.parse_conf = self._conf
            with lexer_position_on_error(ip):
                ip.resume_parse()
            out = self._spans
        else:
            tree = self.lark.parse(text, self.start)
            index = {n: i for i, n in enumerate(self.names)}
            out = [
                (index[str(t.data)], t.meta.start_pos, t.meta.end_pos)
                for t in tree.iter_subtrees()
                if not t.meta.empty and str(t.data) in index
            ]
        arr = np.array(out, dtype=np.int64).reshape(-1, 3)
        return arr[:, 0], arr[:, 1], arr[:, 2]

    def describe_terminals(self, names) -> str:
        """``'(' or DIGIT``: literal terminals shown as text, others by name."""
        shown = []
        for name in sorted(names):
            pattern = self.terminals.get(name)
            if name == "$END":
                shown.append("end of text")
            elif pattern is not None and pattern.type == "str":
                shown.append(repr(pattern.value))
            else:
                shown.append(name)
        return ", ".join(shown) if shown else "nothing"


def span_parser(grammar, start, parser) -> SpanParser:
    """The compiled :class:`SpanParser` for these arguments (cached per thread)."""
    return per_thread(SpanParser, grammar, start, parser)


def per_thread(factory, *args):
    """``factory(*args)``, built once per process and thread.

    Parsers record their actions in lists they own, so threads (joblib's threading
    backend) must not share one.
    """
    return _cached(factory, args, threading.get_ident())


@functools.lru_cache(maxsize=32)
def _cached(factory, args, thread):
    return factory(*args)


@contextlib.contextmanager
def lexer_position_on_error(ip):
    """Give errors without a position (a postlexer's, e.g. the indenter's
    ``DedentError`` or its failed assertions) the character the lexer had reached,
    as ``char_pos``."""
    try:
        yield
    except UnexpectedInput:
        raise
    except Exception as exc:
        exc.char_pos = ip.lexer_thread.state.line_ctr.char_pos
        raise


def parse_each(texts, first, parse, sp, on_error, failed, verbose):
    """Yield ``(char_offset, parse(text))`` per text, ``None`` for texts that fail.

    A failure raises :class:`ParseFailure` (``on_error="raise"``) or is appended to
    ``failed`` as ``(text_index, message)``; ``first`` is the corpus index of
    ``texts[0]``. Every exception raised while parsing one text is a failure of that
    text, lark's own and those of postlexers (lark's indenter raises ``IndexError``
    and ``AssertionError`` on some inputs), so none escapes ``on_error="nan"``.
    """
    offset = 0
    for i, text in enumerate(progress(texts, verbose, "parsing")):
        try:
            result = parse(text)
        except Exception as exc:
            error = parse_failure(exc, text, first + i, sp)
            if on_error == "raise":
                raise error from None
            failed.append((first + i, str(error)))
            result = None
        yield offset, result
        offset += len(text)


def parse_failure(exc: Exception, text: str, index: int, sp: SpanParser):
    """A :class:`ParseFailure` naming text, character, line/column and expectation."""
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        what = f"unexpected character {text[pos]!r}"
        expected = exc.allowed or set()
    elif isinstance(exc, UnexpectedEOF):
        pos, what, expected = len(text), "unexpected end of text", exc.expected
    elif isinstance(exc, UnexpectedInput):
        token = exc.token
        if token.type == "$END":
            pos, what = len(text), "unexpected end of text"
        else:
            pos = token.start_pos
            what = f"unexpected {token.type} {str(token)!r}"
        expected = exc.expected
    else:
        pos = getattr(exc, "char_pos", None)
        where = "" if pos is None else f" at character {pos}{_line_column(text, pos)}"
        # lark's own errors are sentences; others (a postlexer's) need their type
        what = str(exc) if isinstance(exc, LarkError) else f"{type(exc).__name__}"
        if not isinstance(exc, LarkError) and str(exc):
            what += f": {exc}"
        return ParseFailure(f"Text {index} does not parse{where}: {what}.")
    return ParseFailure(
        f"Text {index} does not parse at character {pos}{_line_column(text, pos)}: "
        f"{what}; expected {sp.describe_terminals(expected)}."
    )


def _line_column(text, pos) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f" (line {line}, column {column})"
