"""Common checks over every public estimator of skdni.

Every ``BaseEstimator`` subclass named in ``skdni.__all__`` or a subpackage's
``__all__`` is discovered and must have an entry here: array-input estimators get
scikit-learn's ``check_estimator`` checks, text-input ones skdni's text checks
(:mod:`skdni.utils.estimator_checks`), and every one the parameter-validation check
(``_parameter_constraints`` keys == ``__init__`` parameters). Fixtures are tiny (an
untrained 4-unit LSTM, a few short texts), so this stays quick.
"""

import functools
import importlib
import inspect
import pkgutil

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import (
    parametrize_with_checks as sklearn_parametrize_with_checks,
)

import skdni
from skdni import (
    CharLanguageModel,
    FunctionFeaturizer,
    LSTMActivationTransformer,
    NeuronAblationScorer,
    NeuronProbeSearch,
    ParserStateFeaturizer,
    ParseTreeFeaturizer,
    RegexFeaturizer,
    TreeSitterFeaturizer,
)
from skdni.features import is_digit
from skdni.intervention import InterchangeScorer
from skdni.probing import ThresholdClassifier
from skdni.utils.estimator_checks import (
    check_parameter_constraints,
    parametrize_with_checks,
)

VOCAB = "()*+-/0123456789"
ARITH = ["(1+2)*3", "4-5", "((6))", "7/8+9"]
C_CODE = ["int f(int x) { return x + 1; }", "y = f(2);"]


def public_estimators() -> dict:
    """Every public estimator class: ``skdni.__all__`` and each subpackage's."""
    modules = [skdni] + [
        importlib.import_module(f"skdni.{info.name}")
        for info in pkgutil.iter_modules(skdni.__path__)
        if info.ispkg and not info.name.startswith("_")
    ]
    found = {}
    for module in modules:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found[obj.__name__] = obj
    return found


@functools.cache
def tiny_model():
    """An untrained Embedding -> LSTM(4) -> Dense model over ``VOCAB`` (ids 1..)."""
    from skdni._backend import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(len(VOCAB) + 1, 3),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(len(VOCAB) + 1, activation="softmax"),
        ]
    )


# text-input estimators: an instance and the texts it is checked on
TEXT_ESTIMATORS = {
    "CharLanguageModel": (
        lambda: CharLanguageModel(
            units=4, embedding_dim=3, epochs=1, batch_size=16, random_state=0
        ),
        ARITH,
    ),
    "FunctionFeaturizer": (lambda: FunctionFeaturizer(is_digit), ARITH),
    "LSTMActivationTransformer": (
        lambda: LSTMActivationTransformer(tiny_model(), vocabulary=VOCAB, state="both"),
        ARITH,
    ),
    "NeuronAblationScorer": (
        lambda: NeuronAblationScorer(
            tiny_model(),
            units=[0, 1, 2],
            k=2,
            vocabulary=VOCAB,
            n_random=2,
            random_state=0,
        ),
        ARITH,
    ),
    "InterchangeScorer": (
        lambda: InterchangeScorer(
            tiny_model(), [0, 1], k=1, vocabulary=VOCAB, random_state=0
        ),
        ARITH,
    ),
    "ParseTreeFeaturizer": (lambda: ParseTreeFeaturizer("arithmetic"), ARITH),
    "ParserStateFeaturizer": (lambda: ParserStateFeaturizer("arithmetic"), ARITH),
    "RegexFeaturizer": (lambda: RegexFeaturizer({"digit": r"\d"}), ARITH),
    "TreeSitterFeaturizer": (lambda: TreeSitterFeaturizer("c"), C_CODE),
}

# array-input estimators: scikit-learn's own checks
ARRAY_ESTIMATORS = {
    "NeuronProbeSearch": [
        lambda: NeuronProbeSearch(cv=5),
        lambda: NeuronProbeSearch(cv=5, n_permutations=19, random_state=0),
    ],
    "ThresholdClassifier": [lambda: ThresholdClassifier()],
}


def _sklearn_expected_failures(estimator):
    return {}


def test_every_public_estimator_is_checked():
    assert set(public_estimators()) == set(TEXT_ESTIMATORS) | set(ARRAY_ESTIMATORS)


def _instances():
    makers = {name: [make] for name, (make, _) in TEXT_ESTIMATORS.items()}
    return [
        make() for makes in {**makers, **ARRAY_ESTIMATORS}.values() for make in makes
    ]


@pytest.mark.parametrize("estimator", _instances(), ids=lambda e: type(e).__name__)
def test_parameter_constraints_match_init(estimator):
    check_parameter_constraints(type(estimator).__name__, estimator)


@parametrize_with_checks(
    [make() for make, _ in TEXT_ESTIMATORS.values()],
    texts=lambda est: TEXT_ESTIMATORS[type(est).__name__][1],
)
def test_text_estimator(estimator, check):
    check(estimator)


@sklearn_parametrize_with_checks(
    [make() for makes in ARRAY_ESTIMATORS.values() for make in makes],
    expected_failed_checks=_sklearn_expected_failures,
)
def test_array_estimator(estimator, check):
    check(estimator)
