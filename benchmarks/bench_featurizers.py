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
>= 8x lark for fit + transform, the ``out=`` memmap path within 1.5x of that. For
each row: wall seconds and chars per wall second, CPU seconds (user + system of this
process, ``getrusage``: less sensitive to other processes on a shared machine, but
blind to ``n_jobs`` workers, so that row is wall only) and chars per CPU second,
the ratios to lark's fit_transform, and minor page faults; the best of ``--repeat``
runs by CPU time after a warm-up run. lark stops at a text's first syntax error
(most of the C files), so when some texts fail, both featurizers run again on the
texts lark parses, with the ratio on those texts too. Reference rows split the
cost: tree-sitter's parse alone, parse + walk, the label fill alone, and the
floors of the output (fresh zeroed pages of the float64 array; every cell written
once; for ``out=`` the same bytes written to a file with ``pwrite`` + ``fsync``),
with the disk's speed
(``dd``) in the same run. Goal lines print the ratios.

Run: ``python benchmarks/bench_featurizers.py [--section lark|tree-sitter|all]``.
Threads are pinned to 1 (OMP/OPENBLAS/MKL), as in the tests.
"""

import argparse
import functools
import os
import resource
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import lark  # noqa: E402
import numpy as np  # noqa: E402
import tree_sitter  # noqa: E402

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


def best_of_cpu(func, repeat, warm_up=None, before=None):
    """Like :func:`best_of`, returning wall, user CPU, system CPU seconds and minor
    page faults of this process in the run of least CPU time. On a shared machine
    wall time includes waiting for a core; CPU time does not (but it leaves out
    worker processes). System time is mostly the kernel giving the output fresh
    pages, which varies with what else runs. ``warm_up`` (default ``func``) runs
    once untimed first, ``before`` untimed before each run."""
    (warm_up or func)()
    best = (float("inf"),) * 4
    for _ in range(repeat):
        if before is not None:
            before()
        wall = time.perf_counter()
        before_run = resource.getrusage(resource.RUSAGE_SELF)
        func()
        after = resource.getrusage(resource.RUSAGE_SELF)
        run = (
            time.perf_counter() - wall,
            after.ru_utime - before_run.ru_utime,
            after.ru_stime - before_run.ru_stime,
            after.ru_minflt - before_run.ru_minflt,
        )
        if run[1] + run[2] < best[1] + best[2]:
            best = run
    return best


def fit_then_transform(est, texts):
    est.fit(texts)
    return est.transform(texts)


def zeros_touched(n_rows, n_columns, dtype):
    """Allocate the labels' array and write one value per 4 KB page: what any
    featurizer returning an (n_chars, n_features) array pays in memory traffic."""
    out = np.zeros((n_rows, n_columns), dtype=dtype)
    out.reshape(-1)[:: 4096 // out.itemsize] = 1
    return out


def empty_filled(n_rows, n_columns, dtype):
    """``np.empty`` and every cell written once (instead of zeros + nonzeros)."""
    out = np.empty((n_rows, n_columns), dtype=dtype)
    out.fill(1)
    return out


def pwrite_file(path, n_bytes, block_bytes=1 << 21):
    """The ``out=`` floor: ``n_bytes`` written from one reused block with ``pwrite``,
    then ``fsync`` (what ``memmap.flush`` waits for)."""
    block = memoryview(np.ones(block_bytes // 8)).cast("B")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        position = 0
        while position < n_bytes:
            position += os.pwrite(fd, block[: n_bytes - position], position)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.remove(path)


def cold():
    """Wait (untimed) until memory freed by the last run has been handed back by
    the guest kernel's free page reporting (a virtual machine: the host then has
    to fault it in again on first touch, which shows as system time)."""
    time.sleep(4)


def disk_mb_per_s(folder):
    """``dd`` of 1 GiB of zeros to ``folder`` with ``conv=fdatasync``: its MB/s."""
    path = Path(folder) / "dd.bin"
    run = subprocess.run(
        ["dd", "if=/dev/zero", f"of={path}", "bs=1M", "count=1024", "conv=fdatasync"],
        capture_output=True,
        text=True,
        check=True,
    )
    path.unlink()
    last = run.stderr.strip().splitlines()[-1]  # "... copied, 1.4 s, 767 MB/s"
    return last.rsplit(",", 1)[-1].strip()


def load():
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_tree_sitter(label, language, texts, repeat, folder):
    """TreeSitterFeaturizer vs ParseTreeFeaturizer (lark) on the same texts."""
    n = sum(map(len, texts))
    print(f"\n== {label}: {len(texts)} texts, {n:,} chars ({load()} at the start)")
    fitted = TreeSitterFeaturizer(language).fit(texts)
    width = len(fitted.get_feature_names_out())
    grammar = fitted._grammar()
    data = [t.encode("utf-8", "surrogatepass") for t in texts]
    parser = tree_sitter.Parser(grammar.language)
    parsed = fitted._parse(texts)
    out = Path(folder) / "Y.npy"
    rows = [
        ("parse only (C library)", lambda: [parser.parse(d) for d in data]),
        (
            "parse + TreeCursor walk (one pass)",
            functools.partial(
                _parse_chunk, texts, 0, language, "nan", *fitted._parse_args()[2:]
            ),
        ),
        ("label fill only (zeros + compiled sweep)", lambda: fitted._labels(parsed)),
        (
            f"floor: zeros({n:,}, {width}) float64, touch pages",
            lambda: zeros_touched(n, width, np.float64),
        ),
        ("floor: empty, write every cell", lambda: empty_filled(n, width, np.float64)),
        (
            "floor: zeros, touch pages, 4 s after freeing [cold]",
            lambda: zeros_touched(n, width, np.float64),
            cold,
        ),
        (
            "floor out=: pwrite the same bytes + fsync",
            lambda: pwrite_file(Path(folder) / "floor.bin", n * width * 8),
        ),
    ]
    cases = [
        ("fit_transform (one parse)", {}, "ft"),
        ("fit + transform (two parses)", {}, "f+t"),
        ("fit_transform float32", {"dtype": "float32"}, "ft"),
        ("fit_transform out= memmap", {"out": out}, "ft"),
        ("fit + transform out= memmap", {"out": out}, "f+t"),
        ("fit_transform n_jobs=2 [wall only]", {"n_jobs": 2}, "ft"),
    ]
    for what, params, how in cases:
        est = TreeSitterFeaturizer(language, **params)
        run = (
            functools.partial(est.fit_transform, texts)
            if how == "ft"
            else functools.partial(fit_then_transform, est, texts)
        )
        rows.append((f"tree-sitter {what}", run))
    results = {}
    for what, run, *before in rows:
        results[what] = best_of_cpu(run, repeat, None, *before)
    lark_est = ParseTreeFeaturizer(language, on_error="nan")
    # lark's warm-up (grammar compilation) on a few texts; one timed run
    lark = best_of_cpu(
        functools.partial(lark_est.fit_transform, texts),
        1,
        functools.partial(lark_est.fit_transform, texts[:3]),
    )
    lark_what = (
        f"lark ParseTreeFeaturizer fit_transform [{len(lark_est.feature_names_)} "
        f"feats, {len(lark_est.failed_texts_)} texts fail]"
    )
    results[lark_what] = lark
    # lark stops at a text's first syntax error (a short parse; the rows are still
    # labelled, then NaN): both featurizers again on the texts that lark parses,
    # rows of their own with ratios to lark on those texts
    failed = set(lark_est.failed_texts_)
    parsed_texts = [t for i, t in enumerate(texts) if i not in failed]
    chars = {}
    if failed and parsed_texts:
        m = sum(map(len, parsed_texts))
        subset = f"{len(parsed_texts)} texts lark parses, {m:,} chars"
        lark_sub = f"lark fit_transform [{subset}]"
        results[lark_sub] = best_of_cpu(
            functools.partial(lark_est.fit_transform, parsed_texts), 1
        )
        ts_sub = TreeSitterFeaturizer(language)
        results[f"tree-sitter fit_transform [{subset}]"] = best_of_cpu(
            functools.partial(ts_sub.fit_transform, parsed_texts), repeat
        )
        chars = {what: (m, lark_sub) for what in list(results)[-2:]}
    fraction = fitted.unlabelled_fraction_
    labelled = 1 - (fraction * [len(t) for t in texts]).sum() / n
    print(
        f"tree-sitter: {width} feats; {labelled:.2%} of characters labelled; "
        f"{len(fitted.failed_texts_)} texts with errors; disk: dd 1 GiB "
        f"conv=fdatasync to the out= folder {disk_mb_per_s(folder)}; best of "
        f"{repeat} by CPU after a warm-up run"
    )
    print(
        f"{'what':56s} {'wall s':>7s} {'chars/wall s':>12s} {'CPU s':>6s} "
        f"{'(user':>6s} {'sys)':>5s} {'chars/CPU s':>11s} {'vs lark':>7s} "
        f"{'(wall)':>7s} {'minflt':>8s}"
    )
    for what, (wall, user, system, faults) in results.items():
        # ratios of chars per second to lark's on the same texts
        m, ref = chars.get(what, (n, lark_what))
        ref_wall, ref_cpu = results[ref][0], results[ref][1] + results[ref][2]
        cpu = user + system
        per_cpu = f"{m / cpu:11,.0f}" if "wall only" not in what else f"{'-':>11s}"
        ratio = f"{ref_cpu / cpu:6.1f}x" if "wall only" not in what else f"{'-':>7s}"
        print(
            f"{what:56s} {wall:7.2f} {m / wall:12,.0f} {cpu:6.2f} {user:6.2f} "
            f"{system:5.2f} {per_cpu} {ratio} {ref_wall / wall:6.1f}x {faults:8,d}"
        )
    lark_cpu = lark[1] + lark[2]

    def rate(what):
        wall, user, system, _ = results[f"tree-sitter {what}"]
        return n / (user + system), n / wall

    for what in ("fit_transform (one parse)", "fit + transform (two parses)"):
        cpu, wall = rate(what)
        print(
            f"goal >= 1M chars/CPU s and >= 8x lark, {what}: {cpu:,.0f} chars/CPU s "
            f"({cpu / (n / lark_cpu):.1f}x lark on all texts), {wall:,.0f} chars/wall s"
        )
        short = what.split(" (")[0]
        out_cpu, out_wall = rate(f"{short} out= memmap")
        print(
            f"goal out= within 1.5x, {short}: in-memory / out= = "
            f"{cpu / out_cpu:.2f}x per CPU s, {wall / out_wall:.2f}x per wall s"
        )
    if chars:
        (_, lark_sub_run), (_, ts_sub_run) = list(results.items())[-2:]
        print(
            f"goal >= 8x lark, fit_transform on the {subset}: "
            f"{sum(lark_sub_run[1:3]) / sum(ts_sub_run[1:3]):.1f}x per CPU s"
        )
    floor = results[f"floor: zeros({n:,}, {width}) float64, touch pages"]
    print(
        f"output: {width * 8:,} bytes per character (float64); fresh pages cost "
        f"{(floor[1] + floor[2]) / (n * width * 8 / 1e9):.3f} CPU s per GB in this run "
        f"({load()} at the end)"
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
    ap.add_argument(
        "--out-dir", default=None, help="folder for out= files (default: a temp dir)"
    )
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.section in ("tree-sitter", "all"):
        with tempfile.TemporaryDirectory(dir=args.out_dir) as folder:
            if args.python_files:
                # whole files, as the issue measured (not cut into texts)
                python = load_python_source(max_text_chars=None)[: args.python_files]
                bench_tree_sitter(
                    "Python stdlib files", "python", python, args.repeat, folder
                )
            c_files = load_c_source(packages=["numpy", "sklearn", "numba"])
            bench_tree_sitter(
                "C files of numpy, sklearn, numba", "c", c_files, args.repeat, folder
            )
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
