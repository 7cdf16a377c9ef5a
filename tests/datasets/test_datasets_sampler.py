import re

import lark
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from skdni import GrammarError, InputError, UnknownGrammarError
from skdni.datasets import bundled_grammars, compile_grammar, sample_grammar

BUNDLED = ["arithmetic", "dyck2", "parentheses"]

LEFT_RECURSIVE = """
start: list
list: list "," item | item
item: "a" | "(" list ")"
"""
RIGHT_RECURSIVE = """
start: list
list: item "," list | item
item: "a" | "(" list ")"
"""
# Both alternatives recurse twice: uniform choices alone would never stop.
EXPLODING = """
start: e
e: e e e | "(" e e ")" | "x"
"""


def test_bundled_grammars_are_the_papers():
    assert set(BUNDLED) <= set(bundled_grammars())


@pytest.mark.parametrize("name", BUNDLED)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_sample_parses(name, seed):
    parser = compile_grammar(name)
    texts = sample_grammar(name, 20, random_state=seed)
    assert len(texts) == 20
    for text in texts:
        assert 1 <= len(text) <= 200
        parser.parse(text)


@pytest.mark.parametrize("name", BUNDLED)
def test_from_lark_strings_parse(name):
    # The featurizer property tests draw with hypothesis' own lark strategy. On the
    # recursive arithmetic grammar most of its draws overflow and are filtered out,
    # so that health check has to be suppressed.
    parser = compile_grammar(name)

    @settings(max_examples=10, suppress_health_check=[HealthCheck.filter_too_much])
    @given(text=from_lark(parser))
    def check(text):
        parser.parse(text)

    check()


def test_same_seed_same_strings_other_seed_other_strings():
    first = sample_grammar("arithmetic", 30, random_state=3)
    assert first == sample_grammar("arithmetic", 30, random_state=3)
    assert first != sample_grammar("arithmetic", 30, random_state=4)
    rs = np.random.RandomState(3)
    assert sample_grammar("arithmetic", 30, random_state=rs) == sample_grammar(
        "arithmetic", 30, random_state=np.random.RandomState(3)
    )


def test_random_state_instance_is_consumed():
    rs = np.random.RandomState(0)
    assert sample_grammar("dyck2", 10, random_state=rs) != sample_grammar(
        "dyck2", 10, random_state=rs
    )


@pytest.mark.parametrize("source", [LEFT_RECURSIVE, RIGHT_RECURSIVE, EXPLODING])
@pytest.mark.parametrize("max_depth", [0, 3, 10])
def test_terminates_on_recursive_rules(source, max_depth):
    parser = lark.Lark(source, parser="lalr") if source != EXPLODING else None
    texts = sample_grammar(
        source, 20, max_depth=max_depth, max_len=10_000, random_state=0
    )
    assert len(texts) == 20
    if parser is not None:
        for text in texts:
            parser.parse(text)


def test_max_depth_bounds_nesting():
    def nesting(text):
        depth = deepest = 0
        for char in text:
            depth += {"(": 1, ")": -1}.get(char, 0)
            deepest = max(deepest, depth)
        return deepest

    # list -> item -> "(" list ")": two derivation levels per parenthesis, and past
    # max_depth only the shortest derivation (item -> "a") is taken.
    shallow = sample_grammar(
        LEFT_RECURSIVE, 200, max_depth=4, max_len=10_000, random_state=0
    )
    assert max(map(nesting, shallow)) <= 2
    deep = sample_grammar(
        LEFT_RECURSIVE, 200, max_depth=12, max_len=10_000, random_state=0
    )
    assert max(map(nesting, deep)) > 2


@pytest.mark.parametrize("min_len, max_len", [(1, 5), (10, 20), (29, 29)])
def test_length_bounds(min_len, max_len):
    texts = sample_grammar(
        "arithmetic", 50, max_depth=12, min_len=min_len, max_len=max_len, random_state=0
    )
    assert all(min_len <= len(t) <= max_len for t in texts)


def test_max_len_is_honoured_without_rejection_on_exploding_grammar():
    # The shortest completion is enforced while drawing, so even a grammar whose
    # free draws explode yields strings within a tight bound.
    texts = sample_grammar(EXPLODING, 50, max_depth=50, max_len=12, random_state=0)
    assert all(len(t) <= 12 for t in texts)
    assert max(map(len, texts)) > 6


def test_regex_terminal_is_sampled():
    source = 'start: NUMBER ("," NUMBER)*\nNUMBER: /[0-9]+/'
    texts = sample_grammar(source, 50, random_state=0, max_repeat=3)
    numbers = [n for t in texts for n in t.split(",")]
    assert all(re.fullmatch(r"[0-9]{1,4}", n) for n in numbers)
    assert len(set(numbers)) > 20
    assert max(map(len, numbers)) == 4  # one digit plus up to max_repeat more


def test_case_insensitive_and_verbose_regex_terminals():
    source = r"""
    start: WORD "=" HEX
    WORD: /[a-z]+/i
    HEX: /0x [0-9a-f]{2}/x
    """
    parser = lark.Lark(source, parser="lalr")
    for text in sample_grammar(source, 20, random_state=0):
        parser.parse(text)
        assert re.fullmatch(r"[a-z]+=0x[0-9a-f]{2}", text)


