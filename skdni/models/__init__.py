"""Character language models (Keras) and skdni's model contract."""

from ._char_lm import CharLanguageModel
from ._recurrence import RecurrentStack, StackState

__all__ = ["CharLanguageModel", "RecurrentStack", "StackState"]
