"""The analyses beyond one unit against the naive per-pair scikit-learn loops.

At 200k characters (texts of 100–300 characters, 5-fold GroupKFold), one run:

* ``probe="svc"`` (the paper's ``SVC(kernel="linear")``): the fast engine on 16 units ×
  2 binary features against ``cross_val_score(SVC(kernel="linear"), ...)`` per pair.
  libsvm needs seconds per fit already at a few thousand rows, so the naive time is
  *one fit at 4k rows, scaled linearly* to 160k training rows × 5 folds (a lower
  bound: SMO is
  superlinear in the rows), printed as such.
* ``lag_profile``: 128 units × 21 lags × 10 features, against one OLS
  ``NeuronProbeSearch`` of the same size (goal: within 10x) and against the naive
  loop (``cross_val_score(LinearRegression())`` per (unit, lag, feature), timed on 3
  and extrapolated).
* ``localization_curve`` (LDA, ks 1…32, 5 and 20 random draws) and
  ``forward_selection`` (4 steps over 128 units), fast against the naive loops in CPU
  seconds: the exact path (one sklearn fit per k, fold and draw), and
  ``SequentialFeatureSelector``'s ``cross_val_score`` calls (one timed per step,
  extrapolated to all of them).
* ``condition="char"``: the conditional scores of 128 units × 10 features against
  the sklearn one-hot pipeline per pair (timed on 2 pairs, extrapolated).

Timings on a shared machine are noisy; threads pinned to 1.
Run: ``python benchmarks/bench_probe_analyses.py [all|svc|rest|loc]``.
"""

import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import warnings  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import GroupKFold, cross_val_score  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from skdni.probing import (  # noqa: E402
    NeuronProbeSearch,
    forward_selection,
    lag_profile,
    localization_curve,
)
from skdni.probing._conditional import (  # noqa: E402
    _reference_models,
    char_codes,
    conditional_fold_scores,
)
from skdni.probing._lags import _positions  # noqa: E402


