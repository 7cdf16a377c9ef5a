"""Property tests on strings drawn from each bundled grammar (hypothesis + lark)."""

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from skdni.datasets import compile_grammar
from skdni.features import ParserStateFeaturizer, ParseTreeFeaturizer

GRAMMARS = ["arithmetic", "parentheses", "dyck2"]
SETTINGS = settings(
    deadline=None,
    max_examples=15,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@functools.cache
def corpus(grammar):
    texts = from_lark(compile_grammar(grammar)).filter(bool)
    return st.lists(texts, min_size=1, max_size=4)


def by_rule(f, Y):
    names = list(f.get_feature_names_out())
    return {
        rule: {rep: Y[:, names.index(f"{rep}:{rule}")] for rep in f.representations_}
        for rule in f.rules_
    }


@pytest.mark.parametrize("grammar", GRAMMARS)
@SETTINGS
@given(data=st.data())
def test_parse_tree_properties(grammar, data):
    texts = data.draw(corpus(grammar))
    f = ParseTreeFeaturizer(grammar)
    Y = f.fit_transform(texts)
    assert Y.shape == (sum(map(len, texts)), len(f.get_feature_names_out()))
    assert ((Y >= 0) & (Y <= 1)).all()
    for feats in by_rule(f, Y).values():
        # range contains impulse; depth is positive exactly inside the range
        assert (feats["range"] >= feats["impulse"]).all()
        np.testing.assert_array_equal(feats["depth"] > 0, feats["range"] == 1)


@SETTINGS
@given(texts=corpus("parentheses"))
def test_parentheses_depth_equals_digit(texts):
    f = ParseTreeFeaturizer("parentheses", representations=("depth",), rules=["paren"])
    depth = f.fit_transform(texts)[:, 0] * max(f.max_depth_["paren"], 1)
    chars = np.array(list("".join(texts)))
    digits = np.char.isdigit(chars)
    np.testing.assert_allclose(depth[digits], chars[digits].astype(int))


@pytest.mark.parametrize("grammar", GRAMMARS)
@SETTINGS
@given(data=st.data())
def test_parser_state_properties(grammar, data):
    texts = data.draw(corpus(grammar))
    f = ParserStateFeaturizer(grammar)
    Y = f.fit_transform(texts)
    assert Y.shape[0] == sum(map(len, texts))
    assert ((Y >= 0) & (Y <= 1)).all()
    assert np.isin(Y[:, 1:], (0, 1)).all()
    # the stack grows by one symbol per shifted token at most
    assert f.max_stack_depth_ <= max(map(len, texts))


@SETTINGS
@given(
    noise=st.lists(st.text(alphabet="()[]01+x", min_size=1, max_size=12), min_size=1)
)
def test_noise_is_labelled_nan_or_raises(noise):
    f = ParseTreeFeaturizer("arithmetic", on_error="nan", rules=["paren"])
    f.fit(["(1)"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Y = f.transform(noise)
    assert Y.shape[0] == sum(map(len, noise))
    starts = np.concatenate([[0], np.cumsum([len(t) for t in noise])])
    for i in f.failed_texts_:
        assert np.isnan(Y[starts[i] : starts[i + 1]]).all()
    ok = np.setdiff1d(np.arange(len(noise)), f.failed_texts_)
    for i in ok:
        assert not np.isnan(Y[starts[i] : starts[i + 1]]).any()
