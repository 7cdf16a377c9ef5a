"""skdni: Deep Neural Inspection as a scikit-learn estimator suite."""

from ._backend import select_backend

select_backend()  # before anything imports keras: jax unless the user chose a backend

from ._errors import (  # noqa: E402
    BackendError,
    EmptyCorpusError,
    GrammarError,
    InputError,
    InputTypeError,
    LayerNotFoundError,
    ModelFileError,
    NoRecurrentLayerError,
    ParseFailure,
    SkdniError,
    UnknownCharacterError,
    UnknownGrammarError,
)
from ._texts import char_offsets, sequence_ids  # noqa: E402

__version__ = "0.1.0.dev0"

__all__ = [
    "BackendError",
    "EmptyCorpusError",
    "GrammarError",
    "InputError",
    "InputTypeError",
    "LayerNotFoundError",
    "ModelFileError",
    "NoRecurrentLayerError",
    "ParseFailure",
    "SkdniError",
    "UnknownCharacterError",
    "UnknownGrammarError",
    "char_offsets",
    "sequence_ids",
]
