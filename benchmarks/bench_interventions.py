"""NeuronAblationScorer.evaluate cost against one plain forward pass.

An ``evaluate()`` with k in {1, 5, 10} x (top + 10 random draws) compares 34
conditions (with the baseline). They run as one batched recurrence (conditions x
texts in the batch dimension): the NumPy time loop for short texts, one compiled
JAX ``lax.scan`` for texts of >= 256 characters (where the NumPy loop's per-step
overhead dominates). For long texts the benchmark also times the compiled engine's
own one-condition pass, the fair floor of that engine. Printed for
short texts (the arithmetic corpus, texts <= 60 chars) and for one long text (the
same characters joined into one text, like a long source file), per mode: evaluate
seconds and their ratio to one plain NumPy forward pass over the same texts
(``RecurrentStack.run``, no intervention; goal <= 3x), plus one Keras
``model.predict`` for scale.

Run: ``python benchmarks/bench_interventions.py [--chars N] [--long-chars N]
[--model PATH] [--n-jobs J] [--modes zero,oracle]``.
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


def plain_pass(lm, texts, batch_size=256) -> float:
    """Seconds of one NumPy forward pass (probabilities, no intervention)."""
    runtime = lm.runtime_
    ids_list = runtime.encode(texts)
    start = time.perf_counter()
    for _, ids, lengths, _ in runtime.batches(ids_list, batch_size):
        runtime.run(ids, lengths, return_states=())
    return time.perf_counter() - start


def compiled_plain_pass(lm, texts, batch_size=256) -> float | None:
    """Seconds of one pass through the compiled (JAX) scan with a single condition
    that overwrites nothing (``None`` where the scorer would not compile: texts
    shorter than its threshold)."""
    from skdni.models._compiled import scan_probs, supports
    from skdni.models._conditions import ConditionSet

    runtime = lm.runtime_
    stack = runtime.stack
    n_units = stack.layers[0].units
    item = ConditionSet(
        layer=0,
        state="hidden",
        mask=np.zeros((1, n_units), dtype=bool),
        offset=np.zeros(n_units),
    )
    ids_list = runtime.encode(texts)
    if not supports(stack, [item], time=max(map(len, ids_list))):
        return None
    batches = list(runtime.batches(ids_list, batch_size))
    for _, ids, lengths, _ in batches:  # compile first: timed once it is built
        for _ in scan_probs(stack, ids[:, :1024], np.minimum(lengths, 1024), [item], 1):
            pass
    start = time.perf_counter()
    for _, ids, lengths, _ in batches:
        for _ in scan_probs(stack, ids, lengths, [item], 1):
            pass
    return time.perf_counter() - start


def measure(lm, label, texts, modes, n_jobs):
    n_chars = sum(map(len, texts))
    y = np.array([c.isdigit() for t in texts for c in t], dtype=float)
    ranking = np.arange(recurrent_layers(lm.model_)[0].units)
    plain_pass(lm, texts[:5])  # warm-up
    print(f"\n{label}: {len(texts)} texts, {n_chars} chars")
    for mode in modes:
        # the machine may be shared: time a plain pass right before each mode
        plain = plain_pass(lm, texts)
        scorer = NeuronAblationScorer(
            lm,
            ranking,
            k=[1, 5, 10],
            mode=mode,
            n_random=10,
            random_state=0,
            n_jobs=n_jobs,
        )
        start = time.perf_counter()
        frame = scorer.evaluate(texts, y if mode == "oracle" else None)
        total = time.perf_counter() - start
        print(
            f"mode={mode:8s}: plain pass {plain:6.2f} s ({n_chars / plain:,.0f} "
            f"chars/s); evaluate (34 conditions) {total:7.2f} s = "
            f"{total / plain:.2f}x a plain pass"
        )
        compiled = compiled_plain_pass(lm, texts)
        if compiled is not None:
            print(
                f"               compiled one-condition pass {compiled:6.2f} s: "
                f"evaluate = {total / compiled:.2f}x that (the same engine)"
            )
        print(
            frame[["k", "baseline", "top", "random_mean", "random_std"]]
            .round(4)
            .to_string(index=False)
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--long-chars", type=int, default=50_000)
    parser.add_argument("--model", default=None)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--modes", default="zero,oracle")
    args = parser.parse_args()
    lm, what = benchmark_model(args.model)
    texts, _ = corpus(args.chars)
    print(f"threads: {thread_settings()}; n_jobs={args.n_jobs}")
    print(f"model: {what}")
    ids = np.zeros((256, max(map(len, texts))), dtype=np.int32)
    for row, text_ids in enumerate(lm.encode(texts[:256])):
        ids[row, : len(text_ids)] = text_ids
    lm.model_.predict(ids, batch_size=256, verbose=0)
    start = time.perf_counter()
    lm.model_.predict(ids, batch_size=256, verbose=0)
    seconds = time.perf_counter() - start
    print(f"one Keras model.predict of 256 short texts: {seconds:.3f} s")
    modes = args.modes.split(",")
    measure(lm, "short texts", texts, modes, args.n_jobs)
    long_text = "".join(texts)[: args.long_chars]
    measure(lm, "one long text", [long_text], modes, args.n_jobs)


if __name__ == "__main__":
    main()
