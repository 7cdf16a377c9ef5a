"""skdni.probing: which units encode which feature — cross-validated 1-D probes."""

from ._compare import compare_units
from ._fast_threshold import ThresholdClassifier
from ._lags import lag_profile
from ._localization import forward_selection, localization_curve
from ._search import NeuronProbeSearch

__all__ = [
    "NeuronProbeSearch",
    "ThresholdClassifier",
    "compare_units",
    "forward_selection",
    "lag_profile",
    "localization_curve",
]
