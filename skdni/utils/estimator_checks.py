"""skdni's own estimator checks for text-input estimators.

scikit-learn skips almost every common check for estimators that take strings, so
skdni ships the ones that matter for the character table (one row per character,
in corpus order), the way imbalanced-learn ships its own. The entry points mirror
:mod:`sklearn.utils.estimator_checks`: :func:`check_estimator`,
:func:`parametrize_with_checks` and :func:`estimator_checks_generator`, with
``expected_failed_checks`` keyed by check name; each takes the texts to check on
(text estimators cannot make their own data). A check is called as
``check(estimator)``, like scikit-learn's.

Estimators with ``fit`` (transformers and character models) get every check; those
without (the intervention scorers: ``score(texts, y)``) get the checks that apply
to them, and an estimator with neither only the API checks (``clone``,
parameters). :func:`check_text_estimator` and :func:`text_estimator_checks` are the
earlier entry points.
"""

import functools
import inspect
import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from .._compat import SklearnInvalidParameterError
from .._errors import EmptyCorpusError, InputTypeError
from .._texts import text_lengths

__all__ = [
    "check_estimator",
    "check_text_estimator",
    "estimator_checks_generator",
    "parametrize_with_checks",
    "text_estimator_checks",
]


def _output(estimator, texts, y=None):
    """What the estimator produces per text: transform, else predict_proba, else
    (a scorer without ``fit``) its score."""
    if hasattr(estimator, "transform"):
        out = estimator.transform(texts)
    elif hasattr(estimator, "predict_proba"):
        out = estimator.predict_proba(texts)
    else:
        out = estimator.score(texts, y)
    return np.asarray(out, dtype=float)


def _fit(estimator, texts, y):
    if not hasattr(estimator, "fit"):  # a scorer: nothing to fit
        return estimator
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
    first = _output(_fit(est, texts, y), texts, y)
    second = _output(_fit(est, texts, y), texts, y)
    _assert_same(first, second, f"{name}: fitting twice changed the output")


def check_pickle_round_trip(name, estimator, texts, y):
    est = _fit(clone(estimator), texts, y)
    expected = _output(est, texts, y)
    _assert_same(_output(pickle.loads(pickle.dumps(est)), texts, y), expected, name)
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    _assert_same(_output(joblib.load(buffer), texts, y), expected, name)


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
    if hasattr(estimator, "fit"):
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


