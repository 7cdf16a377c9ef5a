"""Featurizer speed vs lark's bare LALR parse on the same texts.

Prints characters per second of ParseTreeFeaturizer and ParserStateFeaturizer
(fit_transform, i.e. one parse per text, and transform), next to lark's own LALR
parse building a tree (the baseline), on

* 1M characters of the arithmetic grammar (``make_arithmetic_corpus``),
* Python source from the standard library (lark's python grammar), and
* C source (the example programs in ``tests/features/data``, repeated),

with n_jobs=1 and n_jobs=2. The ratio column is featurizer time / bare-parse time
(goal: <= 1.5).

``--section tree-sitter`` prints TreeSitterFeaturizer and lark's ParseTreeFeaturizer
side by side, every node type / rule seen in fit, on the same texts: the first 100
files of the standard library (``load_python_source``, path order) and the C files
that numpy, scikit-learn and numba ship (``load_c_source``); goal >= 1M chars/s and
>= 8x lark for fit + transform, the ``out=`` memmap path within 1.5x of that. Wall
and CPU seconds (user + system, ``getrusage``: less sensitive to other processes on
a shared machine; system time is mostly the kernel zeroing the output's fresh
pages) of the best of ``--repeat`` runs after a warm-up run, with two reference
rows: one tree-sitter parse + walk of the texts (``fit + transform`` needs two) and
the memory floor of the output (allocating the ``(n_chars, n_features)`` float64
array and touching its pages).

Run: ``python benchmarks/bench_featurizers.py [--section lark|tree-sitter|all]``.
Threads are pinned to 1 (OMP/OPENBLAS/MKL), as in the tests.
"""

import argparse
import functools
import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import lark  # noqa: E402
import numpy as np  # noqa: E402

from skdni.datasets import (  # noqa: E402
    compile_grammar,
    grammar_text,
    load_c_source,
    load_python_source,
    make_arithmetic_corpus,
)
from skdni.features import (  # noqa: E402
    ParserStateFeaturizer,
    ParseTreeFeaturizer,
    TreeSitterFeaturizer,
)
from skdni.features._lark_runtime import span_parser  # noqa: E402
from skdni.features._tree_sitter import _parse_chunk  # noqa: E402

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows when piped
DATA = Path(__file__).resolve().parent.parent / "tests" / "features" / "data"


def best_of(func, repeat):
    """Best time of ``repeat`` runs after one untimed warm-up run (grammar compilation,
    worker start-up and their caches are not what is measured)."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_parser(grammar):
    """lark's LALR parser as a user would build it: a tree, no positions."""
    if grammar == "python":
        from lark.indenter import PythonIndenter

        return lark.Lark(
            grammar_text("python"),
            parser="lalr",
            postlex=PythonIndenter(),
            start="file_input",
        )
    # same options skdni compiles with (e.g. the C typedef postlexer), minus positions
    ref = compile_grammar(grammar)
    return lark.Lark(
        grammar_text(grammar),
        parser="lalr",
        lexer=ref.options.lexer,
        postlex=ref.options.postlex,
        start=ref.options.start,
    )


