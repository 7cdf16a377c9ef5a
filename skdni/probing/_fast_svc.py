"""Exact 1-D solver of the paper's probe, ``SVC(kernel="linear", C=1)``.

Objective. libsvm's C-SVC with a linear kernel minimises, over a slope w and an
intercept b that is *not* regularised,

    F(w, b) = ½ w² + C Σᵢ max(0, 1 − yᵢ (w xᵢ + b)),     yᵢ ∈ {−1, +1},

(+1 for ``classes_[1]``; C = 1 as in the paper; the hinge is not squared as in
``LinearSVC``). F is convex and piecewise quadratic; on a fixed set of points
inside the margin it is a quadratic in w and linear in b, so the minimiser lies
where the subgradient set in w
contains 0, with b at a kink of the hinge sum.

Algorithm. Write the decision in orientation s = sign(w) and put t = (1 − b) / |w|:
a positive is inside the margin when s·x < t, a negative when s·x > u = t − δ with
δ = 2 / |w|. For a fixed |w|,

* *the best b* minimises the convex hinge sum in t, whose slope right of t is
  φ(t) = #{positives with s·x ≤ t} − #{negatives with s·x > t − δ}, nondecreasing. The
  minimiser t* is the first breakpoint (a positive's s·x, or a negative's s·x + δ)
  with φ ≥ 0, found by two binary searches over the class-sorted values, each step
  counting with a binary search in the unit's class prefix sums (all rows minus the
  held-out fold's own rows: no copy per fold). When φ(t*) = 0 the hinge sum is flat
  up to the next breakpoint and libsvm, having no free support vector, takes the
  middle of that interval: so does this solver.
* *the derivative in |w|* is then g'(w) = w − C [S₊ − S₋ − (P − N) x_m]: S₊, P the
  sum and count of s·x over positives strictly inside the margin, S₋, N the same for
  negatives, and x_m the position of the point on the margin, whose dual weight
  balances Σ αᵢ yᵢ = 0 (all from the same prefix sums).
* g(w) = min_b F is convex in w, so bisection on the sign of g' over the *bit
  patterns* of positive floats (≤ 64 halvings, from ε to the bound
  C·n·(max x − min x) + 1, above which g' > 0) ends on two adjacent floats: the
  minimiser up to one unit in the last place. The orientation s is the one whose
  g'(ε) is negative (both cannot be, g being convex); neither: w = 0.

Each fit is O(64 · log² n) after one sort per unit and one O(n) pass per feature;
libsvm's SMO needs O(n) per iteration and many iterations (seconds per fit at 10k
rows). libsvm stops at ``tol=1e-3``, so its (w, b) are near, not at, this minimiser:
held-out predictions differ only for test rows between the two thresholds.

Degenerate cases. A training fold with one class predicts that class (the exact
path's ``DummyClassifier(strategy="most_frequent")``; ``SVC`` refuses one class).
w = 0 (no orientation lowers F): b = +1 if positives outnumber negatives, −1 if
fewer, 0 if as many (libsvm's middle of the flat interval [−1, 1]); then every row
gets the sign of b (b = 0: ``classes_[0]``). A fold without labelled held-out or
training rows scores NaN. Slopes below ε = 1e-10 / max|x| count as 0.

Held-out predictions use sklearn's rule ``x * w + b > 0`` → ``classes_[1]``
(libsvm evaluates ``Σ αᵢ yᵢ xᵢ x − ρ``, equal up to rounding).
"""

import numpy as np

from .._numba import helper, kernel
from ._fast_svm import _first_positive, _last_positive, search_sorted

__all__ = ["svc_fit_1d", "svc_fold_scores", "svc_unit_scores"]

# Half-open runs: a[lo:hi] sorted ascending; c is the cumulative sum over the whole
# concatenated array with a leading 0, so Σ a[lo:i] = c[i] − c[lo].


@helper
def _below(a, c, lo, hi, v, inclusive):
    """Count and sum of a[lo:hi] below v (``< v``, or ``≤ v`` if inclusive)."""
    i = search_sorted(a[lo:hi], v, inclusive)
    return float(i), c[lo + i] - c[lo]