def make_data(n=200_000, n_units=128, n_features=10, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(100, 300, size=n // 100)
    groups = np.repeat(np.arange(lengths.size), lengths)[:n]
    latent = rng.normal(size=(n, 4))
    Z = rng.normal(size=(n, n_units))
    Z[:, : 4 * 8] += np.repeat(latent, 8, axis=1) * 0.8
    X = np.tanh(Z)
    Y = np.empty((n, n_features))
    for f in range(n_features):
        v = latent[:, f % 4] + 0.5 * rng.normal(size=n)
        Y[:, f] = (v > 0.8).astype(float) if f % 2 == 0 else v
    chars = rng.integers(0, 60, size=n)
    return X, Y, groups, chars


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main(part):
    warnings.simplefilter("ignore")
    X, Y, groups, chars = make_data()
    n, p = X.shape
    splits = list(GroupKFold(5).split(X, None, groups))
    print(f"rows {n}, units {p}, features {Y.shape[1]}, 5-fold GroupKFold; threads 1")
    print("timings are noisy (shared machine)\n")

    if part in ("all", "svc"):
        svc_part(X, Y, groups)
    if part in ("all", "rest", "loc"):
        rest_part(X, Y, groups, chars, splits, part)


def svc_part(X, Y, groups):
    n = X.shape[0]
    yb = Y[:, [0, 2]]
    NeuronProbeSearch("svc", cv=5).fit(X[:2000, :2], yb[:2000], groups[:2000])
    fast, t_fast = timed(NeuronProbeSearch("svc", cv=5).fit, X[:, :16], yb, groups)
    m = 4000
    _, t_one = timed(SVC(kernel="linear").fit, X[:m, :1], yb[:m, 0])
    naive_pair = t_one * (n * 0.8 / m) * 5
    print(
        f"svc engine: {t_fast:.2f} s for 32 pairs ({t_fast / 32 * 1e3:.1f} ms/pair); "
        f"naive SVC one fit at {m} rows {t_one:.2f} s -> >= {naive_pair:.0f} s/pair "
        f"at 200k x 5 folds (linear lower bound); speed-up >= "
        f"{naive_pair / (t_fast / 32):.0f}x"
    )


def rest_part(X, Y, groups, chars, splits, part):
    n, p = X.shape
    if part != "loc":
        lag_part(X, Y, groups, splits)
    loc_part(X, Y, groups, splits)
    if part != "loc":
        cond_part(X, Y, chars, splits)


def lag_part(X, Y, groups, splits):
    n, p = X.shape
    lag_profile(X[:3000, :2], Y[:3000], groups[:3000], lags=range(-2, 3))
    _, t_ols = timed(NeuronProbeSearch("ols", cv=5).fit, X, Y, groups)
    prof, t_lag = timed(lag_profile, X, Y, groups, lags=range(-10, 11))
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    pos, length = _positions(starts, np.diff(np.r_[starts, n]))
    t_naive = 0.0
    for j, lag, f in [(0, -3, 1), (5, 4, 2), (40, 0, 7)]:
        # What a user writes: drop rows without a partner, then cross_val_score.
        t0 = time.perf_counter()
        keep = np.flatnonzero((pos + lag >= 0) & (pos + lag < length))
        fold_of = np.empty(n, dtype=np.int64)
        for k, (_, te) in enumerate(splits):
            fold_of[te] = k
        sub = [
            (np.flatnonzero(fold_of[keep] != k), np.flatnonzero(fold_of[keep] == k))
            for k in range(5)
        ]
        cross_val_score(
            LinearRegression(), X[keep + lag, j : j + 1], Y[keep, f], cv=sub
        )
        t_naive += (time.perf_counter() - t0) / 3
    n_triples = p * 21 * Y.shape[1]
    print(
        f"lag_profile 128 units x 21 lags x 10 features: {t_lag:.2f} s; one OLS "
        f"search of the same size {t_ols:.2f} s -> {t_lag / t_ols:.1f}x the search "
        f"(goal <= 10x); naive {t_naive * 1e3:.0f} ms per (unit, lag, feature) x "
        f"{n_triples} = {t_naive * n_triples:.0f} s -> "
        f"{t_naive * n_triples / t_lag:.0f}x"
    )


def cpu_timed(fn, *args, **kwargs):
    """``(result, CPU seconds)``: the machine is shared, so ratios use process time
    for both sides."""
    t = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - t


def loc_part(X, Y, groups, splits):
    p = X.shape[1]
    y0 = Y[:, 0]
    ranking = np.argsort(-np.abs(np.corrcoef(X.T, y0)[-1, :-1]))
    for n_random in (5, 20):  # 20 is the function's default
        kw = dict(
            ks=(1, 2, 4, 8, 16, 32), groups=groups, n_random=n_random, random_state=0
        )
        curve, t_fast = cpu_timed(localization_curve, X, y0, ranking, **kw)
        curve_exact, t_exact = cpu_timed(
            localization_curve, X, y0, ranking, method="exact", **kw
        )
        same = np.allclose(
            curve.select_dtypes("number"),
            curve_exact.select_dtypes("number"),
            atol=1e-9,
        )
        n_fits = 5 * (1 + 6 * (1 + n_random + 1))  # whole + ks x (top, draws, means)
        print(
            f"localization_curve (LDA, 6 ks, {n_random} random draws; CPU s): fast "
            f"{t_fast:.2f} s, exact (the naive loop: one sklearn fit per k, fold and "
            f"draw, {n_fits} fits) {t_exact:.1f} s -> {t_exact / t_fast:.0f}x; same "
            f"table: {same}"
        )
    sel, t_fast = cpu_timed(forward_selection, X, y0, 4, cv=splits)
    # SequentialFeatureSelector's cost: a cross_val_score per candidate and step;
    # timed on a few candidates (their fit cost grows with the step's size) and
    # extrapolated linearly in the number of fits.
    n_fits, t_naive = 0, 0.0
    for step in range(4):
        _, t_fit = cpu_timed(
            cross_val_score,
            LinearDiscriminantAnalysis(solver="lsqr"),
            X[:, : step + 1],
            y0,
            cv=splits,
        )
        t_naive += t_fit * (p - step)
        n_fits += p - step
    print(
        f"forward_selection 4 steps over 128 units (CPU s): fast {t_fast:.2f} s; "
        f"naive SequentialFeatureSelector {n_fits} cross_val_score calls, one timed "
        f"per step and EXTRAPOLATED: {t_naive:.0f} s -> {t_naive / t_fast:.0f}x "
        f"(units {sel.unit.tolist()})"
    )


def cond_part(X, Y, chars, splits):
    p = X.shape[1]
    codes = char_codes(chars)
    _, t_fast = timed(conditional_fold_scores, X, Y, codes, splits)
    t_pair = 0.0
    for j, f in [(0, 1), (9, 3)]:
        Z = np.c_[codes, X[:, j]].astype(np.float64)
        _, t = timed(cross_val_score, _reference_models(), Z, Y[:, f], cv=splits)
        t_pair += t / 2
    t_base = timed(
        cross_val_score,
        _reference_models(),
        codes[:, None].astype(float),
        Y[:, 1],
        cv=splits,
    )[1]
    naive = t_pair * p * Y.shape[1] + t_base * Y.shape[1]
    print(
        f"condition='char' 128 units x 10 features: fast {t_fast:.2f} s; naive "
        f"{t_pair:.2f} s per pair -> {naive:.0f} s -> {naive / t_fast:.0f}x"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "all")
