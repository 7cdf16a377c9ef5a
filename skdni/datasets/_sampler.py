"""Random strings from any lark grammar, with depth and length controls.

The sampler walks the plain context-free rules that lark derives from a grammar
(``Lark.rules``: ``?rule``/``_rule`` inlining and the ``*``/``+``/``?`` operators are
already expanded there). Regex terminals are sampled with ``rstr``.
"""

import functools
import math
import random
import re
from bisect import bisect_right
from collections.abc import Iterator

import lark
import numpy as np
import rstr
from sklearn.utils import check_random_state

from .._errors import GrammarError, InputError
from ._grammars import compile_grammar, grammar_text

try:  # the regex parser rstr itself uses (``sre_parse`` before Python 3.11)
    import re._parser as _sre_parse
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse

# Consecutive rejected draws (outside the length bounds, or not parsing) before a
# single string is given up on: generous, because a grammar's natural length
# distribution may put only a few percent of its strings inside the bounds.
_MAX_ATTEMPTS = 1000
# Draws of a regex terminal that rstr may get wrong (anchors, lookarounds are
# ignored by rstr) before the terminal is declared unsampleable.
_REGEX_ATTEMPTS = 20


class _RegexSampler(rstr.Xeger):
    """``rstr.Xeger`` with a small repeat bound and parsed patterns cached.

    rstr draws ``*`` and ``+`` repeats uniformly up to 100, which makes ``/[0-9]+/``
    numbers 50 digits long on average; corpora want short tokens. Parsing the
    pattern once instead of per draw keeps single-character terminals cheap.
    """

    def __init__(self, random_: random.Random, max_repeat: int):
        super().__init__(random_)
        self._max_repeat = max_repeat
        self._parsed = {}

    def xeger(self, pattern: str) -> str:
        parsed = self._parsed.get(pattern)
        if parsed is None:
            parsed = self._parsed[pattern] = _sre_parse.parse(pattern)
        result = self._build_string(parsed)
        self._cache.clear()
        return result

    def _handle_repeat(self, start_range: int, end_range: int, value) -> str:
        end_range = max(start_range, min(end_range, start_range + self._max_repeat))
        times = self._random.randint(start_range, end_range)
        return "".join(
            "".join(self._handle_state(state) for state in value) for _ in range(times)
        )


class _Expansion:
    __slots__ = ("symbols", "height", "extra")

    def __init__(self, symbols, height, extra):
        self.symbols = symbols
        self.height = height  # minimal derivation height through this expansion
        self.extra = extra  # its minimal length minus the origin's minimal length


class _Choices:
    """A nonterminal's expansions sorted by ``extra``, for budgeted uniform picks."""

    __slots__ = ("expansions", "extras", "n_cheapest")

    def __init__(self, expansions):
        self.expansions = sorted(expansions, key=lambda e: e.extra)
        self.extras = [e.extra for e in self.expansions]
        self.n_cheapest = self.extras.count(self.extras[0])