@helper
def _train_below(D, cls, k, v, inclusive):
    """Count and sum of the training rows of class ``cls`` below v: all rows minus
    fold k's (k = −1: all rows are training rows)."""
    if cls == 1:
        a, c, fa, fc, fo = D[0], D[1], D[4], D[5], D[6]
    else:
        a, c, fa, fc, fo = D[2], D[3], D[7], D[8], D[9]
    n, s = _below(a, c, 0, a.size, v, inclusive)
    if k >= 0:
        n2, s2 = _below(fa, fc, fo[k], fo[k + 1], v, inclusive)
        n -= n2
        s -= s2
    return n, s


@helper
def _train_total(D, cls, k):
    if cls == 1:
        a, c, fc, fo = D[0], D[1], D[5], D[6]
    else:
        a, c, fc, fo = D[2], D[3], D[8], D[9]
    n, s = float(a.size), c[a.size]
    if k >= 0:
        n -= fo[k + 1] - fo[k]
        s -= fc[fo[k + 1]] - fc[fo[k]]
    return n, s


@helper
def _pos_in(D, k, s, t, inclusive):
    """Training positives with s·x < t (≤ if inclusive): count, Σ s·x."""
    if s > 0:
        return _train_below(D, 1, k, t, inclusive)
    n_all, s_all = _train_total(D, 1, k)
    n, sm = _train_below(D, 1, k, -t, not inclusive)  # x > −t (≥ if inclusive)
    return n_all - n, -(s_all - sm)


@helper
def _neg_in(D, k, s, u, inclusive):
    """Training negatives with s·x > u (≥ if inclusive): count, Σ s·x."""
    if s > 0:
        n_all, s_all = _train_total(D, 0, k)
        n, sm = _train_below(D, 0, k, u, not inclusive)
        return n_all - n, s_all - sm
    n, sm = _train_below(D, 0, k, -u, inclusive)  # x < −u (≤ if inclusive)
    return n, -sm


@helper
def _phi(D, k, s, t, u):
    """Slope of the hinge sum right of the breakpoint (t, u = t − δ)."""
    return _pos_in(D, k, s, t, True)[0] - _neg_in(D, k, s, u, False)[0]


@helper
def _first_breakpoint(D, k, s, delta, cls, strict):
    """The first candidate breakpoint of class ``cls`` (among all rows' values, a
    superset of the training rows') with φ ≥ 0 (> 0 if strict): (t, u), or inf."""
    a = D[0] if cls == 1 else D[2]
    m = a.size
    lo, hi = 0, m
    while lo < hi:
        mid = (lo + hi) // 2
        v = a[mid] if s > 0 else -a[m - 1 - mid]
        if cls == 1:
            t, u = v, v - delta
        else:
            t, u = v + delta, v
        f = _phi(D, k, s, t, u)
        if f > 0 or (f == 0 and not strict):
            hi = mid
        else:
            lo = mid + 1
    if lo == m:
        return np.inf, np.inf
    v = a[lo] if s > 0 else -a[m - 1 - lo]
    if cls == 1:
        return v, v - delta
    return v + delta, v


@helper
def _best_b(D, k, s, w):
    """For slope |w| = w in orientation s: the optimal breakpoint (t, u), whether the
    hinge sum is flat there, and the derivative g'(w)."""
    delta = 2.0 / w
    tp, up = _first_breakpoint(D, k, s, delta, 1, False)
    tn, un = _first_breakpoint(D, k, s, delta, 0, False)
    t, u = (tp, up) if tp <= tn else (tn, un)
    flat = _phi(D, k, s, t, u) == 0
    if flat:
        tp2, up2 = _first_breakpoint(D, k, s, delta, 1, True)
        tn2, un2 = _first_breakpoint(D, k, s, delta, 0, True)
        t2, u2 = (tp2, up2) if tp2 <= tn2 else (tn2, un2)
        if np.isfinite(t2):
            t, u = 0.5 * (t + t2), 0.5 * (u + u2)
    p_in, s_p = _pos_in(D, k, s, t, False)
    n_in, s_n = _neg_in(D, k, s, u, False)
    x_m = 0.0
    if not flat:
        on_pos = _pos_in(D, k, s, t, True)[0] - p_in
        x_m = t if on_pos > 0 else u
    grad = w - (s_p - s_n - (p_in - n_in) * x_m)
    return t, u, flat, grad


@helper
def _f2i(x):
    return np.array([x]).view(np.int64)[0]


@helper
def _i2f(i):
    return np.array([i]).view(np.float64)[0]


