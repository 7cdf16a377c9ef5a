import numpy as np
import pytest

from skdni import ParseFailure
from skdni.features import ParserStateFeaturizer
from skdni.utils.estimator_checks import check_text_estimator

ARITH = ["((1+2))", "3*(4-5)/6", "7"]
WORDS = 'start: item+\nitem: NAME\nNAME: /[a-z]+/\n%ignore " "\n'


def column(f, Y, name):
    return Y[:, list(f.get_feature_names_out()).index(name)]


def test_reductions_attributed_to_the_token_that_completes_them():
    f = ParserStateFeaturizer("arithmetic").fit(["1+2"])
    assert list(f.get_feature_names_out()) == [
        "stack_depth",
        "reduce:add",
        "reduce:digit",
    ]
    Y = f.transform(["1+2"])
    # digit "1" is reduced when "+" is seen: attributed to "1"; the rest at the end
    np.testing.assert_array_equal(column(f, Y, "reduce:digit"), [1, 0, 1])
    np.testing.assert_array_equal(column(f, Y, "reduce:add"), [0, 0, 1])
    # stack after each shift: [DIGIT], [_expr, +], [_expr, +, DIGIT]
    assert f.max_stack_depth_ == 3
    np.testing.assert_allclose(column(f, Y, "stack_depth"), [1 / 3, 2 / 3, 1])
    assert f.feature_kinds_ == ["continuous", "binary", "binary"]


def test_multichar_tokens_share_labels_and_ignored_chars():
    f = ParserStateFeaturizer(WORDS).fit(["ab cd"])
    Y = f.transform(["ab cd"])
    assert list(f.get_feature_names_out()) == ["stack_depth", "reduce:item"]
    np.testing.assert_array_equal(column(f, Y, "reduce:item"), [1, 1, 0, 1, 1])
    # the space keeps the depth of the token before it
    np.testing.assert_allclose(column(f, Y, "stack_depth"), [0.5, 0.5, 0.5, 1, 1])


def test_leading_ignored_chars_have_depth_zero():
    f = ParserStateFeaturizer(WORDS).fit(["ab cd"])
    Y = f.transform(["  ab"])
    np.testing.assert_allclose(column(f, Y, "stack_depth"), [0, 0, 0.5, 0.5])


def test_checks_shift_and_errors():
    f = ParserStateFeaturizer("arithmetic")
    check_text_estimator(f, ARITH)
    g = ParserStateFeaturizer("arithmetic", shift=1).fit(ARITH)
    Y0 = f.fit(ARITH).transform(["1+2"])
    Y1 = g.transform(["1+2"])
    np.testing.assert_array_equal(Y1[:2], Y0[1:])
    assert np.isnan(Y1[2]).all()
    with pytest.raises(ParseFailure, match="Text 0 .*character 3"):
        f.transform(["1+2)"])
    h = ParserStateFeaturizer("arithmetic", on_error="nan").fit(ARITH)
    with pytest.warns(UserWarning):
        Y = h.transform(["1+2)", "1"])
    assert np.isnan(Y[:4]).all() and not np.isnan(Y[4]).any()
    assert h.failed_texts_ == [0]


def test_n_jobs_and_rules():
    texts = ARITH * 4
    one = ParserStateFeaturizer("arithmetic").fit_transform(texts)
    two = ParserStateFeaturizer("arithmetic", n_jobs=2).fit_transform(texts)
    np.testing.assert_array_equal(one, two)
    f = ParserStateFeaturizer("arithmetic", features=("reduce",), rules=["_expr"])
    assert list(f.fit(ARITH).get_feature_names_out()) == ["reduce:_expr"]


def test_python_source():
    code = "x = [1, 2]\nfor y in x:\n    print(y)\n"
    f = ParserStateFeaturizer("python")
    Y = f.fit_transform([code])
    assert Y.shape[0] == len(code)
    assert "reduce:for_stmt" in f.get_feature_names_out()
    assert np.nanmax(Y) <= 1 and np.nanmin(Y) >= 0


def test_reductions_of_tokens_sharing_characters_are_kept():
    # the indenter's _DEDENT borrows the position of the "\n" before it: the
    # reductions the _DEDENT triggers for the "\n" (simple_stmt) must stay on "\n"
    code = "if x:\n    y\nz\n"
    f = ParserStateFeaturizer("python", features=("reduce",))
    Y = f.fit_transform([code])
    np.testing.assert_array_equal(
        np.flatnonzero(column(f, Y, "reduce:simple_stmt")), [11, 13]
    )
    np.testing.assert_array_equal(np.flatnonzero(column(f, Y, "reduce:if_stmt")), [11])


@pytest.mark.parametrize("featurizer", ["tree", "state"])
def test_indentation_error_is_a_parse_failure(featurizer):
    from skdni.features import ParseTreeFeaturizer

    cls = ParseTreeFeaturizer if featurizer == "tree" else ParserStateFeaturizer
    bad = "if x:\n    y\n  z\n"
    with pytest.raises(
        ParseFailure, match=r"Text 1 .* character 14 \(line 3, column 3\).*dedent"
    ):
        cls("python").fit(["x\n", bad])
    f = cls("python", on_error="nan")
    with pytest.warns(UserWarning, match="1 text"):
        Y = f.fit_transform(["x\n", bad])
    assert f.failed_texts_ == [1]
    assert np.isnan(Y[2:]).all() and not np.isnan(Y[:2]).any()
