# Thread pools are pinned before numpy or jax is imported: on 2 cores, default pools
# collapse when the other core is busy (ENVIRONMENT.md).
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
# Keras writes keras.json on first import: keep the user's home untouched.
if "KERAS_HOME" not in os.environ:
    import tempfile

    os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="skdni-keras-home-")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("skdni", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("skdni")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


# JAX compiles every new model's train and predict steps (seconds each on 2 cores);
# a per-session persistent compilation cache lets models of the same architecture and
# shapes reuse the compiled steps, which makes the many small fits in tests ~10x faster.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="skdni-jax-")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")


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
        units=32, epochs=8, learning_rate=0.01, random_state=0
    ).fit(texts)