def bench(label, grammar, texts, repeat):
    n = sum(map(len, texts))
    parser = bare_parser(grammar)
    base = best_of(lambda: [parser.parse(t) for t in texts], repeat)
    sp = span_parser(grammar, "start", "lalr")
    spans = best_of(lambda: [sp.spans(t) for t in texts], repeat)
    rows = [
        ("lark LALR parse (tree, baseline)", base),
        ("  skdni span parse only", spans),
    ]
    for n_jobs in (1, 2):
        for cls in (ParseTreeFeaturizer, ParserStateFeaturizer):
            est = cls(grammar, n_jobs=n_jobs)
            fit_t = best_of(lambda est=est: est.fit_transform(texts), repeat)
            tr_t = best_of(lambda est=est: est.transform(texts), repeat)
            shape = est.transform(texts[:1]).shape[1]
            rows.append((f"{cls.__name__} fit_transform n_jobs={n_jobs}", fit_t))
            rows.append(
                (f"{cls.__name__} transform     n_jobs={n_jobs} [{shape} feats]", tr_t)
            )
    # the same output in float32: half the bytes written
    f32 = ParseTreeFeaturizer(grammar, dtype="float32").fit(texts)
    rows.append(
        (
            "ParseTreeFeaturizer transform     n_jobs=1 dtype=float32",
            best_of(lambda: f32.transform(texts), repeat),
        )
    )
    # the same parse with a narrow output: shows what the output width costs
    few = ParseTreeFeaturizer(grammar).fit(texts[:20]).rules_[:5]
    narrow = ParseTreeFeaturizer(grammar, rules=few)
    rows.append(
        (
            "ParseTreeFeaturizer fit_transform n_jobs=1 [5 rules]",
            best_of(lambda: narrow.fit_transform(texts), repeat),
        )
    )
    print(f"\n== {label}: {len(texts)} texts, {n:,} chars")
    print(f"{'what':58s} {'seconds':>8s} {'chars/s':>11s} {'ratio':>6s}")
    for what, t in rows:
        print(f"{what:58s} {t:8.3f} {n / t:11,.0f} {t / base:6.2f}")


def parsable(grammar, texts):
    parser = bare_parser(grammar)
    good = []
    for t in texts:
        try:
            parser.parse(t)
        except lark.exceptions.LarkError:
            continue
        good.append(t)
    return good


def best_of_cpu(func, repeat, warm_up=None):
    """Like :func:`best_of`, returning wall, user CPU and system CPU seconds of this
    process in the best run. On a shared machine wall time includes waiting for a
    core; CPU time does not (but it leaves out worker processes). System time is
    mostly the kernel zeroing the output's fresh pages, which varies with what
    else runs. ``warm_up`` (default ``func``) runs once untimed first."""
    (warm_up or func)()
    best = (float("inf"),) * 3
    for _ in range(repeat):
        wall, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        func()
        after = resource.getrusage(resource.RUSAGE_SELF)
        best = min(
            best,
            (
                time.perf_counter() - wall,
                after.ru_utime - before.ru_utime,
                after.ru_stime - before.ru_stime,
            ),
        )
    return best


def fit_then_transform(est, texts):
    est.fit(texts)
    return est.transform(texts)