class _GrammarSampler:
    """Precomputed tables of one grammar and start symbol; draws with a given rng."""

    def __init__(self, source: str, start: str):
        parser = compile_grammar(source, start=start)
        # Without propagate_positions the parser validates samples 2-3x faster.
        self._validator = lark.Lark(source, start=start, parser="lalr")
        self.start = start
        self._ignored = set(parser.ignore_tokens)
        terminals = {t.name: t.pattern for t in parser.terminals}

        rules: dict[str, list[tuple[str, ...]]] = {}
        for rule in parser.rules:
            rules.setdefault(rule.origin.name, []).append(
                tuple(sym.name for sym in rule.expansion)
            )
        reachable = _reachable(rules, start)
        used_terminals = {s for s in reachable if s not in rules}
        declared = sorted(used_terminals - terminals.keys())
        if declared:
            raise GrammarError(
                f"Terminal(s) {', '.join(declared)} are declared with %declare and "
                "have no pattern (a postlexer produces them), so they cannot be "
                "sampled."
            )
        ignored_used = sorted(used_terminals & self._ignored)
        if ignored_used:
            raise GrammarError(
                f"Terminal(s) {', '.join(ignored_used)} are %ignore'd but used in "
                "rules; the lexer drops them, so a string containing them cannot "
                "parse."
            )

        self._literals = {}
        self._regexes = {}
        min_len = {}
        for name in used_terminals:
            pattern = terminals[name]
            if isinstance(pattern, lark.lexer.PatternStr):
                self._literals[name] = pattern.value
                min_len[name] = len(pattern.value)
            else:
                self._regexes[name] = (
                    pattern.to_regexp(),
                    re.compile(pattern.to_regexp()),
                )
                min_len[name] = pattern.min_width

        height = {name: 0 for name in used_terminals}
        _fixed_point(rules, reachable, height, min_len)
        if math.isinf(height[start]):
            raise GrammarError(
                f"The start rule {start!r} derives no finite string: every "
                "derivation recurses forever."
            )
        self.min_len = min_len
        self._choices = {}
        self._shallow = {}
        for name in reachable & rules.keys():
            expansions = [
                _Expansion(
                    symbols,
                    1 + max((height[s] for s in symbols), default=0),
                    sum(min_len[s] for s in symbols) - min_len[name],
                )
                for symbols in rules[name]
                if all(not math.isinf(height[s]) for s in symbols)
            ]
            if not expansions:  # unproductive and never chosen by a productive parent
                continue
            self._choices[name] = _Choices(expansions)
            self._shallow[name] = _Choices(
                [e for e in expansions if e.height == height[name]]
            )
        # Expansion helpers lark generates for ``*``/``+`` (``__x_star_0``) stand for
        # repetition, not nesting: they do not count towards ``max_depth``.
        self._helpers = {name for name in self._choices if name.startswith("__")}
        self._separator = self._find_separator(parser, terminals)

    def _find_separator(self, parser, terminals):
        # Two adjacent word-like tokens ("if" "x") would lex as one; a grammar that
        # ignores whitespace parses them when a space separates them.
        for name in parser.ignore_tokens:
            regex = re.compile(terminals[name].to_regexp())
            for candidate in (" ", "\n"):
                if regex.fullmatch(candidate):
                    return candidate
        return None

    def _regex_token(self, name, xeger):
        source, compiled = self._regexes[name]
        for _ in range(_REGEX_ATTEMPTS):
            try:
                token = xeger.xeger(source)
            except Exception as exc:  # rstr raises KeyError/IndexError on what it lacks
                raise GrammarError(
                    f"Terminal {name} (/{source}/) cannot be sampled by rstr: "
                    f"{type(exc).__name__}: {exc}."
                ) from exc
            if compiled.fullmatch(token):
                return token
        raise GrammarError(
            f"Terminal {name} (/{source}/) cannot be sampled: rstr's strings do not "
            "match the pattern (anchors and lookarounds are not supported)."
        )

    def draw(self, rng, xeger, max_depth: int, max_len: int) -> str:
        """One derivation from the start rule.

        Past ``max_depth`` only expansions of minimal derivation height are chosen, so
        every branch ends within a bounded number of steps; an expansion whose minimal
        completion would push the string past ``max_len`` is never chosen while a
        cheaper one exists, so the length stays within ``max_len`` when possible.
        """
        literals, choices, shallow, helpers = (
            self._literals,
            self._choices,
            self._shallow,
            self._helpers,
        )
        min_len = self.min_len
        tokens = []
        committed = min_len[self.start]  # emitted length + minimal length still owed
        stack = [(self.start, 0)]
        pop, push = stack.pop, stack.append
        random_ = rng.random
        while stack:
            symbol, depth = pop()
            token = literals.get(symbol)
            if token is None and symbol in self._regexes:
                token = self._regex_token(symbol, xeger)
            if token is not None:
                tokens.append(token)
                committed += len(token) - min_len[symbol]
                continue
            options = shallow[symbol] if depth >= max_depth else choices[symbol]
            n = bisect_right(options.extras, max_len - committed) or options.n_cheapest
            expansion = options.expansions[int(random_() * n)]
            committed += expansion.extra
            if symbol not in helpers:
                depth += 1
            for child in reversed(expansion.symbols):
                push((child, depth))
        return self._join(tokens)

    def _join(self, tokens):
        if self._separator is None or len(tokens) < 2:
            return "".join(tokens)
        pieces = [tokens[0]]
        for prev, token in zip(tokens, tokens[1:], strict=False):
            if prev and token and _is_word(prev[-1]) and _is_word(token[0]):
                pieces.append(self._separator)
            pieces.append(token)
        return "".join(pieces)

    def parses(self, text: str) -> bool:
        try:
            self._validator.parse(text)
        except lark.exceptions.LarkError:
            return False
        return True


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _reachable(rules, start):
    seen = {start}
    todo = [start]
    while todo:
        for expansion in rules.get(todo.pop(), ()):
            for symbol in expansion:
                if symbol not in seen:
                    seen.add(symbol)
                    todo.append(symbol)
    return seen


