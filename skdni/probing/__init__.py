"""skdni.probing: which units encode which feature — cross-validated 1-D probes."""

from .._warm_up import background_warm_up as _background_warm_up
from ._compare import compare_units
from ._fast_threshold import ThresholdClassifier
from ._lags import lag_profile
from ._localization import forward_selection, localization_curve
from ._search import NeuronProbeSearch

# A fresh install compiles the probes' numba kernels in a low-priority background
# process, so a first fit finds them in numba's cache (README, "First call and the
# numba cache"; SKDNI_NUMBA_WARM_UP=0 turns it off).
_background_warm_up()

__all__ = [
    "NeuronProbeSearch",
    "ThresholdClassifier",
    "compare_units",
    "forward_selection",
    "lag_profile",
    "localization_curve",
]
