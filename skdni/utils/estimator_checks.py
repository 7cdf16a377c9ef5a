"""skdni's own estimator checks for text-input estimators (CONVENTIONS 13).

scikit-learn skips almost every common check for estimators that take strings, so
skdni ships the ones that matter for the character table, the way imbalanced-learn ships
its own. Use :func:`text_estimator_checks` with ``pytest.mark.parametrize``, or call
:func:`check_text_estimator` to run them all.
"""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from .._errors import EmptyCorpusError, InputTypeError
from .._texts import text_lengths

__all__ = ["check_text_estimator", "text_estimator_checks"]


def _output(estimator, texts):
    """What the estimator produces per character: transform, else predict_proba."""
    if hasattr(estimator, "transform"):
        out = estimator.transform(texts)
    else:
        out = estimator.predict_proba(texts)
    return np.asarray(out, dtype=float)


def _fit(estimator, texts, y):
    return estimator.fit(texts) if y is None else estimator.fit(texts, y)


def _assert_same(a, b, what):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=what)


def check_clone_and_params(name, estimator, texts, y):
    params = estimator.get_params(deep=False)
    cloned = clone(estimator)
    assert cloned.get_params(deep=False).keys() == params.keys(), name
    cloned.set_params(**params)
    for key, value in params.items():
        assert cloned.get_params(deep=False)[key] is value, f"{name}: set_params({key})"


def check_not_fitted(name, estimator, texts, y):
    try:
        _output(clone(estimator), texts)
    except NotFittedError:
        return
    raise AssertionError(f"{name} did not raise NotFittedError before fit")


def check_fit_returns_self(name, estimator, texts, y):
    est = clone(estimator)
    assert _fit(est, texts, y) is est, f"{name}.fit must return self"


def check_rows_equal_chars(name, estimator, texts, y):
    est = _fit(clone(estimator), texts, y)
    out = _output(est, texts)
    assert out.ndim == 2, f"{name}: output must be 2-D, got {out.shape}"
    assert out.shape[0] == text_lengths(texts).sum(), (
        f"{name}: {out.shape[0]} rows for {text_lengths(texts).sum()} characters"
    )
    single = _output(est, texts[-1:])
    _assert_same(single, out[-len(texts[-1]) :], f"{name}: a text alone vs in a batch")


def check_fit_idempotent(name, estimator, texts, y):
    est = clone(estimator)
    first = _output(_fit(est, texts, y), texts)
    second = _output(_fit(est, texts, y), texts)
    _assert_same(first, second, f"{name}: fitting twice changed the output")


def check_pickle_round_trip(name, estimator, texts, y):
    est = _fit(clone(estimator), texts, y)
    expected = _output(est, texts)
    _assert_same(_output(pickle.loads(pickle.dumps(est)), texts), expected, name)
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    _assert_same(_output(joblib.load(buffer), texts), expected, name)


def check_feature_names_and_pandas(name, estimator, texts, y):
    if not hasattr(estimator, "transform"):
        return
    est = _fit(clone(estimator), texts, y)
    names = np.asarray(est.get_feature_names_out())
    out = est.transform(texts)
    assert names.shape == (out.shape[1],), f"{name}: {len(names)} names, {out.shape}"
    assert len(set(names)) == len(names), f"{name}: duplicate feature names"
    frame = clone(est).set_output(transform="pandas")
    frame = _fit(frame, texts, y).transform(texts)
    assert isinstance(frame, pd.DataFrame), f"{name}: set_output(pandas) ignored"
    assert list(frame.columns) == list(names), name


def check_string_tags(name, estimator, texts, y):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array, name


def check_rejects_bare_string(name, estimator, texts, y):
    try:
        _fit(clone(estimator), texts[0], y)
    except InputTypeError:
        pass
    else:
        raise AssertionError(f"{name}.fit accepted a bare string")
    est = _fit(clone(estimator), texts, y)
    try:
        _output(est, texts[0])
    except InputTypeError:
        return
    raise AssertionError(f"{name} accepted a bare string after fit")


def check_rejects_empty_corpus(name, estimator, texts, y):
    est = _fit(clone(estimator), texts, y)
    try:
        _output(est, [])
    except EmptyCorpusError:
        return
    raise AssertionError(f"{name} accepted an empty corpus")


def check_in_pipeline(name, estimator, texts, y):
    est = clone(estimator)
    pipe = _fit(Pipeline([("step", est)]), texts, y)
    _assert_same(_output(pipe, texts), _output(_fit(clone(est), texts, y), texts), name)


_CHECKS = (
    check_clone_and_params,
    check_not_fitted,
    check_fit_returns_self,
    check_rows_equal_chars,
    check_fit_idempotent,
    check_pickle_round_trip,
    check_feature_names_and_pandas,
    check_string_tags,
    check_rejects_bare_string,
    check_rejects_empty_corpus,
    check_in_pipeline,
)


def text_estimator_checks(estimator, texts, y=None):
    """Yield ``(estimator, check)`` pairs; call ``check(name, estimator, texts, y)``."""
    for check in _CHECKS:
        yield estimator, check


def check_text_estimator(estimator, texts, y=None) -> None:
    """Run every skdni check on a text-input estimator; raise on the first failure."""
    name = type(estimator).__name__
    for est, check in text_estimator_checks(estimator, texts, y):
        check(name, est, texts, y)