def _fixed_point(rules, reachable, height, min_len):
    """Minimal derivation height and length of every reachable nonterminal.

    Bellman-Ford style relaxation until nothing changes; a nonterminal that never
    gets a finite value derives no finite string.
    """
    nonterminals = [name for name in reachable if name in rules]
    for name in nonterminals:
        height[name] = math.inf
        min_len[name] = math.inf
    changed = True
    while changed:
        changed = False
        for name in nonterminals:
            for expansion in rules[name]:
                h = 1 + max((height[s] for s in expansion), default=0)
                n = sum(min_len[s] for s in expansion)
                if h < height[name]:
                    height[name] = h
                    changed = True
                if n < min_len[name]:
                    min_len[name] = n
                    changed = True


@functools.lru_cache(maxsize=16)
def _cached_sampler(source: str, start: str) -> _GrammarSampler:
    return _GrammarSampler(source, start)


def _python_rng(random_state) -> random.Random:
    # One integer drawn from sklearn's RandomState seeds Python's (faster per call)
    # generator; the same random_state always gives the same stream.
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return random.Random(int(seed))


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}.")


def _iter_samples(
    grammar, *, start, max_depth, min_len, max_len, max_repeat, random_state
) -> Iterator[str]:
    """An endless, reproducible stream of strings of ``grammar`` within the bounds.

    Arguments and grammar are checked here, before the first string is asked for.
    """
    _check_int("max_depth", max_depth, 0)
    _check_int("min_len", min_len, 0)
    _check_int("max_len", max_len, 1)
    _check_int("max_repeat", max_repeat, 0)
    if min_len > max_len:
        raise InputError(f"min_len={min_len} is larger than max_len={max_len}.")
    sampler = _cached_sampler(grammar_text(grammar), start)
    if sampler.min_len[start] > max_len:
        raise InputError(
            f"The shortest string of the grammar has {sampler.min_len[start]} "
            f"characters, more than max_len={max_len}."
        )
    rng = _python_rng(random_state)
    return _draw_forever(sampler, rng, max_depth, min_len, max_len, max_repeat)


