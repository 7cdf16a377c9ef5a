"""Character language models (Keras) and skdni's model contract."""

from ._char_lm import CharLanguageModel

__all__ = ["CharLanguageModel"]
