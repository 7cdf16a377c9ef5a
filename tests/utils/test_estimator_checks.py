"""The text-estimator checks accept a correct transformer and catch broken ones."""

from numbers import Real

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skdni._texts import check_texts
from skdni.utils.estimator_checks import (
    check_estimator,
    check_text_estimator,
    estimator_checks_generator,
    parametrize_with_checks,
    text_estimator_checks,
)

TEXTS = ["ab(c)", "a", "((b))c"]


class CharCodes(TransformerMixin, BaseEstimator):
    """One row per character: its code point scaled by the largest seen in fit."""

    _parameter_constraints = {"scale": [Real]}

    def __init__(self, *, scale=1.0):
        self.scale = scale

    def fit(self, texts, y=None):
        self._validate_params()
        texts = check_texts(texts)
        self.max_code_ = max(ord(c) for t in texts for c in t)
        return self

    def transform(self, texts):
        check_is_fitted(self)
        texts = check_texts(texts)
        codes = np.array([ord(c) for t in texts for c in t], dtype=float)
        return (self.scale * codes / self.max_code_)[:, None]

    def get_feature_names_out(self, input_features=None):
        return np.array(["code"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


class OneRowPerText(CharCodes):
    def transform(self, texts):
        return super().transform(texts)[: len(check_texts(texts))]


class AcceptsBareString(CharCodes):
    def transform(self, texts):
        check_is_fitted(self)
        if isinstance(texts, str):
            texts = [texts]
        return super().transform(texts)


@pytest.mark.parametrize(
    "estimator, check", list(text_estimator_checks(CharCodes(), TEXTS))
)
def test_correct_transformer_passes_every_check(estimator, check):
    check(type(estimator).__name__, estimator, TEXTS, None)


@pytest.mark.parametrize(
    "broken, message",
    [(OneRowPerText(), "rows for"), (AcceptsBareString(), "accepted a bare string")],
)
def test_broken_transformers_are_caught(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_text_estimator(broken, TEXTS)


class UnlistedParameter(CharCodes):
    def __init__(self, *, scale=1.0, offset=0):
        super().__init__(scale=scale)
        self.offset = offset


@parametrize_with_checks([CharCodes(), CharCodes(scale=2.0)], texts=TEXTS)
def test_parametrize_with_checks(estimator, check):
    check(estimator)


@parametrize_with_checks(
    [OneRowPerText()],
    texts=TEXTS,
    expected_failed_checks=lambda est: {"check_rows_equal_chars": "one row per text"},
    xfail_strict=True,
)
def test_parametrize_marks_expected_failures(estimator, check):
    # the named checks are xfail (strict: they must fail); the others pass
    check(estimator)


def test_check_estimator_reports_each_check_by_name():
    results = check_estimator(
        OneRowPerText(),
        TEXTS,
        expected_failed_checks={"check_rows_equal_chars": "one row per text"},
        on_fail=None,
    )
    status = {r["check_name"]: r["status"] for r in results}
    assert status["check_rows_equal_chars"] == "xfail"
    assert status["check_in_pipeline"] == "passed"
    assert status["check_clone_and_params"] == "passed"
    assert set(status.values()) == {"passed", "xfail"}
    with pytest.raises(AssertionError, match="rows for"):
        check_estimator(OneRowPerText(), TEXTS)


def test_parameter_constraints_must_match_init():
    with pytest.raises(AssertionError, match=r"only in __init__ \['offset'\]"):
        check_text_estimator(UnlistedParameter(), TEXTS)


def test_unknown_expected_check_is_refused():
    with pytest.raises(ValueError, match="check_nonexistent"):
        list(
            estimator_checks_generator(
                CharCodes(), TEXTS, expected_failed_checks={"check_nonexistent": "x"}
            )
        )
