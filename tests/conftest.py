"""Shared fixtures (the environment is pinned in the root conftest.py)."""

import pytest
from hypothesis import settings

settings.register_profile("skdni", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("skdni")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def arithmetic_texts():
    """Held-out arithmetic texts (~3k characters) that ``trained_lm`` never saw."""
    from skdni.datasets import make_arithmetic_corpus

    return make_arithmetic_corpus(n_chars=3_000, random_state=1)


@pytest.fixture(scope="session")
def trained_lm():
    """A small LSTM(32) CharLanguageModel trained on ~30k characters of arithmetic
    (a few seconds); next-char accuracy ~0.33 against a majority rate of ~0.12."""
    from skdni.datasets import make_arithmetic_corpus
    from skdni.models import CharLanguageModel

    texts = make_arithmetic_corpus(n_chars=30_000, random_state=0)
    return CharLanguageModel(
        units=32,
        epochs=8,
        learning_rate=0.01,
        dropout=0.0,
        batch_size=64,
        random_state=0,
    ).fit(texts)
