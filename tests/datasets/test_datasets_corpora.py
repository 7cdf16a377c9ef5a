import numpy as np
import pytest

from skdni import InputError
from skdni.datasets import (
    compile_grammar,
    make_arithmetic_corpus,
    make_corpus,
    make_dyck2_corpus,
    make_parentheses_corpus,
    sample_grammar,
)

MAKERS = {
    "arithmetic": make_arithmetic_corpus,
    "dyck2": make_dyck2_corpus,
    "parentheses": make_parentheses_corpus,
}


def _nesting(text):
    depth, levels = 0, []
    for char in text:
        if char in "([":
            depth += 1
        levels.append(depth)
        if char in ")]":
            depth -= 1
    return levels


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_corpus_parses_and_is_reproducible(name):
    texts = MAKERS[name](30, random_state=0)
    assert len(texts) == 30
    parser = compile_grammar(name)
    for text in texts:
        parser.parse(text)
    assert texts == MAKERS[name](30, random_state=0)
    assert texts != MAKERS[name](30, random_state=1)
    # make_<name>_corpus is make_corpus with the grammar's corpus defaults.
    assert texts == make_corpus(name, 30, random_state=0)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_n_chars_budget(name):
    texts = MAKERS[name](n_chars=2000, random_state=0)
    total = sum(map(len, texts))
    assert total >= 2000
    assert total - len(texts[-1]) < 2000  # stops at the first text that reaches it
    # The same stream as n_texts: a prefix-consistent corpus.
    assert texts == MAKERS[name](len(texts), random_state=0)


def test_parentheses_corpus_looks_like_the_papers():
    texts = make_parentheses_corpus(300, random_state=0)
    deepest = np.array([max(_nesting(t)) for t in texts])
    assert np.mean(deepest == 4) > 0.5
    for text in texts:
        # every digit equals its nesting level
        for char, level in zip(text, _nesting(text), strict=True):
            if char.isdigit():
                assert int(char) == level
    for digit in "01234":
        assert np.mean([digit in t for t in texts]) > 0.4


def test_arithmetic_corpus_looks_like_the_papers():
    texts = make_arithmetic_corpus(300, random_state=0)
    lengths = np.array([len(t) for t in texts])
    assert lengths.min() >= 5 and lengths.max() <= 60
    assert 15 <= np.median(lengths) <= 45
    deepest = np.array([max(_nesting(t)) for t in texts])
    assert np.mean(deepest >= 1) > 0.8
    assert np.mean(deepest >= 2) > 0.25
    assert all(op in "".join(texts) for op in "+-*/")


def test_dyck2_corpus_uses_both_brackets():
    texts = make_dyck2_corpus(100, random_state=0)
    assert all(len(t) >= 4 and len(t) % 2 == 0 for t in texts)
    assert np.mean(["(" in t and "[" in t for t in texts]) > 0.5


def test_make_corpus_on_any_grammar_uses_sampler_defaults():
    source = 'start: "a" start? "b"'
    assert make_corpus(source, 10, random_state=0) == sample_grammar(
        source, 10, random_state=0
    )


def test_custom_bounds_are_passed_on():
    texts = make_arithmetic_corpus(50, min_len=30, max_len=40, random_state=0)
    assert all(30 <= len(t) <= 40 for t in texts)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "exactly one of n_texts and n_chars"),
        ({"n_texts": 3, "n_chars": 10}, "exactly one of n_texts and n_chars"),
        ({"n_chars": 0}, "n_chars must be >= 1"),
        ({"n_texts": -2}, "n_texts must be >= 0"),
    ],
)
def test_bad_sizes(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_corpus("arithmetic", **kwargs)
