"""skdni: Deep Neural Inspection as a scikit-learn estimator suite."""

from ._backend import select_backend

select_backend()  # before anything imports keras: jax unless the user chose a backend

from ._errors import (  # noqa: E402
    BackendError,
    EmptyCorpusError,
    GrammarError,
    InputError,
    InputTypeError,
    InvalidParameterError,
    LayerNotFoundError,
    ModelFileError,
    NoRecurrentLayerError,
    NotFittedError,
    ParseFailure,
    SkdniError,
    UnknownCharacterError,
    UnknownGrammarError,
)
from ._study import StudyConfig, StudyResult, run_study  # noqa: E402
from ._texts import char_offsets, sequence_ids  # noqa: E402
from ._warm_up import warm_up  # noqa: E402
from .activations import LSTMActivationTransformer  # noqa: E402
from .features import (  # noqa: E402
    FunctionFeaturizer,
    ParserStateFeaturizer,
    ParseTreeFeaturizer,
    RegexFeaturizer,
    TreeSitterFeaturizer,
)
from .intervention import Intervention, NeuronAblationScorer  # noqa: E402
from .models import CharLanguageModel  # noqa: E402

__version__ = "0.1.0.dev0"


def __getattr__(name):
    # The probe search compiles numba kernels on import (~2 s): load it on first use.
    if name == "NeuronProbeSearch":
        from .probing import NeuronProbeSearch

        return NeuronProbeSearch
    raise AttributeError(f"module 'skdni' has no attribute {name!r}")


__all__ = [
    "BackendError",
    "CharLanguageModel",
    "EmptyCorpusError",
    "FunctionFeaturizer",
    "GrammarError",
    "InputError",
    "InputTypeError",
    "Intervention",
    "InvalidParameterError",
    "LSTMActivationTransformer",
    "LayerNotFoundError",
    "ModelFileError",
    "NeuronAblationScorer",
    "NeuronProbeSearch",
    "NoRecurrentLayerError",
    "NotFittedError",
    "ParseFailure",
    "ParseTreeFeaturizer",
    "ParserStateFeaturizer",
    "RegexFeaturizer",
    "SkdniError",
    "StudyConfig",
    "StudyResult",
    "TreeSitterFeaturizer",
    "UnknownCharacterError",
    "UnknownGrammarError",
    "char_offsets",
    "run_study",
    "sequence_ids",
    "warm_up",
]
