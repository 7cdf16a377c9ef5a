"""NeuronAblationScorer.evaluate cost against one plain forward pass.

An ``evaluate()`` with k in {1, 5, 10} x (top + 10 random draws) compares 34
conditions (with the baseline). They run as one batched recurrence (conditions x
texts in the batch dimension) through the compiled JAX ``lax.scan``
(:mod:`skdni.models._compiled`), on short and long texts alike.

Printed for short texts (the arithmetic corpus, texts <= 60 chars) and for one long
text (the same characters joined into one text, like a long source file): CPU
seconds (``time.process_time``: the machine may be shared) of three plain forward
passes over the same texts, each warmed up first (JAX compiles once per shape) —
skdni's NumPy recurrence (``RecurrentStack.run``, the activation transformer's
default engine), the compiled scan with one condition that overwrites nothing (the
evaluate's own engine), and the model's ``predict_proba`` (Keras) — and of
``evaluate`` run twice (the first call includes compiling the programs of its
shapes, the second reuses them), with the ratio of the warm evaluate to each plain
pass (goal <= 3x the fastest). The floor of that ratio is arithmetic: every
condition is a full recurrence, so 34 conditions are 34x the matrix products of a
plain pass; a plain pass over 256 short texts is already bound by those products,
a plain pass over one long text by per-step overhead.

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
from skdni.models._compiled import scan_probs  # noqa: E402
from skdni.models._conditions import ConditionSet  # noqa: E402
from skdni.models._keras_inspect import recurrent_layers  # noqa: E402


def cpu_seconds(function) -> float:
    start = time.process_time()
    function()
    return time.process_time() - start


def plain_passes(lm, texts, batch_size=256) -> dict:
    """CPU seconds of one plain forward pass (probabilities, no intervention) per
    engine, each timed after a warm-up call."""
    runtime = lm.runtime_
    stack = runtime.stack
    batches = list(runtime.batches(runtime.encode(texts), batch_size))
    nothing = ConditionSet(
        layer=0,
        state="hidden",
        mask=np.zeros((1, stack.layers[0].units), dtype=bool),
        offset=np.zeros(stack.layers[0].units),
    )

    def numpy_pass():
        for _, ids, lengths, _ in batches:
            runtime.run(ids, lengths, return_states=())

    def compiled_pass():
        for _, ids, lengths, _ in batches:
            for _ in scan_probs(stack, ids, lengths, [nothing], 1):
                pass

    def keras_pass():
        lm.predict_proba(texts)

    engines = {
        "NumPy RecurrentStack.run": numpy_pass,
        "compiled scan, 1 condition": compiled_pass,
        "predict_proba (Keras)": keras_pass,
    }
    seconds = {}
    for name, function in engines.items():
        function()  # warm-up: compiles
        seconds[name] = cpu_seconds(function)
    return seconds


def measure(lm, label, texts, modes, n_jobs):
    n_chars = sum(map(len, texts))
    y = np.array([c.isdigit() for t in texts for c in t], dtype=float)
    ranking = np.arange(recurrent_layers(lm.model_)[0].units)
    print(f"\n{label}: {len(texts)} texts, {n_chars} chars")
    for mode in modes:
        # the machine may be shared: time the plain passes right before each mode
        plain = plain_passes(lm, texts)
        scorer = NeuronAblationScorer(
            lm,
            ranking,
            k=[1, 5, 10],
            mode=mode,
            n_random=10,
            random_state=0,
            n_jobs=n_jobs,
        )
        target = y if mode == "oracle" else None
        first = cpu_seconds(lambda s=scorer, t=target: s.evaluate(texts, t))
        frame = None

        def run(scorer=scorer, target=target):
            nonlocal frame
            frame = scorer.evaluate(texts, target)

        warm = cpu_seconds(run)
        fastest = min(plain, key=plain.get)
        print(
            f"mode={mode}: evaluate (34 conditions) {warm:.2f} CPU s warm "
            f"({first:.2f} s first call, compiling included); "
            f"{warm / plain[fastest]:.2f}x the fastest plain pass ({fastest})"
        )
        for name, seconds in plain.items():
            print(
                f"    plain pass {name:28s} {seconds:6.3f} CPU s "
                f"({n_chars / seconds:>10,.0f} chars/s): evaluate = "
                f"{warm / seconds:5.2f}x"
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
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    modes = args.modes.split(",")
    measure(lm, "short texts", texts, modes, args.n_jobs)
    long_text = "".join(texts)[: args.long_chars]
    measure(lm, "one long text", [long_text], modes, args.n_jobs)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
