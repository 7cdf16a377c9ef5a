"""Character language models (Keras) and skdni's model contract."""

from ._char_lm import CharLanguageModel
from ._interventions import Intervention
from ._recurrence import RecurrentStack, StackState
from ._runtime import ModelRuntime

__all__ = [
    "CharLanguageModel",
    "Intervention",
    "ModelRuntime",
    "RecurrentStack",
    "StackState",
]
