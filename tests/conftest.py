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
