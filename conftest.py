"""Test-session environment for the tests and the doctests in skdni/: set before numpy,
jax or keras is imported."""

# Thread pools are pinned before numpy or jax is imported: on 2 cores, default pools
# collapse when the other core is busy (ENVIRONMENT.md).
import os
import tempfile

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
# The tests' own processes compile the numba kernels they need: no background
# compile at ``import skdni.probing`` competing for the 2 cores (the tests of that
# compile set it themselves).
os.environ.setdefault("SKDNI_NUMBA_WARM_UP", "0")
# Keras writes keras.json on first import: keep the user's home untouched.
if "KERAS_HOME" not in os.environ:
    os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="skdni-keras-home-")


# JAX compiles every new model's train and predict steps (seconds each on 2 cores);
# a per-session persistent compilation cache lets models of the same architecture and
# shapes reuse the compiled steps, which makes the many small fits in tests ~10x faster.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="skdni-jax-")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