def output_floor(n_rows, n_columns, dtype):
    """Allocate the labels' array and write one value per 4 KB page: what any
    featurizer returning an (n_chars, n_features) array pays in memory traffic."""
    out = np.zeros((n_rows, n_columns), dtype=dtype)
    out.reshape(-1)[:: 4096 // out.itemsize] = 1
    return out


def bench_tree_sitter(label, language, texts, repeat):
    """TreeSitterFeaturizer vs ParseTreeFeaturizer (lark) on the same texts."""
    n = sum(map(len, texts))
    rows, notes = [], []
    width = len(TreeSitterFeaturizer(language).fit(texts).get_feature_names_out())
    one_pass = functools.partial(_parse_chunk, texts, 0, language, "nan")
    rows.append(("tree-sitter parse + walk, one pass", *best_of_cpu(one_pass, repeat)))
    rows.append(
        (
            f"output floor: zeros({n:,}, {width}) float64, touch pages",
            *best_of_cpu(lambda: output_floor(n, width, np.float64), repeat),
        )
    )
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "Y.npy"
        cases = [
            ("tree-sitter fit_transform", TreeSitterFeaturizer(language), "ft"),
            ("tree-sitter fit + transform", TreeSitterFeaturizer(language), "f+t"),
            (
                "tree-sitter fit_transform float32",
                TreeSitterFeaturizer(language, dtype="float32"),
                "ft",
            ),
            (
                "tree-sitter fit_transform out= memmap",
                TreeSitterFeaturizer(language, out=out),
                "ft",
            ),
            (
                "tree-sitter fit_transform n_jobs=2 (CPU: parent only)",
                TreeSitterFeaturizer(language, n_jobs=2),
                "ft",
            ),
            (
                "lark ParseTreeFeaturizer fit_transform",
                ParseTreeFeaturizer(language, on_error="nan"),
                "ft",
            ),
        ]
        for what, est, how in cases:
            run = (
                (lambda est=est: est.fit_transform(texts))
                if how == "ft"
                else (lambda est=est: fit_then_transform(est, texts))
            )
            # lark's warm-up (grammar compilation) on a few texts: a full extra run
            # of the slow path measures nothing more
            warm = None
            if isinstance(est, ParseTreeFeaturizer):
                warm = functools.partial(est.fit_transform, texts[:3])
            seconds, user, system = best_of_cpu(run, repeat, warm)
            failed = len(est.failed_texts_)
            what = f"{what} [{len(est.get_feature_names_out())} feats]"
            rows.append((what, seconds, user, system, failed))
            if isinstance(est, TreeSitterFeaturizer) and not notes:
                fraction = est.unlabelled_fraction_
                labelled = 1 - (fraction * [len(t) for t in texts]).sum() / n
                notes.append(
                    f"tree-sitter: {labelled:.2%} of characters labelled; texts with "
                    f"errors {failed}; median unlabelled share {median(fraction):.2%}"
                )
    lark, lark_cpu = rows[-1][1], rows[-1][2] + rows[-1][3]
    print(f"\n== {label}: {len(texts)} texts, {n:,} chars")
    for note in notes:
        print(note)
    print(
        f"{'what':58s} {'wall s':>7s} {'chars/s':>10s} {'vs lark':>8s} "
        f"{'CPU s':>6s} {'(user':>6s} {'sys)':>5s} {'chars/CPU s':>11s} "
        f"{'vs lark':>8s} {'chars/user s':>12s} {'errors':>6s}"
    )
    for what, t, user, system, *failed in rows:
        cpu = user + system
        print(
            f"{what:58s} {t:7.2f} {n / t:10,.0f} {lark / t:7.1f}x "
            f"{cpu:6.2f} {user:6.2f} {system:5.2f} {n / cpu:11,.0f} "
            f"{lark_cpu / cpu:7.1f}x {n / max(user, 1e-3):12,.0f} "
            f"{failed[0] if failed else '':>6}"
        )


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=1_000_000)
    ap.add_argument("--code-chars", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--section", choices=("lark", "tree-sitter", "all"), default="all")
    ap.add_argument(
        "--python-files", type=int, default=100, help="stdlib files (tree-sitter)"
    )
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.section in ("tree-sitter", "all"):
        if args.python_files:
            # whole files, as the issue measured (not cut into texts)
            python = load_python_source(max_text_chars=None)[: args.python_files]
            bench_tree_sitter("Python stdlib files", "python", python, args.repeat)
        c_files = load_c_source(packages=["numpy", "sklearn", "numba"])
        bench_tree_sitter("C files of numpy, sklearn, numba", "c", c_files, args.repeat)
    if args.section in ("lark", "all"):
        bench_lark(args)


def bench_lark(args):
    texts = make_arithmetic_corpus(n_chars=args.chars, random_state=0)
    bench("arithmetic", "arithmetic", texts, args.repeat)

    source = load_python_source(max_chars=args.code_chars * 2)
    py = parsable("python", source)
    total, keep = 0, []
    for t in py:
        if total >= args.code_chars:
            break
        keep.append(t)
        total += len(t)
    print(
        f"\n(python: {len(keep)} stdlib files that lark's python grammar parses, "
        f"of {len(source)} read)"
    )
    bench("python stdlib", "python", keep, args.repeat)

    programs = [p.read_text() for p in sorted(DATA.glob("*.c"))]
    c_texts = programs * max(1, args.code_chars // sum(map(len, programs)))
    bench("C example programs", "c", c_texts, args.repeat)


if __name__ == "__main__":
    main()