@helper
def svc_fit(D, k, scale):
    """(w, b) of ``SVC(kernel="linear", C=1)`` on the training rows of fold k (k = −1:
    all rows). Both classes must have training rows."""
    lo_x = min(D[0][0], D[2][0])
    hi_x = max(D[0][D[0].size - 1], D[2][D[2].size - 1])
    eps = 1e-10 / max(scale, 1e-300)
    n_train = _train_total(D, 1, k)[0] + _train_total(D, 0, k)[0]
    for s in (1, -1):
        if _best_b(D, k, s, eps)[3] < 0:
            # g'(eps) < 0 <= g'(hi): bisect the bit patterns of positive floats,
            # whose integer order is their numeric order, down to adjacent floats.
            lo, hi = _f2i(eps), _f2i(n_train * (hi_x - lo_x) + 1.0)
            while hi - lo > 1:
                mid = lo + (hi - lo) // 2
                if _best_b(D, k, s, _i2f(mid))[3] >= 0:
                    hi = mid
                else:
                    lo = mid
            w = _i2f(hi)
            t = _best_b(D, k, s, w)[0]
            return s * w, 1.0 - w * t
    n_pos = _train_total(D, 1, k)[0]
    n_neg = _train_total(D, 0, k)[0]
    if n_pos > n_neg:
        return 0.0, 1.0
    if n_pos < n_neg:
        return 0.0, -1.0
    return 0.0, 0.0


@helper
def _n_predicted_positive(a, lo, hi, w, b):
    """How many of ascending a[lo:hi] get ``x * w + b > 0``."""
    if w > 0:
        return hi - lo - _first_positive(a[lo:hi], w, b)
    if w < 0:
        return _last_positive(a[lo:hi], w, b)
    return (hi - lo) if b > 0 else 0


@helper
def _class_runs(xs, codes, fs, n_folds):
    """From one unit's sorted values: the sorted values of each class over all rows
    and split by fold (stable), with cumulative sums. Returns the tuple D."""
    n_pos = 0
    n_neg = 0
    fp = np.zeros(n_folds + 1, dtype=np.int64)
    fn = np.zeros(n_folds + 1, dtype=np.int64)
    for i in range(xs.size):
        v = codes[i]
        if v == 1:
            n_pos += 1
            fp[fs[i] + 1] += 1
        elif v == 0:
            n_neg += 1
            fn[fs[i] + 1] += 1
    for f in range(n_folds):
        fp[f + 1] += fp[f]
        fn[f + 1] += fn[f]
    pa = np.empty(n_pos)
    na = np.empty(n_neg)
    fpa = np.empty(n_pos)
    fna = np.empty(n_neg)
    fill_p = fp[:-1].copy()
    fill_n = fn[:-1].copy()
    ip = 0
    ineg = 0
    for i in range(xs.size):
        v = codes[i]
        if v == 1:
            pa[ip] = xs[i]
            ip += 1
            fpa[fill_p[fs[i]]] = xs[i]
            fill_p[fs[i]] += 1
        elif v == 0:
            na[ineg] = xs[i]
            ineg += 1
            fna[fill_n[fs[i]]] = xs[i]
            fill_n[fs[i]] += 1
    return (
        pa,
        _cumsum0(pa),
        na,
        _cumsum0(na),
        fpa,
        _cumsum0(fpa),
        fp,
        fna,
        _cumsum0(fna),
        fn,
    )


@helper
def _cumsum0(a):
    c = np.zeros(a.size + 1)
    for i in range(a.size):
        c[i + 1] = c[i] + a[i]
    return c


@helper
def _fold_accuracies(D, n_folds, scale):
    """Held-out accuracy of the exact SVC fit of every fold, shape (n_folds,)."""
    out = np.full(n_folds, np.nan)
    fpa, fp, fna, fn = D[4], D[6], D[7], D[9]
    for k in range(n_folds):
        t_pos = fp[k + 1] - fp[k]
        t_neg = fn[k + 1] - fn[k]
        tr_pos = _train_total(D, 1, k)[0]
        tr_neg = _train_total(D, 0, k)[0]
        if t_pos + t_neg == 0 or tr_pos + tr_neg == 0:
            continue
        if tr_pos == 0 or tr_neg == 0:
            # One class to train on: predict it (the exact path's dummy).
            out[k] = (t_pos if tr_pos > 0 else t_neg) / (t_pos + t_neg)
            continue
        w, b = svc_fit(D, k, scale)
        correct = _n_predicted_positive(fpa, fp[k], fp[k + 1], w, b)
        correct += t_neg - _n_predicted_positive(fna, fn[k], fn[k + 1], w, b)
        out[k] = correct / (t_pos + t_neg)
    return out


