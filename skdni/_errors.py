"""One error root for skdni; subclasses also derive from the builtin a caller
expects."""

from ._compat import SklearnInvalidParameterError, SklearnNotFittedError


class SkdniError(Exception):
    """Root of every error skdni raises on purpose."""


class InputError(SkdniError, ValueError):
    """A value given to skdni is wrong: shape, row count, NaN, empty corpus, ..."""


class InputTypeError(SkdniError, TypeError):
    """An argument has the wrong type (a bare string where a list of texts goes)."""


class EmptyCorpusError(InputError):
    """A corpus with no texts, or a text with no characters where one is required."""


class UnknownCharacterError(InputError):
    """A character outside the vocabulary a model or grammar knows."""


class ParseFailure(InputError):
    """A text does not parse with the grammar (names text index and position)."""


class GrammarError(SkdniError, ValueError):
    """A grammar that does not compile, or a terminal that cannot be sampled."""


class _KeyErrorMessage:
    # KeyError.__str__ quotes its argument; skdni messages are sentences.
    def __str__(self):
        return str(self.args[0]) if self.args else ""


class UnknownGrammarError(_KeyErrorMessage, SkdniError, KeyError):
    """A bundled grammar name that does not exist."""


class LayerNotFoundError(_KeyErrorMessage, SkdniError, KeyError):
    """A layer name or index that the model does not have."""


class NoRecurrentLayerError(SkdniError, ValueError):
    """A Keras model without a recurrent layer to inspect."""


class BackendError(SkdniError, ImportError):
    """The Keras backend chosen by the user is not installed."""


class ModelFileError(SkdniError, ValueError):
    """A model file that is missing or is not a character RNN model."""


class InvalidParameterError(SkdniError, SklearnInvalidParameterError):
    """A constructor parameter outside its allowed values (``cv=1``, ``units=0``,
    ``mode="bogus"``); also a scikit-learn ``InvalidParameterError``."""


class NotFittedError(SkdniError, SklearnNotFittedError):
    """A method that needs a fitted estimator called before ``fit``; also a
    scikit-learn ``NotFittedError``."""
