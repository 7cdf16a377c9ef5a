"""NeuronProbeSearch against the naive per-pair scikit-learn loop.

The paper's probe search: 128 units × 50 features (25 binary, 25 continuous), 20-fold
CV, at 50k and 200k characters. The naive loop is what a user writes::

    cross_val_score(LinearSVC(), X[:, [j]], y, cv=KFold(20))        # binary features
    cross_val_score(LinearRegression(), X[:, [j]], y, cv=KFold(20)) # continuous ones

For imbalanced binary features the same is timed with ``scoring="balanced_accuracy"``
(``LinearSVC(class_weight="balanced")``) and ``scoring="roc_auc"`` (``LinearSVC()``),
against ``cross_val_score(..., scoring=...)``.

It is timed on a random sample of pairs and extrapolated to all 6,400 pairs (printed as
such). NeuronProbeSearch runs on the same data in the same process; the script prints
speed-ups, per-fold agreement on the sampled pairs and the thread settings.

Times are CPU seconds of this process (the machine is shared; with the default
``n_jobs=1`` all work is in it), numerator and denominator measured in one run.

Run: ``python benchmarks/bench_probe_search.py`` (or ``--quick`` for a small run;
``--rank-only`` times only the balanced-accuracy and ROC AUC engines;
``--floors-only`` only the fast engines against the argsort floor, and the radix
sort + gather of every unit against ``np.argsort`` + gather; ``--argsort`` makes the
engines sort by ``np.argsort``, the path before the radix sort).
"""

import argparse
import os
import platform
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.model_selection import KFold, cross_val_score  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from skdni.probing import NeuronProbeSearch  # noqa: E402


def make_data(n, n_units, n_binary, n_continuous, seed=0):
    """tanh of correlated noise with planted signal; sequence-like latent features."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(40, 200, size=n // 40 + 1)
    starts = np.zeros(n, dtype=bool)
    starts[np.cumsum(lengths)[np.cumsum(lengths) < n]] = True
    latent = np.empty((n, n_binary + n_continuous))
    walk = rng.choice([-1.0, 1.0], size=(n, latent.shape[1]))
    latent[0] = 0
    for t in range(1, n):  # random walks that restart at every "text"
        latent[t] = 0 if starts[t] else np.maximum(0, latent[t - 1] + walk[t])
    mix = rng.normal(size=(n_units, n_units)) / np.sqrt(n_units)
    Z = rng.normal(size=(n, n_units)) @ mix
    for f in range(latent.shape[1]):  # plant every feature into two units
        for u in rng.choice(n_units, size=2, replace=False):
            Z[:, u] += 0.3 * latent[:, f] / (1 + latent[:, f].std())
    X = np.tanh(Z)
    scale = latent.max(axis=0) + 1
    Yb = (latent[:, :n_binary] > np.median(latent[:, :n_binary], axis=0)).astype(float)
    Yc = latent[:, n_binary:] / scale[n_binary:]
    return X, Yb, Yc


def naive(estimator, X, Y, pairs, n_folds, scoring=None):
    """CPU seconds per pair and fold scores of the user's loop on the sampled pairs."""
    scores, start = [], time.process_time()
    for j, u in pairs:
        scores.append(
            cross_val_score(
                estimator, X[:, [u]], Y[:, j], cv=KFold(n_folds), scoring=scoring
            )
        )
    return (time.process_time() - start) / len(pairs), np.array(scores)


def fold_scores(search, pairs):
    r = search.cv_results_
    p = search.n_features_in_
    return np.array(
        [
            [r[f"split{k}_test_score"][j * p + u] for k in range(search.n_splits_)]
            for j, u in pairs
        ]
    )