@kernel
def svc_fold_scores(x, codes, fold_id, n_folds):
    """Held-out accuracy of ``SVC(kernel="linear")`` on one column, per fold.

    Parameters
    ----------
    x : ndarray of shape (n,)
        The unit's activations.
    codes : ndarray of int8, shape (n,)
        1 for ``classes_[1]``, 0 for ``classes_[0]``, −1 for an unlabelled row.
    fold_id : ndarray of int, shape (n,)
        The held-out fold of every row (0 … n_folds − 1).
    n_folds : int

    Returns
    -------
    ndarray of shape (n_folds,)
        Fold accuracies, NaN for a fold with nothing to score.
    """
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    D = _class_runs(xs, codes[order], fold_id[order], n_folds)
    scale = max(abs(xs[0]), abs(xs[-1])) if xs.size else 1.0
    return _fold_accuracies(D, n_folds, scale)


@kernel
def svc_unit_scores(X, codes, fold_id, n_folds):
    """Held-out accuracy of ``SVC(kernel="linear")`` for every (feature, unit, fold).

    Parameters
    ----------
    X : ndarray of shape (n, p)
    codes : ndarray of int8, shape (q, n)
        Per feature, as in :func:`svc_fold_scores`.
    fold_id : ndarray of int, shape (n,)
    n_folds : int

    Returns
    -------
    ndarray of shape (q, p, n_folds)
    """
    n, p = X.shape
    q = codes.shape[0]
    out = np.full((q, p, n_folds), np.nan)
    for j in range(p):
        x = np.ascontiguousarray(X[:, j])
        order = np.argsort(x, kind="mergesort")  # one sort per unit, all features
        xs = x[order]
        fs = fold_id[order]
        scale = max(abs(xs[0]), abs(xs[-1])) if n else 1.0
        for f in range(q):
            D = _class_runs(xs, codes[f][order], fs, n_folds)
            out[f, j] = _fold_accuracies(D, n_folds, scale)
    return out


def svc_fit_1d(x, codes):
    """(w, b) of ``SVC(kernel="linear", C=1)`` fitted on every labelled row of x.

    Parameters
    ----------
    x : ndarray of shape (n,)
    codes : ndarray of int8, shape (n,)
        1 / 0 / −1 (unlabelled) as in :func:`svc_fold_scores`; both classes present.

    Returns
    -------
    w, b : float
        ``x * w + b > 0`` predicts ``classes_[1]``.
    """
    # NumPy's stable sort: the order numba's mergesort gives, without compiling it
    order = np.argsort(x, kind="stable")
    return _svc_fit_sorted(x[order], codes[order])


@kernel
def _svc_fit_sorted(xs, codes):
    """:func:`svc_fit_1d` on ascending ``xs`` and their codes."""
    fs = np.zeros(xs.size, dtype=np.int8)  # the fold ids' dtype: one compilation
    D = _class_runs(xs, codes, fs, 1)
    scale = max(abs(xs[0]), abs(xs[-1])) if xs.size else 1.0
    return svc_fit(D, -1, scale)


@kernel
def svc_sorted_scores(xs, fs, cs, xf, cf, fold_off, n_folds):
    """The sorted-engine kernel (``skdni.probing._sorted``): held-out accuracy of
    ``SVC(kernel="linear")`` of one unit for every feature and fold, shape
    (q, n_folds). ``xs``, ``fs``, ``cs`` are the unit's sorted values, their folds and
    label codes; ``xf``, ``cf``, ``fold_off`` are unused (the class runs are built
    from the sorted order)."""
    q = cs.shape[0]
    out = np.full((q, n_folds), np.nan)
    if xs.size == 0:
        return out
    scale = max(abs(xs[0]), abs(xs[-1]))
    for f in range(q):
        D = _class_runs(xs, cs[f], fs, n_folds)
        acc = _fold_accuracies(D, n_folds, scale)
        for k in range(n_folds):  # a loop: out[f] = acc compiles much more
            out[f, k] = acc[k]
    return out
