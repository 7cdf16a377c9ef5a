import re

import numpy as np
import pytest

from skdni import InputError
from skdni.features import (
    BracketDepth,
    FunctionFeaturizer,
    InsideQuotes,
    PositionInLine,
    RegexFeaturizer,
    character_features,
    is_digit,
    is_letter,
    is_operator,
    is_whitespace,
)
from skdni.utils.estimator_checks import check_text_estimator

TEXTS = ['x = "a(b)" + 1', "f(g[2], {3})\n  # c", "é9"]


def two_columns(text):
    return np.column_stack([is_digit(text), is_letter(text) * 0.5])


def test_function_featurizer_columns_names_kinds():
    f = FunctionFeaturizer(two_columns)
    Y = f.fit_transform(["a1"])
    assert list(f.get_feature_names_out()) == ["two_columns:0", "two_columns:1"]
    np.testing.assert_array_equal(Y, [[0, 0.5], [1, 0]])
    assert f.feature_kinds_ == ["binary", "continuous"]
    g = FunctionFeaturizer(two_columns, names=["digit", "half_letter"])
    assert list(g.fit(["a"]).get_feature_names_out()) == ["digit", "half_letter"]
    with pytest.raises(InputError, match="names"):
        FunctionFeaturizer(two_columns, names=["one"]).fit(["a"])
    check_text_estimator(FunctionFeaturizer(two_columns, n_jobs=2), TEXTS)


def test_function_featurizer_bad_labels_name_the_text():
    with pytest.raises(InputError, match="Text 1: .*shape \\(1,\\) for a text of 2"):
        FunctionFeaturizer(lambda t: [0]).fit(["a", "bc"])
    with pytest.raises(InputError, match="Text 0: label 2.0 at character 1"):
        FunctionFeaturizer(lambda t: [0, 2]).fit(["ab"])
    f = FunctionFeaturizer(lambda t: [1.0] * len(t)).fit(["ab"])
    assert list(f.get_feature_names_out()) == ["func"]
    nan = FunctionFeaturizer(lambda t: [np.nan] * len(t)).fit_transform(["ab"])
    assert np.isnan(nan).all()


def test_regex_featurizer():
    f = RegexFeaturizer({"in_string": r'"[^"]*"', "comment": r"#.*"})
    Y = f.fit_transform(TEXTS)
    text = TEXTS[0]
    np.testing.assert_array_equal(
        Y[: len(text), 0], [1.0 if 4 <= i <= 9 else 0.0 for i in range(len(text))]
    )
    start = len(TEXTS[0]) + TEXTS[1].index("#")
    assert Y[start : start + 3, 1].tolist() == [1, 1, 1]
    imp = RegexFeaturizer([r"\d+"], representation="impulse").fit_transform(["a12b3"])
    np.testing.assert_array_equal(imp.ravel(), [0, 1, 1, 0, 1])
    multi = RegexFeaturizer({"line": "^x"}, flags=re.MULTILINE).fit_transform(["x\nx"])
    np.testing.assert_array_equal(multi.ravel(), [1, 0, 1])
    with pytest.raises(InputError, match="not a regular expression"):
        RegexFeaturizer({"bad": "("}).fit(TEXTS)
    check_text_estimator(RegexFeaturizer({"digit": r"\d"}), TEXTS)


def test_library_functions():
    np.testing.assert_array_equal(is_letter("aZ_é9"), [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(is_whitespace("a \t\n"), [0, 1, 1, 1])
    np.testing.assert_array_equal(is_operator("a+=b"), [0, 1, 1, 0])
    np.testing.assert_allclose(
        BracketDepth("()[]", max_depth=4)("([x])y)"),
        [0.25, 0.5, 0.5, 0.5, 0.25, 0, 0.25],
    )
    np.testing.assert_allclose(
        PositionInLine(max_column=2)("abc\nd"), [0, 0.5, 1, 1, 0]
    )
    np.testing.assert_array_equal(
        InsideQuotes()('a "b\\"c" \'d\''), [0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1]
    )


def test_character_features():
    f = character_features()
    check_text_estimator(f, TEXTS)
    Y = f.fit_transform(TEXTS)
    assert list(f.get_feature_names_out()) == [
        "digit",
        "letter",
        "whitespace",
        "bracket",
        "operator",
        "bracket_depth",
        "column",
        "in_quotes",
    ]
    assert f.feature_kinds_[5:7] == ["continuous", "continuous"]
    assert ((Y >= 0) & (Y <= 1)).all()


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_function_featurizer_column_count_must_not_change(n_jobs):
    def ragged(text):
        return np.zeros((len(text), 1 if text.startswith("a") else 2))

    texts = ["ab", "ac", "ad", "bc"]
    with pytest.raises(InputError, match="Text 3: .*2 columns.*1 "):
        FunctionFeaturizer(ragged, n_jobs=n_jobs).fit(texts)