def sample_pairs(search, n_sample, rng):
    """Half the pairs are each feature's best unit (informative), half random."""
    n_feats, n_units = search.scores_.shape
    feats = rng.choice(n_feats, size=n_sample, replace=n_sample > n_feats)
    best = [(int(j), int(search.best_units_[j])) for j in feats[: n_sample // 2]]
    rand = [(int(j), int(rng.integers(n_units))) for j in feats[n_sample // 2 :]]
    return best + rand


def timed_fit(X, Y, n_folds, n_jobs, probe="auto", scoring=None):
    """CPU seconds (this process; with n_jobs=1 that is all the work) and the fit."""
    start = time.process_time()
    search = NeuronProbeSearch(probe, cv=n_folds, scoring=scoring, n_jobs=n_jobs)
    search.fit(X, Y)
    return time.process_time() - start, search


def floors(X, Yc):
    """CPU seconds of one ``X.T @ Y`` (f64) and of ``argsort`` of every unit's
    column (the smaller of two runs each)."""
    XF = np.asfortranarray(X)  # contiguous columns, as the sort-based engines use
    t_gemm = t_sort = np.inf
    for _ in range(2):
        start = time.process_time()
        X.T @ Yc
        t_gemm = min(t_gemm, time.process_time() - start)
        start = time.process_time()
        for u in range(XF.shape[1]):
            np.argsort(XF[:, u])
        t_sort = min(t_sort, time.process_time() - start)
    return t_gemm, t_sort


def sort_gather(X, Yb, n_folds):
    """CPU seconds of the sorted engines' per-unit step on every unit's column: sort
    it and gather its folds and row-packed label codes (the SVM engine's layout), by
    ``np.argsort`` + a gather (the reference path) and by the radix sort (the
    smaller of two runs each)."""
    from skdni.probing import _sorted

    n = X.shape[0]
    XT = np.ascontiguousarray(X.T)  # unit-major, as the engines read it
    ff = (np.arange(n) * n_folds // n).astype(np.int8)  # KFold: folds in row order
    cf = _sorted.label_codes(Yb, rows=True)
    times, before = {}, _sorted.SORT
    try:
        for sort in ("argsort", "radix"):
            _sorted.SORT = sort
            sorter = _sorted._UnitSorter(ff, cf, True)
            times[sort] = np.inf
            for _ in range(2):
                start = time.process_time()
                for xf in XT:
                    sorter(xf)
                times[sort] = min(times[sort], time.process_time() - start)
    finally:
        _sorted.SORT = before
    return times["argsort"], times["radix"]


def compare(label, fast, ref, test_size):
    same = np.mean(fast == ref)
    worst = np.max(np.abs(fast - ref)) * test_size
    print(
        f"  {label:38s}: {100 * same:6.2f}% of {fast.size} folds identical, "
        f"worst fold off by {worst:.0f} held-out sample(s)"
    )


RANK_REFERENCES = {
    "balanced_accuracy": LinearSVC(class_weight="balanced"),
    "roc_auc": LinearSVC(),
}


def run_rank(X, Yb, n_folds, n_sample, n_jobs, rng):
    """The balanced-accuracy and ROC AUC engines against the naive loop."""
    n_units, n_binary = X.shape[1], Yb.shape[1]
    pairs = n_units * n_binary
    print(
        f"balanced accuracy and ROC AUC (SVM probe), {pairs:,} binary pairs; naive "
        f"loop timed on {n_sample} sampled pairs and EXTRAPOLATED to all pairs:"
    )
    t_acc, _ = timed_fit(X, Yb, n_folds, n_jobs)
    print(f"  (same pairs, scoring='accuracy', fast SVM engine: {t_acc:.3f} s)")
    for scoring, reference in RANK_REFERENCES.items():
        t_fast, search = timed_fit(X, Yb, n_folds, n_jobs, scoring=scoring)
        sampled = sample_pairs(search, n_sample, rng)
        t_naive, ref = naive(reference, X, Yb, sampled, n_folds, scoring=scoring)
        total = t_naive * pairs
        fast = fold_scores(search, sampled)
        print(
            f"  {scoring:17s} fast {t_fast:8.3f} s ({search.methods_.iloc[0]}); naive "
            f"{reference!r} {t_naive:6.3f} s/pair → {total:8.0f} s; speed-up "
            f"{total / t_fast:8,.0f}x ({t_fast / t_acc:.2f}x the accuracy engine); "
            f"max |fast − cross_val_score| over "
            f"{fast.size} folds {np.max(np.abs(fast - ref)):.1e}"
        )


def run(n, n_units, n_binary, n_continuous, n_folds, n_sample, n_jobs, seed=0):
    X, Yb, Yc = make_data(n, n_units, n_binary, n_continuous, seed)
    rng = np.random.default_rng(seed + 1)
    pairs_b, pairs_c = n_units * n_binary, n_units * n_continuous
    print(
        f"\n=== {n:,} characters, {n_units} units × {n_binary} binary + "
        f"{n_continuous} continuous features = {pairs_b + pairs_c:,} pairs, "
        f"{n_folds}-fold CV ==="
    )
    t_ols_fast, s_ols = timed_fit(X, Yc, n_folds, n_jobs)
    t_svm_fast, s_svm = timed_fit(X, Yb, n_folds, n_jobs)
    t_log_fast, s_log = timed_fit(X, Yb, n_folds, n_jobs, probe="logistic")
    t_all, _ = timed_fit(X, np.c_[Yb, Yc], n_folds, n_jobs)
    t_gemm, t_sort = floors(X, Yc)
    pc = sample_pairs(s_ols, n_sample, rng)
    pb = sample_pairs(s_svm, n_sample, rng)

    t_ols, naive_ols = naive(LinearRegression(), X, Yc, pc, n_folds)
    t_svm, naive_svm = naive(LinearSVC(), X, Yb, pb, n_folds)
    t_log, naive_log = naive(LogisticRegression(), X, Yb, pb, n_folds)
    _, tight_svm = naive(LinearSVC(tol=1e-10, max_iter=100_000), X, Yb, pb, n_folds)
    _, tight_log = naive(
        LogisticRegression(tol=1e-10, max_iter=10_000), X, Yb, pb, n_folds
    )
    naive_ols_total, naive_svm_total = t_ols * pairs_c, t_svm * pairs_b
    naive_log_total = t_log * pairs_b
    print(
        f"naive loop, timed on {n_sample} sampled pairs per probe and EXTRAPOLATED "
        "to all pairs:"
    )
    for name, t, total, count in (
        ("LinearRegression()", t_ols, naive_ols_total, pairs_c),
        ("LinearSVC()", t_svm, naive_svm_total, pairs_b),
        ("LogisticRegression()", t_log, naive_log_total, pairs_b),
    ):
        print(f"  {name:21s} {t:7.3f} s/pair → {total:9.0f} s for {count:,} pairs")
    print(f"NeuronProbeSearch, fast engines (n_jobs={n_jobs}), measured:")
    for name, t, total, count in (
        ("OLS (probe='auto')", t_ols_fast, naive_ols_total, pairs_c),
        ("SVM (probe='auto')", t_svm_fast, naive_svm_total, pairs_b),
        ("logistic (probe='logistic')", t_log_fast, naive_log_total, pairs_b),
        ("all pairs, one fit (auto)", t_all, naive_ols_total + naive_svm_total, None),
    ):
        what = f"{count:,} pairs" if count else f"{pairs_b + pairs_c:,} pairs"
        print(f"  {name:28s} {what:>12s}: {t:8.3f} s   speed-up {total / t:9,.0f}x")
    print(
        f"floors, same run: one X.T @ Y (f64, {n_continuous} features) {t_gemm:.3f} s; "
        f"argsort of all {n_units} unit columns {t_sort:.3f} s"
    )
    print(
        f"  OLS fit = {t_ols_fast / t_gemm:.1f}x one X.T @ Y; SVM fit = "
        f"{t_svm_fast / t_sort:.2f}x sorting all units; auto (all pairs) = "
        f"{t_all / t_sort:.2f}x sorting all units"
    )

    test_size = n / n_folds
    print(f"agreement, fast vs the naive loop on the sampled pairs × {n_folds} folds:")
    d_ols = np.abs(fold_scores(s_ols, pc) - naive_ols)
    print(f"  OLS R² per fold: max |fast − cross_val_score| = {d_ols.max():.2e}")
    fast_svm, fast_log = fold_scores(s_svm, pb), fold_scores(s_log, pb)
    compare("SVM accuracy vs LinearSVC()", fast_svm, naive_svm, test_size)
    compare("SVM accuracy vs LinearSVC(tol=1e-10)", fast_svm, tight_svm, test_size)
    compare("logistic vs LogisticRegression()", fast_log, naive_log, test_size)
    compare("logistic vs LogisticRegression(tol=1e-10)", fast_log, tight_log, test_size)
    informative = s_svm.scores_.to_numpy() - s_svm.chance_scores_.to_numpy()[:, None]
    print(f"  (binary pairs above chance + 0.01: {np.mean(informative > 0.01):.1%})")
    run_rank(X, Yb, n_folds, n_sample, n_jobs, rng)


def floors_only(n, n_units, n_binary, n_continuous, n_folds, n_jobs, seed=0):
    """The fast engines against the sort floor only (no naive loop)."""
    X, Yb, Yc = make_data(n, n_units, n_binary, n_continuous, seed)
    t_gemm, t_sort = floors(X, Yc)
    print(
        f"\n=== {n:,} characters, {n_units} units, {n_folds}-fold CV; CPU s; floors: "
        f"X.T @ Y {t_gemm:.3f} s, argsort of every unit {t_sort:.3f} s ==="
    )
    for label, Y, kw in (
        ("OLS (auto)", Yc, {}),
        ("SVM (auto)", Yb, {}),
        ("all pairs (auto)", np.c_[Yb, Yc], {}),
        ("balanced_accuracy", Yb, {"scoring": "balanced_accuracy"}),
        ("roc_auc", Yb, {"scoring": "roc_auc"}),
    ):
        t = min(timed_fit(X, Y, n_folds, n_jobs, **kw)[0] for _ in range(2))
        print(f"  {label:18s} {t:7.3f} s = {t / t_sort:5.2f}x the argsort floor")
    t_np, t_radix = sort_gather(X, Yb, n_folds)
    print(
        f"  sort + gather of every unit (SVM layout): np.argsort + gather "
        f"{t_np:.3f} s, radix sort + gather {t_radix:.3f} s = {t_np / t_radix:.2f}x "
        f"faster ({1e3 * t_radix / X.shape[1]:.2f} ms a unit)"
    )


def rank_only(n, n_units, n_binary, n_folds, n_sample, n_jobs, seed=0):
    X, Yb, _ = make_data(n, n_units, n_binary, 0, seed)
    print(f"\n=== {n:,} characters, {n_units} units, {n_folds}-fold CV ===")
    run_rank(X, Yb, n_folds, n_sample, n_jobs, np.random.default_rng(seed + 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (seconds)")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--sample", type=int, default=6, help="naive pairs per probe")
    parser.add_argument(
        "--rank-only",
        action="store_true",
        help="only the balanced-accuracy and ROC AUC engines (25 binary features)",
    )
    parser.add_argument(
        "--floors-only",
        action="store_true",
        help="only the fast engines against the argsort floor (no naive loop)",
    )
    parser.add_argument(
        "--argsort",
        action="store_true",
        help="the sorted engines sort by np.argsort (the reference path), not radix",
    )
    args = parser.parse_args()
    if args.argsort:
        from skdni.probing import _sorted

        _sorted.SORT = "argsort"
    import numba

    print("NeuronProbeSearch benchmark")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, numba "
        f"{numba.__version__}, cpus {os.cpu_count()} (shared with other jobs)"
    )
    print(
        "threads: "
        + ", ".join(
            f"{v}={os.environ.get(v)}"
            for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        )
        + f"; numba kernels single-threaded; worker processes n_jobs={args.n_jobs}"
    )
    # Compile (or load from cache) the numba kernels outside the timings.
    start = time.perf_counter()
    Xw, Ybw, Ycw = make_data(300, 4, 2, 2)
    for probe in ("auto", "logistic", "threshold"):
        NeuronProbeSearch(probe, cv=3).fit(Xw, np.c_[Ybw, Ycw])
    for scoring in RANK_REFERENCES:
        NeuronProbeSearch(cv=3, scoring=scoring).fit(Xw, Ybw)
    print(f"numba warm-up (compile or cache load): {time.perf_counter() - start:.1f} s")
    if args.floors_only:
        for n in (5_000,) if args.quick else (50_000, 200_000):
            floors_only(n, 16 if args.quick else 128, 25, 25, 20, args.n_jobs)
        return
    if args.rank_only:
        for n in (5_000,) if args.quick else (50_000, 200_000):
            rank_only(
                n,
                16 if args.quick else 128,
                5 if args.quick else 25,
                20,
                4 if args.quick else args.sample,
                args.n_jobs,
            )
        return
    if args.quick:
        run(5_000, 16, 5, 5, 20, 4, args.n_jobs)
        return
    for n in (50_000, 200_000):
        run(n, 128, 25, 25, 20, args.sample, args.n_jobs)


if __name__ == "__main__":
    main()
