import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import FeatureUnion

from skdni import (
    EmptyCorpusError,
    GrammarError,
    InputError,
    ParseFailure,
    UnknownGrammarError,
)
from skdni.datasets import compile_grammar
from skdni.features import ParserStateFeaturizer, ParseTreeFeaturizer
from skdni.features._lark_runtime import span_parser
from skdni.utils.estimator_checks import check_text_estimator

ARITH = ["((1+2))", "3*(4-5)/6", "7"]


def column(f, Y, name):
    return Y[:, list(f.get_feature_names_out()).index(name)]


def test_figure1_arithmetic():
    # the paper's Figure 1 on ((1+2)): f1 = depth, f3 = outer range, f4|f5 = impulses
    f = ParseTreeFeaturizer("arithmetic")
    Y = f.fit_transform(["((1+2))"])
    assert f.max_depth_["paren"] == 2
    np.testing.assert_array_equal(
        column(f, Y, "depth:paren"), [0.5, 1, 1, 1, 1, 1, 0.5]
    )
    np.testing.assert_array_equal(column(f, Y, "range:paren"), [1] * 7)
    np.testing.assert_array_equal(column(f, Y, "impulse:paren"), [1, 1, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(column(f, Y, "range:add"), [0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(column(f, Y, "impulse:add"), [0, 0, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(column(f, Y, "range:digit"), [0, 0, 1, 0, 1, 0, 0])
    assert "range:start" not in f.get_feature_names_out()


def test_figure1_per_node_on_parentheses_grammar():
    # per-level rules e1/e2 give the paper's per-node features f2..f5
    f = ParseTreeFeaturizer("parentheses")
    Y = f.fit_transform(["((2))"])
    np.testing.assert_array_equal(column(f, Y, "range:e1"), [1, 1, 1, 1, 1])  # f3
    np.testing.assert_array_equal(column(f, Y, "range:e2"), [0, 1, 1, 1, 0])  # f2
    np.testing.assert_array_equal(column(f, Y, "impulse:e1"), [1, 0, 0, 0, 1])  # f5
    np.testing.assert_array_equal(column(f, Y, "impulse:e2"), [0, 1, 0, 1, 0])  # f4
    np.testing.assert_array_equal(
        column(f, Y, "depth:paren"), [0.5, 1, 1, 1, 0.5]
    )  # f1


def tree_spans(grammar, text, start="start"):
    """Reference: spans of lark's own tree with propagate_positions."""
    tree = compile_grammar(grammar, start=start).parse(text)
    return sorted(
        (str(t.data), t.meta.start_pos, t.meta.end_pos)
        for t in tree.iter_subtrees()
        if not t.meta.empty
    )


@pytest.mark.parametrize(
    "grammar, text",
    [
        ("arithmetic", "((1+2))*3-(4/5)"),
        ("parentheses", "0(1(2)(2(3)))0(1)"),
        ("dyck2", "([()[]])[]"),
        ("python", "def f(x):\n    return [x + 1, g(x)]\n\nclass A:\n    pass\n"),
        ("c", "int f(int a) { return a ? (a + 1) * 2 : -a; }\n"),
        ('start: x+\n?x: "(" y ")" | y\ny: "a"\n', "(a)a"),
    ],
)
def test_callback_spans_match_lark_tree(grammar, text):
    sp = span_parser(grammar, "start", "lalr")
    rid, start, end = sp.spans(text)
    ours = sorted(
        (sp.names[r], int(s), int(e)) for r, s, e in zip(rid, start, end, strict=True)
    )
    assert ours == tree_spans(grammar, text)


def test_earley_matches_lalr():
    lalr = ParseTreeFeaturizer("arithmetic").fit(ARITH)
    earley = ParseTreeFeaturizer("arithmetic", parser="earley").fit(ARITH)
    assert list(lalr.get_feature_names_out()) == list(earley.get_feature_names_out())
    np.testing.assert_array_equal(lalr.transform(ARITH), earley.transform(ARITH))


def test_rules_and_representations():
    f = ParseTreeFeaturizer("arithmetic", representations=("depth",), rules=["paren"])
    Y = f.fit_transform(["(1)", "2"])
    assert list(f.get_feature_names_out()) == ["depth:paren"]
    np.testing.assert_array_equal(Y.ravel(), [1, 1, 1, 0])
    assert f.feature_kinds_ == ["continuous"]
    with pytest.raises(InputError, match="Unknown rule"):
        ParseTreeFeaturizer("arithmetic", rules=["nope"]).fit(ARITH)
    with pytest.raises(InputError, match="representations"):
        ParseTreeFeaturizer("arithmetic", representations=("spam",)).fit(ARITH)
    # the start rule only on request
    g = ParseTreeFeaturizer("arithmetic", rules=["start"]).fit(["1"])
    assert list(g.get_feature_names_out()) == [
        "range:start",
        "impulse:start",
        "depth:start",
    ]


def test_depth_clipped_to_fit_maximum():
    f = ParseTreeFeaturizer("arithmetic", representations=("depth",)).fit(["(1)"])
    Y = f.transform(["((1))"])
    np.testing.assert_array_equal(column(f, Y, "depth:paren"), [1, 1, 1, 1, 1])


def test_shift():
    f = ParseTreeFeaturizer("arithmetic", shift=1, rules=["digit"])
    Y = f.fit_transform(["1+2", "(3)"])
    rng = column(f, Y, "range:digit")
    np.testing.assert_array_equal(rng[[0, 1, 3, 4]], [0, 1, 1, 0])
    assert np.isnan(rng[[2, 5]]).all()


def test_unparseable_text_raises_with_position():
    f = ParseTreeFeaturizer("arithmetic").fit(ARITH)
    with pytest.raises(
        ParseFailure, match=r"Text 1 .* character 6 .*end of text.*'\)'"
    ):
        f.transform(["1", "((1+2)"])
    with pytest.raises(ParseFailure, match=r"Text 0 .* character 2 .*'x'"):
        f.transform(["1+x"])
    with pytest.raises(ParseFailure, match=r"character 1 \(line 1, column 2\)"):
        f.transform(["12"])
    with pytest.raises(ParseFailure, match=r"Text 1 .* 15 \(line 2, column 9\).*';'"):
        ParseTreeFeaturizer("c").fit(["int x;", "int x;\nint y = ;"])


def test_on_error_nan():
    f = ParseTreeFeaturizer("arithmetic", on_error="nan").fit(ARITH)
    with pytest.warns(UserWarning, match="1 text"):
        Y = f.transform(["1+2", "(1", "3"])
    assert f.failed_texts_ == [1]
    assert np.isnan(Y[3:5]).all()
    assert not np.isnan(Y[[0, 1, 2, 5]]).any()


def test_bad_inputs():
    with pytest.raises(EmptyCorpusError):
        ParseTreeFeaturizer("arithmetic").fit(["1", ""])
    with pytest.raises(
        GrammarError, match="does not compile: Rule .foo. used but not defined"
    ):
        ParseTreeFeaturizer("start: foo\n").fit(["1"])
    with pytest.raises(UnknownGrammarError, match="nosuch"):
        ParseTreeFeaturizer("nosuch").fit(["1"])


def test_estimator_checks_and_pickle():
    f = ParseTreeFeaturizer("arithmetic")
    check_text_estimator(f, ARITH)
    fitted = f.fit(ARITH)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(ARITH), fitted.transform(ARITH))


def test_pandas_output():
    f = ParseTreeFeaturizer("arithmetic").set_output(transform="pandas")
    frame = f.fit_transform(ARITH)
    assert isinstance(frame, pd.DataFrame)
    assert "depth:paren" in frame.columns
    assert len(frame) == sum(map(len, ARITH))


def test_n_jobs_gives_the_same_output():
    texts = ARITH * 5
    one = ParseTreeFeaturizer("arithmetic").fit_transform(texts)
    two = ParseTreeFeaturizer("arithmetic", n_jobs=2).fit_transform(texts)
    np.testing.assert_array_equal(one, two)
    # threads must not share a parser's span list
    with joblib.parallel_config(backend="threading"):
        threads = ParseTreeFeaturizer("arithmetic", n_jobs=2).fit_transform(texts * 20)
    np.testing.assert_array_equal(np.vstack([one] * 20), threads)


def test_feature_union_prefixes_names():
    union = FeatureUnion(
        [
            ("tree", ParseTreeFeaturizer("arithmetic", rules=["add"])),
            ("state", ParserStateFeaturizer("arithmetic", features=("stack_depth",))),
        ]
    )
    Y = union.fit_transform(ARITH)
    assert Y.shape == (sum(map(len, ARITH)), 4)
    assert list(union.get_feature_names_out()) == [
        "tree__range:add",
        "tree__impulse:add",
        "tree__depth:add",
        "state__stack_depth",
    ]


def test_python_grammar_featurizes_a_snippet():
    code = "def f(x):\n    if x:\n        return x * 2\n    return 0\n"
    f = ParseTreeFeaturizer("python", representations=("range",))
    Y = f.fit_transform([code])
    names = list(f.get_feature_names_out())
    assert "range:funcdef" in names and "range:if_stmt" in names
    funcdef = column(f, Y, "range:funcdef")
    assert funcdef[0] == 1 and funcdef.sum() >= len(code.rstrip())
    if_stmt = column(f, Y, "range:if_stmt")
    assert if_stmt[code.index("if")] == 1 and if_stmt[code.index("def")] == 0


def test_float32_output_equals_float64_output():
    texts = ARITH + ["(1+(2*(3-4)))/5"]
    f64 = ParseTreeFeaturizer("arithmetic", shift=1, on_error="nan").fit(texts)
    assert f64.transform(texts).dtype == np.float64
    f32 = ParseTreeFeaturizer("arithmetic", shift=1, dtype=np.float32).fit(texts)
    Y32 = f32.transform(texts)
    assert Y32.dtype == np.float32
    np.testing.assert_array_equal(Y32, f64.transform(texts).astype(np.float32))
    with pytest.warns(UserWarning):
        bad = f32.set_params(on_error="nan").fit_transform(["(1", "2"])
    assert bad.dtype == np.float32 and np.isnan(bad[:2]).all()


@pytest.mark.parametrize("grammar", ["arithmetic", "c"])
def test_labels_do_not_depend_on_block_size(grammar, monkeypatch):
    # blocks bound the memory of the difference arrays; they may split a text
    from skdni.features import _parse_tree

    texts = (
        ["((1+2))*3-(4/5)", "7", "(((8)))"]
        if grammar == "arithmetic"
        else ["int f(int a) { return a ? (a + 1) * 2 : -a; }\n", "int x;"]
    )
    f = ParseTreeFeaturizer(grammar, shift=1).fit(texts)
    whole = f.transform(texts)
    monkeypatch.setattr(_parse_tree, "_BLOCK_CELLS", 3 * len(f.rules_))
    g = ParseTreeFeaturizer(grammar, shift=1)
    np.testing.assert_array_equal(g.fit_transform(texts), whole)
    assert g.max_depth_ == f.max_depth_
