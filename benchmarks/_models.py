"""Shared by the activation and intervention benchmarks: the model and the corpus."""

import os

import numpy as np

ARITHMETIC = sorted("()*+-/0123456789")


def thread_settings() -> str:
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
    return ", ".join(f"{name}={os.environ.get(name, '<unset>')}" for name in names)


def benchmark_model(path=None, units=128):
    """A trained CharLanguageModel from ``path`` if given, else a random-weight
    LSTM(``units``) of the same shape (speed does not depend on the weights)."""
    from skdni.models import CharLanguageModel

    if path:
        return CharLanguageModel.load(path), f"trained model {path}"
    from skdni._backend import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    n = len(ARITHMETIC)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(n + 1, 32),
            keras.layers.LSTM(units, return_sequences=True),
            keras.layers.Dense(n, activation="softmax"),
        ]
    )
    return (
        CharLanguageModel.from_keras(model, ARITHMETIC),
        f"RANDOM-WEIGHT LSTM({units}) (no trained model given; speed only)",
    )


def corpus(n_chars, random_state=0):
    from skdni.datasets import make_arithmetic_corpus

    texts = make_arithmetic_corpus(n_chars=n_chars, random_state=random_state)
    return texts, int(np.sum([len(t) for t in texts]))