def test_ignored_whitespace_separates_word_tokens():
    source = r"""
    start: NAME NAME+
    NAME: /[a-z]+/
    %ignore " "
    %ignore /#[^\n]*/
    """
    parser = lark.Lark(source, parser="lalr")
    texts = sample_grammar(source, 30, random_state=0)
    for text in texts:
        assert "#" not in text  # ignored comments are never emitted
        assert len(parser.parse(text).children) == len(text.split(" "))


def test_keyword_collisions_are_redrawn():
    # NAME can draw "if", which the lexer reads as the keyword (string terminals win
    # over regexes where both are expected): "if x" does not parse and is redrawn.
    source = r"""
    start: NAME "x" | "if" "y"
    NAME: /[fi]{1,2}/
    %ignore " "
    """
    parser = lark.Lark(source, parser="lalr")
    texts = sample_grammar(source, 200, random_state=0)
    for text in texts:
        parser.parse(text)
    assert "if x" not in texts
    assert {"if y", "fi x", "ii x"} <= set(texts)


def test_unparseable_samples_raise_grammar_error():
    # Without an ignored separator, "a" "a" always lexes as one token "aa".
    source = "start: A A\nA: /a+/"
    with pytest.raises(GrammarError, match="do not parse"):
        sample_grammar(source, 1, random_state=0)


@pytest.mark.parametrize(
    "pattern, match",
    [
        # rstr does not know atomic groups.
        ("(?>a)b", r"Terminal WORD \(/\(\?>a\)b/\) cannot be sampled by rstr"),
        # rstr ignores negative lookaheads: its strings never match this pattern.
        ("a(?!a)a", r"Terminal WORD .* rstr's strings do not match"),
    ],
)
def test_unsampleable_terminal_is_named(pattern, match):
    source = f"start: WORD\nWORD: /{pattern}/"
    with pytest.raises(GrammarError, match=match):
        sample_grammar(source, 1, random_state=0)


def test_declared_terminal_is_named():
    source = "start: NAME INDENT\nNAME: /[a-z]+/\n%declare INDENT"
    with pytest.raises(GrammarError, match="INDENT.*%declare"):
        sample_grammar(source, 1, random_state=0)


def test_unknown_grammar_name():
    with pytest.raises(UnknownGrammarError, match="no_such_grammar"):
        sample_grammar("no_such_grammar", 1)


def test_grammar_that_does_not_compile():
    with pytest.raises(GrammarError, match="does not compile"):
        sample_grammar("start: undefined_rule", 1)


def test_grammar_without_finite_strings():
    with pytest.raises(GrammarError, match="derives no finite string"):
        sample_grammar('start: "a" start', 1)


def test_other_start_rule():
    source = 'start: "x" | other\nother: "y"'
    assert set(sample_grammar(source, 10, start="other", random_state=0)) == {"y"}


def test_grammar_from_path(tmp_path):
    path = tmp_path / "ab.lark"
    path.write_text('start: "a" start? "b"')
    texts = sample_grammar(path, 20, random_state=0)
    assert all(
        re.fullmatch(r"(a+)(b+)", t) and t.count("a") == t.count("b") for t in texts
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": -1}, "n must be >= 0"),
        ({"n": 2.5}, "n must be an int"),
        ({"max_len": 0}, "max_len must be >= 1"),
        ({"min_len": 9, "max_len": 3}, "min_len=9 is larger than max_len=3"),
        ({"max_depth": -1}, "max_depth must be >= 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    kwargs = {"n": 3, **kwargs}
    with pytest.raises(InputError, match=match):
        sample_grammar("arithmetic", **kwargs)


def test_shortest_string_longer_than_max_len():
    with pytest.raises(InputError, match="shortest string of the grammar has 5"):
        sample_grammar('start: "hello"', 1, max_len=4)


def test_bounds_that_cannot_be_met():
    # dyck2 strings have even length.
    with pytest.raises(InputError, match=r"3 <= length <= 3"):
        sample_grammar("dyck2", 1, min_len=3, max_len=3, random_state=0)


def test_zero_strings_still_checks_the_grammar():
    assert sample_grammar("arithmetic", 0) == []
    with pytest.raises(UnknownGrammarError):
        sample_grammar("no_such_grammar", 0)


def test_ignored_terminal_used_in_a_rule_is_named():
    source = 'start: WORD WS WORD\nWORD: /[a-z]+/\nWS: " "\n%ignore WS'
    with pytest.raises(GrammarError, match="WS are %ignore'd but used in rules"):
        sample_grammar(source, 1, random_state=0)


def test_max_repeat_zero_gives_minimal_repeats():
    source = 'start: NUMBER ("," NUMBER)*\nNUMBER: /[0-9]+/'
    texts = sample_grammar(source, 20, max_repeat=0, random_state=0)
    assert all(re.fullmatch(r"[0-9](,[0-9])*", t) for t in texts)
    with pytest.raises(InputError, match="max_repeat must be >= 0"):
        sample_grammar(source, 1, max_repeat=-1)
