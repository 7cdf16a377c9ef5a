"""LSTMActivationTransformer speed: Keras path and NumPy path vs one ``model.predict``.

200k characters of the arithmetic corpus, LSTM(128) (a random-weight model unless
``--model path.keras`` names a trained CharLanguageModel file: speed does not depend on
the weights). Prints characters per second of

* ``model.predict`` over the same texts, padded into one (n_texts, max_len) array
  (``batch_size=256``): the plain Keras forward pass, output probabilities only;
* the transformer with ``method="keras"`` (first call includes JAX compilation, then a
  warm call) and ``method="numpy"``, ``state="hidden"`` and ``state="both"``.

Run: ``python benchmarks/bench_activations.py [--chars N] [--model PATH]``.
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

from skdni.activations import LSTMActivationTransformer  # noqa: E402


def timed(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    lm, what = benchmark_model(args.model)
    texts, n_chars = corpus(args.chars)
    print(f"threads: {thread_settings()}")
    print(f"model: {what}; corpus: {len(texts)} arithmetic texts, {n_chars} chars")

    ids = np.zeros((len(texts), max(map(len, texts))), dtype=np.int32)
    for row, text_ids in enumerate(lm.encode(texts)):
        ids[row, : len(text_ids)] = text_ids
    lm.model_.predict(ids[:256], batch_size=256, verbose=0)  # compile
    seconds, _ = timed(lambda: lm.model_.predict(ids, batch_size=256, verbose=0))
    rows = [("model.predict (warm, probs only)", seconds)]
    for method in ("keras", "numpy"):
        for state in ("hidden", "both"):
            act = LSTMActivationTransformer(lm, method=method, state=state).fit(
                texts[:1]
            )
            first, out = timed(lambda act=act: act.transform(texts))
            second, _ = timed(lambda act=act: act.transform(texts))
            assert out.shape[0] == n_chars
            label = f"transformer method={method} state={state}"
            if method == "keras":
                rows.append((label + " (first call, compiles)", first))
            rows.append((label, second))
    auto = LSTMActivationTransformer(lm).fit(texts[:1]).method_
    base = rows[0][1]
    print(f"{'what':58s} {'seconds':>8s} {'chars/s':>10s} {'vs predict':>10s}")
    for label, sec in rows:
        print(f"{label:58s} {sec:8.2f} {n_chars / sec:10.0f} {sec / base:9.2f}x")
    print(f'method="auto" chooses: {auto}')


if __name__ == "__main__":
    main()
