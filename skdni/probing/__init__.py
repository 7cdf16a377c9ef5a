"""skdni.probing: which units encode which feature — cross-validated 1-D probes."""

from ._fast_threshold import ThresholdClassifier
from ._search import NeuronProbeSearch

__all__ = ["NeuronProbeSearch", "ThresholdClassifier"]
