"""The text-estimator checks accept a correct transformer and catch broken ones."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skdni._texts import check_texts
from skdni.utils.estimator_checks import check_text_estimator, text_estimator_checks

TEXTS = ["ab(c)", "a", "((b))c"]


class CharCodes(TransformerMixin, BaseEstimator):
    """One row per character: its code point scaled by the largest seen in fit."""

    def __init__(self, *, scale=1.0):
        self.scale = scale

    def fit(self, texts, y=None):
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
