"""The one place that imports scikit-learn's private helpers.

A future scikit-learn change to them is then a one-file fix.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import validate_data

__all__ = [
    "_fit_context",
    "_get_output_config",
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "validate_data",
]