def _draw_forever(sampler, rng, max_depth, min_len, max_len, max_repeat):
    xeger = _RegexSampler(rng, max_repeat)
    while True:
        too_short = too_long = not_parsing = 0
        bad = None
        for _ in range(_MAX_ATTEMPTS):
            text = sampler.draw(rng, xeger, max_depth, max_len)
            if len(text) < min_len:
                too_short += 1
            elif len(text) > max_len:
                too_long += 1
            elif not sampler.parses(text):
                not_parsing += 1
                bad = text
            else:
                yield text
                break
        else:
            if not_parsing == _MAX_ATTEMPTS:
                raise GrammarError(
                    f"{_MAX_ATTEMPTS} sampled strings do not parse with the grammar "
                    f"(e.g. {bad!r}): adjacent tokens merge or collide in the lexer; "
                    "add separators to the grammar or %ignore whitespace."
                )
            raise InputError(
                f"Could not draw a string with {min_len} <= length <= {max_len} in "
                f"{_MAX_ATTEMPTS} attempts ({too_short} too short, {too_long} too "
                f"long, {not_parsing} not parsing); widen the bounds or raise "
                f"max_depth (now {max_depth})."
            )


def sample_grammar(
    grammar,
    n: int,
    *,
    start: str = "start",
    max_depth: int = 8,
    min_len: int = 1,
    max_len: int = 200,
    max_repeat: int = 4,
    random_state=None,
) -> list[str]:
    """Draw ``n`` random strings from a lark grammar.

    Each string is a random derivation from ``start``: at every nonterminal one of its
    expansions (in lark's expanded rules, where ``*``, ``+`` and ``?`` are already
    alternatives) is picked uniformly. String terminals are emitted literally, regex
    terminals are sampled with ``rstr``; ``%ignore``d terminals are never emitted,
    except that a space (or newline) the grammar ignores separates two adjacent
    word-like tokens that would otherwise lex as one. Every returned string parses
    with the grammar's LALR parser: strings outside ``[min_len, max_len]`` or that do
    not parse are redrawn.

    Parameters
    ----------
    grammar : str or path-like
        A bundled grammar name (see :func:`bundled_grammars`), a ``.lark`` path, or
        lark source. It must compile with lark's LALR parser.
    n : int
        Number of strings.
    start : str, default="start"
        The start rule.
    max_depth : int, default=8
        Nesting bound: below this derivation depth expansions are chosen freely;
        from it on only expansions that finish in the fewest derivation steps, so
        every derivation ends, even with left- or right-recursive rules. The depth
        counts the grammar's own rules (inlined ``_rules`` included), not the helper
        rules lark creates for ``*`` and ``+``.
    min_len, max_len : int, default=1, 200
        Length bounds of every string. While an expansion that keeps the shortest
        completion within ``max_len`` exists, no longer one is chosen; strings
        outside the bounds are redrawn.
    max_repeat : int, default=4
        A regex repeat ``x*``, ``x+`` or ``x{m,}`` draws at most ``m + max_repeat``
        copies (rstr alone would draw up to 100).
    random_state : int, RandomState instance or None, default=None
        Seed; the same value gives the same strings.

    Returns
    -------
    texts : list of str

    Raises
    ------
    UnknownGrammarError
        ``grammar`` is neither a bundled name, a path, nor lark source.
    GrammarError
        The grammar does not compile, uses a ``%declare``d terminal, has a terminal
        rstr cannot sample (named in the message), or its strings do not parse.
    InputError
        A bound is invalid or no string within ``[min_len, max_len]`` can be drawn
        in a bounded number of attempts.

    Examples
    --------
    >>> texts = sample_grammar("arithmetic", 3, max_len=20, random_state=0)
    >>> len(texts), all(1 <= len(t) <= 20 for t in texts)
    (3, True)
    >>> texts == sample_grammar("arithmetic", 3, max_len=20, random_state=0)
    True
    >>> sample_grammar('start: NUMBER ("," NUMBER)*\\nNUMBER: /[0-9]+/', 2,
    ...                random_state=0)
    ['36139,12,3469,88061,72302', '4314']
    """
    _check_int("n", n, 0)
    stream = _iter_samples(
        grammar,
        start=start,
        max_depth=max_depth,
        min_len=min_len,
        max_len=max_len,
        max_repeat=max_repeat,
        random_state=random_state,
    )
    return [next(stream) for _ in range(n)]
