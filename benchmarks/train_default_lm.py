"""Train the default CharLanguageModel (LSTM 128) on 200k characters of arithmetic.

Prints next-character accuracy on held-out texts against the majority-class rate,
training seconds and the thread settings. Run:

    python benchmarks/train_default_lm.py [--n-chars 200000] [--seed 0]
"""

import argparse
import os

# Pin thread pools before numpy / jax are imported (ENVIRONMENT.md).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import time  # noqa: E402

import numpy as np  # noqa: E402

from skdni.datasets import make_arithmetic_corpus  # noqa: E402
from skdni.models import CharLanguageModel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-chars", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args()

    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "XLA_FLAGS",
    ):
        print(f"{var}={os.environ.get(var)}")
    print(f"cpus={os.cpu_count()} load average={os.getloadavg()}")

    train = make_arithmetic_corpus(n_chars=args.n_chars, random_state=args.seed)
    test = make_arithmetic_corpus(
        n_chars=args.n_chars // 10, random_state=args.seed + 1
    )
    print(
        f"train: {len(train)} texts, {sum(map(len, train))} chars; "
        f"test: {len(test)} texts, {sum(map(len, test))} chars"
    )

    lm = CharLanguageModel(random_state=args.seed, verbose=args.verbose)
    print(lm)
    start = time.perf_counter()
    lm.fit(train)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    accuracy = lm.score(test)
    score_seconds = time.perf_counter() - start
    targets = "".join(text[1:] for text in test)
    test_majority = targets.count(lm.majority_char_) / len(targets)

    epochs = len(lm.history_["loss"])
    print(
        f"epochs run: {epochs} (best val_loss epoch "
        f"{int(np.argmin(lm.history_['val_loss'])) + 1})"
    )
    print(
        f"training seconds: {fit_seconds:.1f} ({fit_seconds / epochs:.1f} per epoch, "
        "first epoch includes XLA compilation)"
    )
    print(f"held-out next-char accuracy: {accuracy:.4f}")
    print(
        f"majority-class rate ({lm.majority_char_!r}): train {lm.majority_rate_:.4f}, "
        f"held-out {test_majority:.4f}"
    )
    print(
        f"held-out cross-entropy: {lm.cross_entropy(test):.4f} nats/char "
        f"(uniform: {np.log(lm.n_vocab_):.4f})"
    )
    print(f"score seconds ({sum(map(len, test))} chars): {score_seconds:.2f}")


if __name__ == "__main__":
    main()
