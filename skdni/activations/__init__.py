"""skdni.activations: texts -> per-character unit activations."""

from ._transformer import LSTMActivationTransformer

__all__ = ["LSTMActivationTransformer"]
