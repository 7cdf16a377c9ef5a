"""skdni.intervention: overwrite units inside the running recurrence and measure the
effect (the paper's §5.2: Rm-Neuron_k, Oracle_k, clamped generation)."""

from ._dose import dose_response, is_valid_prefix
from ._generation import (
    clamped_generation,
    count_class_in_generations,
    generate_with_interventions,
)
from ._interchange import InterchangeScorer
from ._interventions import Intervention
from ._scorer import NeuronAblationScorer, after_char_in, char_class, next_char_in

__all__ = [
    "InterchangeScorer",
    "Intervention",
    "NeuronAblationScorer",
    "after_char_in",
    "char_class",
    "clamped_generation",
    "count_class_in_generations",
    "dose_response",
    "generate_with_interventions",
    "is_valid_prefix",
    "next_char_in",
]