def check_parameter_constraints(name, estimator, texts=None, y=None):
    """``_parameter_constraints`` names exactly the ``__init__`` parameters."""
    init = inspect.signature(type(estimator).__init__).parameters.values()
    # object.__init__ (no parameters) shows as (self, /, *args, **kwargs)
    params = {
        p.name
        for p in init
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    constraints = set(getattr(estimator, "_parameter_constraints", {}))
    only_constraints = sorted(constraints - params)
    only_init = sorted(params - constraints)
    assert not only_constraints and not only_init, (
        f"{name}: _parameter_constraints and __init__ differ: only in constraints "
        f"{only_constraints}, only in __init__ {only_init}"
    )


class _NotAValue:
    """A value no constraint but ``"no_validation"`` accepts."""

    def __repr__(self):
        return "<not a value>"


def check_invalid_params_rejected(name, estimator, texts, y):
    """Every validated parameter set to a foreign object raises
    ``InvalidParameterError`` (skdni's, also scikit-learn's) naming it, before
    any work is done."""
    for param, constraint in estimator._parameter_constraints.items():
        if constraint == "no_validation":
            continue
        est = clone(estimator).set_params(**{param: _NotAValue()})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _fit(est, texts, y) if hasattr(est, "fit") else _output(est, texts, y)
        except SklearnInvalidParameterError as exc:
            assert repr(param) in str(exc), f"{name}: {exc} does not name {param!r}"
        else:
            raise AssertionError(f"{name} accepted {param}=<not a value>")


_CHECKS = (
    check_clone_and_params,
    check_parameter_constraints,
    check_invalid_params_rejected,
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
# what applies to a scorer without ``fit`` (``score(texts, y)``)
_SCORER_CHECKS = (
    check_clone_and_params,
    check_parameter_constraints,
    check_invalid_params_rejected,
    check_fit_idempotent,
    check_pickle_round_trip,
    check_rejects_bare_string,
    check_rejects_empty_corpus,
)


# what applies to an estimator with neither (``InterchangeScorer.evaluate`` takes
# pairs of texts and positions)
_API_CHECKS = (check_clone_and_params, check_parameter_constraints)


def _checks_for(estimator):
    if hasattr(estimator, "fit"):
        return _CHECKS
    return _SCORER_CHECKS if hasattr(estimator, "score") else _API_CHECKS


class _NamedCheck:
    """A check bound to its estimator name and texts, called as ``check(estimator)``
    (scikit-learn's form); its ``__name__`` is the check's, for test ids."""

    def __init__(self, check, name, texts, y):
        self.check, self.name, self.texts, self.y = check, name, texts, y
        self.__name__ = check.__name__
        functools.update_wrapper(self, check)

    def __call__(self, estimator):
        return self.check(self.name, estimator, self.texts, self.y)

    def __repr__(self):
        return self.__name__


def estimator_checks_generator(
    estimator, texts, y=None, *, expected_failed_checks=None, mark=None
):
    """Yield ``(estimator, check)`` pairs; ``check(estimator)`` runs one check.

    The text-input counterpart of scikit-learn's ``estimator_checks_generator``.

    Parameters
    ----------
    estimator : estimator object
        The text estimator to check (an instance, not a class).
    texts : list of str
        Texts to fit and transform (or score) in the checks: a few short texts
        the estimator accepts.
    y : array-like or None, default=None
        Passed to ``fit`` (or ``score``) with the texts.
    expected_failed_checks : dict of str to str or None, default=None
        ``{"check_name": "why it fails"}``: these checks are marked with ``mark``.
    mark : {"xfail", "skip"} or None, default=None
        How to mark the expected failures: ``"xfail"`` yields
        ``pytest.param(..., marks=pytest.mark.xfail(reason=...))``, ``"skip"`` a
        check raising :class:`unittest.SkipTest`; ``None`` leaves them unmarked.

    Yields
    ------
    estimator : estimator object
        ``estimator`` itself (checks clone it before fitting).
    check : callable
        ``check(estimator)`` runs the named check, raising ``AssertionError`` on a
        failure.
    """
    if isinstance(estimator, type):
        raise TypeError("Pass an estimator instance, not a class.")
    name = type(estimator).__name__
    expected = expected_failed_checks or {}
    unknown = set(expected) - {check.__name__ for check in _checks_for(estimator)}
    if unknown:
        raise ValueError(
            f"expected_failed_checks names checks that {name} does not get: "
            f"{sorted(unknown)}."
        )
    for check in _checks_for(estimator):
        bound = _NamedCheck(check, name, texts, y)
        reason = expected.get(check.__name__)
        if reason is None or mark is None:
            yield estimator, bound
        elif mark == "xfail":
            import pytest

            yield pytest.param(estimator, bound, marks=pytest.mark.xfail(reason=reason))
        else:
            yield estimator, _skipping(bound, f"Skipping {check.__name__}: {reason}")


def _skipping(check, reason):
    from unittest import SkipTest

    @functools.wraps(check)
    def skipped(estimator):
        raise SkipTest(reason)

    return skipped


def check_estimator(
    estimator, texts, y=None, *, expected_failed_checks=None, on_fail="raise"
):
    """Run every skdni check on a text estimator, as scikit-learn's
    ``check_estimator`` does for array estimators.

    Parameters
    ----------
    estimator : estimator object
        The text estimator to check (an instance).
    texts : list of str
        A few short texts the estimator accepts.
    y : array-like or None, default=None
        Passed to ``fit`` (or ``score``) with the texts.
    expected_failed_checks : dict of str to str or None, default=None
        ``{"check_name": "why it fails"}``: a failure of these is recorded as
        ``"xfail"`` and not raised.
    on_fail : {"raise", "warn"} or None, default="raise"
        ``"raise"``: the first unexpected failure is raised; ``"warn"``: each is
        warned about; ``None``: they are only returned.

    Returns
    -------
    test_results : list of dict
        One dict per check: ``estimator``, ``check_name``, ``exception``,
        ``status`` (``"passed"``, ``"failed"`` or ``"xfail"``),
        ``expected_to_fail`` and ``expected_to_fail_reason``.
    """
    expected = expected_failed_checks or {}
    results = []
    for est, check in estimator_checks_generator(
        estimator, texts, y, expected_failed_checks=expected
    ):
        reason = expected.get(check.__name__)
        exception, status = None, "passed"
        try:
            check(est)
        except Exception as exc:
            exception, status = exc, "failed" if reason is None else "xfail"
            if status == "failed" and on_fail == "raise":
                raise
            if status == "failed" and on_fail == "warn":
                warnings.warn(f"{check.__name__} failed: {exc}", UserWarning, 2)
        results.append(
            {
                "estimator": est,
                "check_name": check.__name__,
                "exception": exception,
                "status": status,
                "expected_to_fail": reason is not None,
                "expected_to_fail_reason": reason,
            }
        )
    return results


def parametrize_with_checks(
    estimators, *, texts, y=None, expected_failed_checks=None, xfail_strict=None
):
    """A ``pytest.mark.parametrize`` over the skdni checks of several estimators.

    The text-input counterpart of scikit-learn's ``parametrize_with_checks``; the
    decorated test gets ``estimator`` and ``check`` and calls ``check(estimator)``.

    Parameters
    ----------
    estimators : list of estimator objects
        The text estimators to check (instances).
    texts : list of str or callable
        The texts to check on, or ``texts(estimator) -> list of str`` when they
        differ per estimator (a grammar's language, a model's vocabulary).
    y : callable or None, default=None
        ``y(estimator)``: what ``fit`` (or ``score``) gets with the texts.
    expected_failed_checks : callable or None, default=None
        ``expected_failed_checks(estimator) -> {"check_name": "reason"}``; those
        checks are marked ``xfail``.
    xfail_strict : bool or None, default=None
        Whether an expected failure that passes fails the test (``None``: the
        pytest configuration decides).

    Returns
    -------
    decorator : pytest.mark.parametrize
        Parametrizes ``estimator, check`` with ids ``ClassName-check_name``.
    """
    import pytest

    params = []
    for estimator in estimators:
        est_texts = texts(estimator) if callable(texts) else texts
        est_y = y(estimator) if callable(y) else y
        expected = expected_failed_checks(estimator) if expected_failed_checks else {}
        name = type(estimator).__name__
        for est, check in estimator_checks_generator(
            estimator, est_texts, est_y, expected_failed_checks=expected
        ):
            marks = ()
            if check.__name__ in expected:
                kwargs = {"reason": expected[check.__name__]}
                if xfail_strict is not None:
                    kwargs["strict"] = xfail_strict
                marks = (pytest.mark.xfail(**kwargs),)
            params.append(
                pytest.param(est, check, marks=marks, id=f"{name}-{check.__name__}")
            )
    return pytest.mark.parametrize("estimator, check", params)


def text_estimator_checks(estimator, texts, y=None):
    """Yield ``(estimator, check)`` pairs; call ``check(name, estimator, texts, y)``.

    The earlier form of :func:`estimator_checks_generator` (unbound checks).

    Parameters
    ----------
    estimator : estimator object
        The text estimator to check.
    texts : list of str
        Unused here (the caller passes them to each check); kept for symmetry.
    y : array-like or None, default=None
        Unused here, as ``texts``.

    Yields
    ------
    estimator : estimator object
        ``estimator`` itself.
    check : callable
        ``check(name, estimator, texts, y)``.
    """
    for check in _checks_for(estimator):
        yield estimator, check


def check_text_estimator(estimator, texts, y=None, *, expected_failed_checks=None):
    """Run every skdni check on a text estimator; raise on the first failure.

    Parameters
    ----------
    estimator : estimator object
        The text estimator to check.
    texts : list of str
        A few short texts the estimator accepts.
    y : array-like or None, default=None
        Passed to ``fit`` (or ``score``) with the texts.
    expected_failed_checks : dict of str to str or None, default=None
        Checks whose failure is expected (and not raised).
    """
    check_estimator(estimator, texts, y, expected_failed_checks=expected_failed_checks)
