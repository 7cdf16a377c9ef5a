"""The one place that imports scikit-learn's private helpers.

A future scikit-learn change to them is then a one-file fix. It is also the one
place where scikit-learn's own errors become skdni's (``sklearn_errors``): the
wrapped ``_fit_context``, ``check_is_fitted``, ``validate_data`` and
``validate_params`` raise :class:`skdni.InvalidParameterError`,
:class:`skdni.NotFittedError` and :class:`skdni.InputError`, which also derive
from scikit-learn's classes, so ``except InvalidParameterError`` keeps working.
"""

import contextlib
import functools
from numbers import Integral

from sklearn.base import _fit_context as _sklearn_fit_context
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils._param_validation import (
    InvalidParameterError as SklearnInvalidParameterError,
)
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted as _sklearn_check_is_fitted
from sklearn.utils.validation import validate_data as _sklearn_validate_data

__all__ = [
    "_fit_context",
    "_get_output_config",
    "check_is_fitted",
    "check_parameter",
    "HasMethods",
    "Interval",
    "Options",
    "SklearnInvalidParameterError",
    "SklearnNotFittedError",
    "StrOptions",
    "sklearn_errors",
    "validate_data",
    "validate_params",
]


@contextlib.contextmanager
def sklearn_errors():
    """Re-raise scikit-learn's parameter and not-fitted errors as skdni's.

    Any other exception (skdni's own included) passes unchanged.
    """
    # _errors imports this module for the sklearn base classes: import it lazily
    from . import _errors

    try:
        yield
    except _errors.SkdniError:
        raise
    except SklearnInvalidParameterError as exc:
        raise _errors.InvalidParameterError(str(exc)) from exc
    except SklearnNotFittedError as exc:
        raise _errors.NotFittedError(str(exc)) from exc


def _fit_context(*, prefer_skip_nested_validation):
    """sklearn's ``_fit_context`` (parameter validation before ``fit``), raising
    :class:`skdni.InvalidParameterError` for a bad parameter."""
    sklearn_decorator = _sklearn_fit_context(
        prefer_skip_nested_validation=prefer_skip_nested_validation
    )

    def decorator(fit_method):
        validated = sklearn_decorator(fit_method)

        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            with sklearn_errors():
                _check_n_jobs(estimator)
                return validated(estimator, *args, **kwargs)

        return wrapper

    return decorator


def _check_n_jobs(estimator) -> None:
    # sklearn's [None, Integral] lets n_jobs=0 through to joblib, which refuses
    # it only once the work starts
    n_jobs = getattr(estimator, "n_jobs", None)
    if isinstance(n_jobs, Integral) and n_jobs == 0:
        raise SklearnInvalidParameterError(
            f"The 'n_jobs' parameter of {type(estimator).__name__} must be a "
            "non-zero int (-1: all cores) or None. Got 0 instead."
        )


def validate_params(estimator) -> None:
    """``estimator._validate_params()`` raising :class:`skdni.InvalidParameterError`
    (for methods that validate outside ``fit``, e.g. ``partial_fit``)."""
    with sklearn_errors():
        _check_n_jobs(estimator)
        estimator._validate_params()


def check_is_fitted(estimator, attributes=None, **kwargs) -> None:
    """sklearn's ``check_is_fitted`` raising :class:`skdni.NotFittedError`."""
    with sklearn_errors():
        _sklearn_check_is_fitted(estimator, attributes, **kwargs)


def validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
    """sklearn's ``validate_data`` raising :class:`skdni.InputError` (a
    ``ValueError``) or :class:`skdni.InputTypeError` (a ``TypeError``) whose
    message names the estimator and the arguments checked."""
    from . import _errors

    try:
        return _sklearn_validate_data(estimator, X, y, **kwargs)
    except _errors.SkdniError:
        raise
    except (ValueError, TypeError) as exc:
        args = [name for name, v in (("X", X), ("y", y)) if _given(v)]
        where = f"{type(estimator).__name__}: invalid {' / '.join(args) or 'input'}"
        error = (
            _errors.InputError
            if isinstance(exc, ValueError)
            else _errors.InputTypeError
        )
        raise error(f"{where}: {exc}") from exc


def _given(value) -> bool:
    return not (isinstance(value, str) and value == "no_validation") and (
        value is not None
    )


def check_parameter(estimator_class, name, value, *, option=None) -> None:
    """Check one value against ``estimator_class._parameter_constraints[name]``.

    Lets a caller that passes ``value`` on to the estimator later (the study, the
    ``skdni`` command) refuse it up front with the estimator's own rule. The
    message names ``option`` (e.g. ``"--cv"``) when given.
    """
    from sklearn.utils._param_validation import validate_parameter_constraints

    from . import _errors

    constraints = {name: estimator_class._parameter_constraints[name]}
    try:
        validate_parameter_constraints(
            constraints, {name: value}, caller_name=estimator_class.__name__
        )
    except SklearnInvalidParameterError as exc:
        message = str(exc)
        if option is not None:
            message = f"{option}: {message}"
        raise _errors.InvalidParameterError(message) from exc
