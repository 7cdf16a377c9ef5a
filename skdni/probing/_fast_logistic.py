"""1-D ``LogisticRegression()`` per fold: L2 on the slope, C = 1, free intercept.

Minimises ``½w² + Σ log(1 + exp(−yᵢ(w xᵢ + b)))`` by Newton's method. The log-loss
is smooth, so every row enters the gradient; to keep the cost independent of the
fold count, each unit's sorted column is cut into ``n_bins`` equal-count bins and
every sum over a bin is expanded to second order around the bin's mean activation,
from the bin's per-fold moments (count, Σd, Σd², Σd³ and the positives' count and
Σd, d = x − centre): global minus the fold's own. Held-out predictions use sklearn's
arithmetic, ``x * w + b > 0`` → ``classes_[1]``. This is an approximation of the
exact minimiser (the binned expansion moves the decision threshold by far less than
the gap between neighbouring activations on all but a few folds); the agreement test
measures it. A training fold with a single class predicts that class, as the exact
path does.
"""

import numpy as np

from .._numba import helper, kernel

__all__ = ["logistic_unit_scores"]


@helper
def _sigmoid(u):
    if u >= 0:
        return 1.0 / (1.0 + np.exp(-u))
    e = np.exp(u)
    return e / (1.0 + e)


@helper
def _gradient(tr, centres, w, b):
    gw, gb = w, 0.0
    hww, hwb, hbb = 1.0, 0.0, 0.0
    for r in range(centres.size):
        cnt = tr[r, 0]
        if cnt == 0:
            continue
        c = centres[r]
        s1, s2, s3, npos, s1p = tr[r, 1], tr[r, 2], tr[r, 3], tr[r, 4], tr[r, 5]
        sig = _sigmoid(w * c + b)
        psi = sig * (1.0 - sig)
        curv = 0.5 * psi * (1.0 - 2.0 * sig) * w * w
        gw += sig * (cnt * c + s1) - (npos * c + s1p)
        gw += psi * w * (c * s1 + s2) + curv * (c * s2 + s3)
        gb += sig * cnt - npos + psi * w * s1 + curv * s2
        hww += psi * (cnt * c * c + 2.0 * c * s1 + s2)
        hwb += psi * (cnt * c + s1)
        hbb += psi * cnt
    return gw, gb, hww, hwb, hbb


@helper
def solve_logistic(tr, centres, w, b, max_iter=100):
    """Newton's method with step halving on the gradient norm."""
    gw, gb, hww, hwb, hbb = _gradient(tr, centres, w, b)
    for _ in range(max_iter):
        det = hww * hbb - hwb * hwb
        dw = (hbb * gw - hwb * gb) / det
        db = (hww * gb - hwb * gw) / det
        norm = gw * gw + gb * gb
        step = 1.0
        for _ in range(40):
            nw, nb = w - step * dw, b - step * db
            g2 = _gradient(tr, centres, nw, nb)
            if g2[0] * g2[0] + g2[1] * g2[1] < norm or step < 1e-9:
                break
            step *= 0.5
        w, b = nw, nb
        gw, gb, hww, hwb, hbb = g2
        if abs(step * dw) <= 1e-13 * (1.0 + abs(w)) and abs(step * db) <= 1e-13 * (
            1.0 + abs(b)
        ):
            break
    return w, b


@kernel
def logistic_unit_scores(xs, fs, cs, xf, cf, fold_off, n_folds, n_bins):
    """Held-out accuracy of the 1-D logistic probe, shape (q, n_folds)."""
    q, n = cs.shape
    n_bins = max(1, min(n_bins, n))
    bins = np.empty(n, dtype=np.int64)
    centres = np.empty(n_bins)
    counts = np.empty(n_bins)
    centres[:] = 0.0
    counts[:] = 0.0
    for i in range(n):
        r = (i * n_bins) // n
        bins[i] = r
        centres[r] += xs[i]
        counts[r] += 1.0
    for r in range(n_bins):
        centres[r] /= counts[r]
    out = np.empty((q, n_folds))
    out[:, :] = np.nan
    stats = np.empty((n_folds, n_bins, 6))
    total = np.empty((n_bins, 6))
    for j in range(q):
        codes = cs[j]
        stats[:] = 0.0
        for i in range(n):
            v = codes[i]
            if v < 0:
                continue
            r = bins[i]
            f = fs[i]
            d = xs[i] - centres[r]
            d2 = d * d
            stats[f, r, 0] += 1.0
            stats[f, r, 1] += d
            stats[f, r, 2] += d2
            stats[f, r, 3] += d2 * d
            if v == 1:
                stats[f, r, 4] += 1.0
                stats[f, r, 5] += d
        total[:] = 0.0
        for k in range(n_folds):
            total += stats[k]
        n_all = total[:, 0].sum()
        p_all = total[:, 4].sum()
        w0, b0 = 0.0, 0.0
        if 0 < p_all < n_all:
            b0 = np.log(p_all / (n_all - p_all))
            w0, b0 = solve_logistic(total, centres, 0.0, b0)
        for k in range(n_folds):
            tr = total - stats[k]
            n_tr = tr[:, 0].sum()
            p_tr = tr[:, 4].sum()
            t_all = stats[k, :, 0].sum()
            t_pos = stats[k, :, 4].sum()
            if t_all == 0 or n_tr == 0:
                continue
            if p_tr == 0 or p_tr == n_tr:
                out[j, k] = (t_pos if p_tr > 0 else t_all - t_pos) / t_all
                continue
            w, b = solve_logistic(tr, centres, w0, b0)
            correct = 0
            for s in range(fold_off[k], fold_off[k + 1]):
                v = cf[j, s]
                if v >= 0 and (xf[s] * w + b > 0) == (v == 1):
                    correct += 1
            out[j, k] = correct / t_all
    return out
