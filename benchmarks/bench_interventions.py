"""NeuronAblationScorer cost: intervened passes vs one plain forward pass.

200k characters of the arithmetic corpus, LSTM(128) (random weights unless
``--model path.keras``), k in {1, 5, 10} x (top + 10 random draws) x {zero, oracle}:
33 intervened passes per mode. Prints total seconds per mode, seconds per intervened
pass and its ratio to one plain NumPy forward pass over the same texts (goal: <= 1.2),
and the plain pass next to one Keras ``model.predict``.

Run: ``python benchmarks/bench_interventions.py [--chars N] [--model PATH]
[--n-jobs J]``.
Threads are pinned to 1 (OMP/OPENBLAS/MKL, XLA), as in the tests.
"""

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
from _models import benchmark_model, corpus, thread_settings  # noqa: E402

from skdni.intervention import NeuronAblationScorer  # noqa: E402
from skdni.models._keras_inspect import recurrent_layers  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--model", default=None)
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    lm, what = benchmark_model(args.model)
    texts, n_chars = corpus(args.chars)
    print(f"threads: {thread_settings()}; n_jobs={args.n_jobs}")
    print(f"model: {what}; corpus: {len(texts)} arithmetic texts, {n_chars} chars")
    y = np.array([c.isdigit() for t in texts for c in t], dtype=float)
    # every unit of the first layer; the order does not change the cost
    ranking = np.arange(recurrent_layers(lm.model_)[0].units)

    plain_scorer = NeuronAblationScorer(lm, [])
    plain_scorer.score(texts[:10])  # warm-up: imports, first allocations
    start = time.perf_counter()
    plain = plain_scorer.score(texts)  # one pass, plus encoding and reading weights
    plain_seconds = time.perf_counter() - start
    ids = np.zeros((len(texts), max(map(len, texts))), dtype=np.int32)
    for row, text_ids in enumerate(lm.encode(texts)):
        ids[row, : len(text_ids)] = text_ids
    lm.model_.predict(ids[:256], batch_size=256, verbose=0)
    start = time.perf_counter()
    lm.model_.predict(ids, batch_size=256, verbose=0)
    predict_seconds = time.perf_counter() - start
    print(
        f"plain NumPy pass (score, no intervention): {plain_seconds:.2f} s "
        f"(accuracy {plain:.3f}); one Keras model.predict: {predict_seconds:.2f} s"
    )
    for mode in ("zero", "oracle"):
        # the machine may be shared: time a plain pass right before each mode
        start = time.perf_counter()
        plain_scorer.score(texts)
        plain_seconds = time.perf_counter() - start
        scorer = NeuronAblationScorer(
            lm,
            ranking,
            k=[1, 5, 10],
            mode=mode,
            n_random=10,
            random_state=0,
            n_jobs=args.n_jobs,
        )
        start = time.perf_counter()
        frame = scorer.evaluate(texts, y if mode == "oracle" else None)
        total = time.perf_counter() - start
        passes = 1 + 3 * 11  # baseline + (top + 10 random) per k
        per_pass = total / passes
        print(
            f"mode={mode:6s}: {total:7.2f} s total for {passes} passes, "
            f"{per_pass:.2f} s/pass = {per_pass / plain_seconds:.2f}x a plain pass"
        )
        print(
            frame[["k", "baseline", "top", "random_mean", "random_std"]]
            .round(4)
            .to_string(index=False)
        )


if __name__ == "__main__":
    main()
