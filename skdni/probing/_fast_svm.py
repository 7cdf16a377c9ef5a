"""Exact 1-D solver of ``LinearSVC()``'s problem for every (unit, feature, fold).

liblinear minimises ``F(w, b) = ½(w² + b²) + C Σ max(0, 1 − yᵢ(w xᵢ + b))²`` with C
= 1 and the intercept as a regularised extra column of ones
(``intercept_scaling=1``), yᵢ ∈ {−1, +1} with +1 for ``classes_[1]``. F is a
strictly convex piecewise quadratic. Its active set (rows with margin < 1) is a
prefix of one class and a suffix of the other in the unit's sorted order, so every
sum over it is a binary search into the unit's prefix sums minus the same search in
the fold's own sorted rows (two passes build both, for 16 features at once:
:func:`build_prefix_block`). On a fixed active set the
minimiser solves a 2×2 system; the finite Newton method (Mangasarian 2002) iterates
that solve with an Armijo line search and stops when the active set of the solution
is the one it was solved for: then the gradient is exactly zero and the solution is
the exact minimiser (liblinear, at ``tol=1e-4``, stops near it). Each fold starts
from the all-data solution.

Held-out predictions use sklearn's arithmetic, ``x * w + b > 0`` → ``classes_[1]``.
A training fold with a single class predicts that class (what the exact path's
``DummyClassifier(strategy="most_frequent")`` does, as ``LinearSVC`` cannot fit it).
"""

import numpy as np

from .._numba import helper, kernel

__all__ = [
    "FEATURE_BLOCK",
    "build_prefix_block",
    "class_weights",
    "pack_codes",
    "svm_feature",
    "svm_fit_1d",
    "svm_fold_fits",
    "svm_block",
    "svm_layout",
    "svm_unit_scores",
    "unpack_block",
]


# Prefix sums are kept every _BLOCK rows only (a full table per feature would not stay
# in cache); a query adds the few rows between its checkpoint and its position.
_BLOCK = 32
# Features whose prefix sums one pass over a sorted unit builds together: their label
# codes travel as one uint32 per row (bit jj: class 1, bit 16 + jj: class 0).
FEATURE_BLOCK = 16


@helper
def _n_checkpoints(n):
    return (n + _BLOCK - 1) // _BLOCK + 1


@helper
def fold_layout(fs, fold_off):
    """Where each sorted row goes when the sorted order is split by fold (stable), and
    where each fold's checkpoint rows start."""
    n_folds = fold_off.size - 1
    fill = fold_off[:-1].copy()
    fpos = np.empty(fs.size, dtype=np.int64)
    for i in range(fs.size):
        fpos[i] = fill[fs[i]]
        fill[fs[i]] += 1
    cp_off = np.empty(n_folds + 1, dtype=np.int64)
    cp_off[:] = 0
    for k in range(n_folds):
        cp_off[k + 1] = cp_off[k] + _n_checkpoints(fold_off[k + 1] - fold_off[k])
    return fpos, cp_off


def pack_codes(codes):
    """Label codes (n, q) int8 (1, 0, -1 unlabelled) packed per row and block of
    ``FEATURE_BLOCK`` features, shape (n, ceil(q / FEATURE_BLOCK)) uint32: bit jj
    is set where feature jj of the block is class 1, bit 16 + jj where class 0."""
    n, q = codes.shape
    n_blocks = -(-q // FEATURE_BLOCK)
    out = np.zeros((n, n_blocks), dtype=np.uint32)
    for j in range(q):
        b, jj = divmod(j, FEATURE_BLOCK)
        out[:, b] |= (codes[:, j] == 1).astype(np.uint32) << np.uint32(jj)
        out[:, b] |= (codes[:, j] == 0).astype(np.uint32) << np.uint32(16 + jj)
    return out


@kernel
def unpack_block(words, blk, cb):
    """Column ``blk`` of packed codes (see :func:`pack_codes`) as int8 codes in
    ``cb``, shape (n, FEATURE_BLOCK)."""
    for i in range(words.shape[0]):
        w = words[i, blk]
        for jj in range(FEATURE_BLOCK):
            pos = (w >> jj) & 1
            neg = (w >> (16 + jj)) & 1
            cb[i, jj] = np.int8(pos) - np.int8(1 - pos - neg)


@kernel
def _store_block(out, r, acc):
    for jj in range(acc.shape[1]):
        for c in range(6):
            out[jj, r, c] = acc[c, jj]


@kernel
def build_prefix_block(xs, cb, fpos, xfs, fold_off, cp_off, block, mw):
    """Two passes over a sorted unit for a block of features at once (``cb``: their
    sorted label codes, shape (n, nb), one row per sorted row).

    Fills ``block``: the labels in fold-split sorted order (``fcodes``, (n, nb));
    per feature, checkpointed (count, Σx, Σx²) of class 1 then class 0 over all rows
    (``prefix``) and within each fold (``fprefix``); and, if ``mw``, per fold and
    feature the Mann-Whitney count of the fold's labelled rows ordered by x
    (``fmw``: for every positive, the negatives with a smaller x plus half those
    with an equal x), the ROC AUC's numerator for any slope that keeps distinct
    activations distinct.

    Every sum adds the same terms in the same order as a pass per feature would (a
    term times 1.0 or 0.0), so the results are those of one feature at a time; the
    features of a block share the row reads and vectorise.
    """
    fcodes, prefix, fprefix, fmw = block
    nb = cb.shape[1]
    acc = np.empty((6, nb))
    acc[:, :] = 0.0
    for i in range(xs.size):
        if i % _BLOCK == 0:
            _store_block(prefix, i // _BLOCK, acc)
        p = fpos[i]
        for jj in range(nb):
            fcodes[p, jj] = cb[i, jj]
        x = xs[i]
        x2 = x * x
        for jj in range(nb):
            v = cb[i, jj]
            m1 = np.float64(v == 1)
            m0 = np.float64(v == 0)
            acc[0, jj] += m1
            acc[1, jj] += m1 * x
            acc[2, jj] += m1 * x2
            acc[3, jj] += m0
            acc[4, jj] += m0 * x
            acc[5, jj] += m0 * x2
    _store_block(prefix, prefix.shape[1] - 1, acc)
    # Each fold's rows are one run of the fold-split order (in ascending x).
    start = np.empty((2, nb))
    start[:, :] = 0.0  # class counts where the current run of equal x began
    for k in range(fold_off.size - 1):
        lo, hi = fold_off[k], fold_off[k + 1]
        acc[:, :] = 0.0
        fmw[k, :] = 0.0
        last = np.nan
        for p in range(lo, hi):
            if (p - lo) % _BLOCK == 0:
                _store_block(fprefix, cp_off[k] + (p - lo) // _BLOCK, acc)
            x = xfs[p]
            if mw:
                if x != last:
                    last = x
                    for jj in range(nb):
                        start[0, jj] = acc[0, jj]
                        start[1, jj] = acc[3, jj]
                for jj in range(nb):
                    v = fcodes[p, jj]
                    m1 = np.float64(v == 1)
                    m0 = np.float64(v == 0)
                    # a positive: the negatives below its run and half those in it
                    # so far; a negative: half the positives in its run so far
                    below, run_neg = start[1, jj], acc[3, jj] - start[1, jj]
                    fmw[k, jj] += m1 * (below + 0.5 * run_neg)
                    fmw[k, jj] += m0 * (0.5 * (acc[0, jj] - start[0, jj]))
            x2 = x * x
            for jj in range(nb):
                v = fcodes[p, jj]
                m1 = np.float64(v == 1)
                m0 = np.float64(v == 0)
                acc[0, jj] += m1
                acc[1, jj] += m1 * x
                acc[2, jj] += m1 * x2
                acc[3, jj] += m0
                acc[4, jj] += m0 * x
                acc[5, jj] += m0 * x2
        _store_block(fprefix, cp_off[k + 1] - 1, acc)


@helper
def _prefix_at(xs, codes, cp, i, cls):
    """(count, Σx, Σx²) of class ``cls`` over the first i rows of a sorted run."""
    if i == xs.size:
        r = cp.shape[0] - 1
        start = i
    else:
        r = i // _BLOCK
        start = r * _BLOCK
    c = 0 if cls == 1 else 3
    a0, a1, a2 = cp[r, c], cp[r, c + 1], cp[r, c + 2]
    for s in range(start, i):
        if codes[s] == cls:
            x = xs[s]
            a0 += 1.0
            a1 += x
            a2 += x * x
    return a0, a1, a2


@helper
def search_sorted(a, v, right):
    """``np.searchsorted(a, v, side="right" if right else "left")`` for an ascending
    float array, with NumPy's order (NaN last); a plain loop compiles in a fraction
    of the time numba's ``np.searchsorted`` takes."""
    lo, hi = 0, a.size
    while lo < hi:
        mid = (lo + hi) // 2
        x = a[mid]
        if right:  # first x with v < x
            after = v < x or (x != x and v == v)
        else:  # first x with not x < v
            after = not (x < v or (v != v and x == x))
        if after:
            hi = mid
        else:
            lo = mid + 1
    return lo


@helper
def _class_sums(xs, codes, cp, t, above, cls):
    """(count, Σx, Σx²) of class ``cls`` over the rows of a sorted run with x > t
    (``above``) or x < t."""
    if above:
        i = search_sorted(xs, t, True)
        t0, t1, t2 = _prefix_at(xs, codes, cp, xs.size, cls)
        a0, a1, a2 = _prefix_at(xs, codes, cp, i, cls)
        return t0 - a0, t1 - a1, t2 - a2
    return _prefix_at(xs, codes, cp, search_sorted(xs, t, False), cls)


@helper
def _margins(w, b):
    """Where each class's margin reaches 1 at (w, b): class 1 is active (margin < 1)
    where ``w x + b < 1`` and class 0 where ``w x + b > -1``, i.e. x beyond a
    threshold on one side. Returns ``(t_pos, above_pos, t_neg, above_neg)``: class 1
    is active where x > t_pos (``above_pos``) or x < t_pos, class 0 likewise; with
    w = 0 every row of a class or none is active (t = ±inf)."""
    if w != 0.0:
        return (1.0 - b) / w, w < 0.0, (-1.0 - b) / w, w > 0.0
    t_pos = np.inf if b < 1.0 else -np.inf
    t_neg = np.inf if b > -1.0 else -np.inf
    return t_pos, False, t_neg, False


@helper
def _active(w, b, data, k):
    """Training sums over the active rows (margin < 1) of each class at (w, b).

    Class 1 is active where ``w x + b < 1`` and class 0 where ``w x + b > -1``: a
    threshold on x whose side depends on the sign of w. Returns the side flags and
    (count, Σx, Σx²) per class over all rows minus fold k's (none if k < 0).
    """
    xs, codes, prefix, xfs, fcodes, fprefix, fold_off, cp_off = data
    t_pos, above_pos, t_neg, above_neg = _margins(w, b)
    sums = np.empty(6)
    sums[0], sums[1], sums[2] = _class_sums(xs, codes, prefix, t_pos, above_pos, 1)
    sums[3], sums[4], sums[5] = _class_sums(xs, codes, prefix, t_neg, above_neg, 0)
    if k >= 0:
        lo, hi = fold_off[k], fold_off[k + 1]
        fx, fc = xfs[lo:hi], fcodes[lo:hi]
        cp = fprefix[cp_off[k] : cp_off[k + 1]]
        a0, a1, a2 = _class_sums(fx, fc, cp, t_pos, above_pos, 1)
        b0, b1, b2 = _class_sums(fx, fc, cp, t_neg, above_neg, 0)
        sums[0] -= a0
        sums[1] -= a1
        sums[2] -= a2
        sums[3] -= b0
        sums[4] -= b1
        sums[5] -= b2
    return above_pos, above_neg, sums


@helper
def _objective(w, b, sums):
    p0, p1, p2, q0, q1, q2 = sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]
    loss = (1 - b) ** 2 * p0 - 2 * (1 - b) * w * p1 + w * w * p2
    loss += (1 + b) ** 2 * q0 + 2 * (1 + b) * w * q1 + w * w * q2
    return 0.5 * (w * w + b * b) + loss


@helper
def solve_svm(data, k, w, b, max_iter=100, c1=1.0, c0=1.0):
    """Exact minimiser of the squared-hinge objective on the rows outside fold k
    (``c1``, ``c0``: the per-class C of ``class_weight``)."""
    w, b, _ = _newton(data, k, w, b, max_iter, c1, c0)
    return w, b


@helper
def _active_rows(w, b, x, codes):
    """:func:`_active` over all labelled rows of an unsorted column, in one pass."""
    t_pos, above_pos, t_neg, above_neg = _margins(w, b)
    sums = np.empty(6)
    sums[:] = 0.0
    for i in range(x.size):
        v = codes[i]
        if v < 0:
            continue
        xi = x[i]
        if v == 1:
            if (xi > t_pos) if above_pos else (xi < t_pos):
                sums[0] += 1.0
                sums[1] += xi
                sums[2] += xi * xi
        elif (xi > t_neg) if above_neg else (xi < t_neg):
            sums[3] += 1.0
            sums[4] += xi
            sums[5] += xi * xi
    return above_pos, above_neg, sums


@helper
def _active_sums(w, b, data, k):
    """Active-set sums from a sorted unit (``data`` as :func:`_active` takes it),
    or, when ``data`` has no prefix sums (:func:`svm_fit_1d`), from its unsorted
    column ``data[0]``, labels ``data[1]`` (:func:`_active_rows`). One data type
    for both: the solver compiles once."""
    if data[2].shape[0] == 0:
        return _active_rows(w, b, data[0], data[1])
    return _active(w, b, data, k)


@helper
def _weighted(sums, c1, c0):
    """Active-set sums with class 1's scaled by ``c1`` and class 0's by ``c0``: the
    squared hinge of ``class_weight`` (per-class C). Weights 1 leave them unchanged."""
    for c in range(3):
        sums[c] *= c1
        sums[c + 3] *= c0
    return sums


@helper
def _newton(data, k, w, b, max_iter, c1=1.0, c0=1.0):
    """Finite Newton on the squared-hinge objective, class 1's loss weighted by
    ``c1`` and class 0's by ``c0``. Returns (w, b, iterations)."""
    ap, an, sums = _active_sums(w, b, data, k)
    sums = _weighted(sums, c1, c0)
    for it in range(max_iter):
        h11 = 1.0 + 2.0 * (sums[2] + sums[5])
        h12 = 2.0 * (sums[1] + sums[4])
        h22 = 1.0 + 2.0 * (sums[0] + sums[3])
        r1 = 2.0 * (sums[1] - sums[4])
        r2 = 2.0 * (sums[0] - sums[3])
        det = h11 * h22 - h12 * h12
        w1 = (h22 * r1 - h12 * r2) / det
        b1 = (h11 * r2 - h12 * r1) / det
        ap1, an1, sums1 = _active_sums(w1, b1, data, k)
        sums1 = _weighted(sums1, c1, c0)
        same = ap1 == ap and an1 == an
        for c in range(6):  # a loop: np.all(sums1 == sums) compiles much more
            same = same and sums1[c] == sums[c]
        if same:
            # (w1, b1) solves the quadratic of its own active set: gradient is zero.
            return w1, b1, it + 1
        dw, db = w1 - w, b1 - b
        slope = -(dw * (h11 * dw + h12 * db) + db * (h12 * dw + h22 * db))
        f0 = _objective(w, b, sums)
        step = 1.0
        while step > 1e-12 and _objective(w1, b1, sums1) > f0 + 1e-4 * step * slope:
            step *= 0.5
            w1, b1 = w + step * dw, b + step * db
            ap1, an1, sums1 = _active_sums(w1, b1, data, k)
            sums1 = _weighted(sums1, c1, c0)
        w, b, ap, an, sums = w1, b1, ap1, an1, sums1
    return w, b, max_iter


@kernel
def svm_fit_1d(x, codes, max_iter=100, c1=1.0, c0=1.0):
    """``LinearSVC()``'s exact (w, b, iterations) on one unsorted column.

    ``codes``: 1 for ``classes_[1]``, 0 for ``classes_[0]``, -1 for unlabelled rows;
    ``c1``, ``c0``: class weights (``class_weight``). Each Newton step is one pass
    over the rows, so a full-data refit needs no sort.
    """
    # the sorted-unit data type, without prefix sums (codes as a strided view)
    labels = np.empty((codes.size, 1), dtype=np.int8)
    for i in range(codes.size):  # a loop: array assignment compiles much more
        labels[i, 0] = codes[i]
    none = np.empty((0, 6))
    offsets = np.empty(1, dtype=np.int64)
    offsets[:] = 0
    data = (x, labels[:, 0], none, x, labels[:, 0], none, offsets, offsets)
    return _newton(data, -1, 0.0, 0.0, max_iter, c1, c0)


@helper
def _first_positive(xs, w, b):
    """In an ascending run, the first index whose ``x * w + b > 0`` (w > 0)."""
    lo, hi = 0, xs.size
    while lo < hi:
        mid = (lo + hi) // 2
        if xs[mid] * w + b > 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


@helper
def _last_positive(xs, w, b):
    """In an ascending run, one past the last index whose ``x * w + b > 0`` (w < 0)."""
    lo, hi = 0, xs.size
    while lo < hi:
        mid = (lo + hi) // 2
        if xs[mid] * w + b > 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


@helper
def fold_correct(data, k, w, b):
    """Held-out rows of fold k predicted right by ``x * w + b > 0`` → class 1.

    ``x * w + b`` is monotone in x for a fixed w, so the predicted-positive rows are a
    prefix or suffix of the fold's sorted run: sklearn's own arithmetic, two searches.
    """
    _, _, _, xfs, fcodes, fprefix, fold_off, cp_off = data
    lo, hi = fold_off[k], fold_off[k + 1]
    fx, fc = xfs[lo:hi], fcodes[lo:hi]
    cp = fprefix[cp_off[k] : cp_off[k + 1]]
    m = fx.size
    n_pos = cp[cp.shape[0] - 1, 0]
    n_neg = cp[cp.shape[0] - 1, 3]
    if w > 0:
        i = _first_positive(fx, w, b)
        pos_below = _prefix_at(fx, fc, cp, i, 1)[0]
        neg_below = _prefix_at(fx, fc, cp, i, 0)[0]
        return (n_pos - pos_below) + neg_below
    if w < 0:
        i = _last_positive(fx, w, b)
        pos_below = _prefix_at(fx, fc, cp, i, 1)[0]
        neg_below = _prefix_at(fx, fc, cp, i, 0)[0]
        return pos_below + (n_neg - neg_below)
    if m == 0:
        return 0.0
    return n_pos if b > 0 else n_neg


@helper
def class_weights(balanced, n_pos, n_neg):
    """Per-class C of the probe: ``class_weight="balanced"`` (sklearn's
    ``n / (2 · count)``) if ``balanced``, else none (1, 1)."""
    if not balanced:
        return 1.0, 1.0
    n = n_pos + n_neg
    return n / (2.0 * n_pos), n / (2.0 * n_neg)


@kernel
def svm_layout(xs, fs, fold_off):
    """The buffers of one sorted unit that every feature shares: where each sorted
    row goes in the fold-split order, the folds' checkpoint offsets and the
    activations in that order."""
    n = xs.size
    fpos, cp_off = fold_layout(fs, fold_off)
    xfs = np.empty(n)
    for i in range(n):
        xfs[fpos[i]] = xs[i]
    return fpos, cp_off, xfs


@kernel
def svm_block(n, cp_off, n_folds, nb):
    """Buffers of :func:`build_prefix_block` for ``nb`` features of an n-row unit."""
    return (
        np.empty((n, nb), dtype=np.int8),
        np.empty((nb, _n_checkpoints(n), 6)),
        np.empty((nb, cp_off[-1], 6)),
        np.empty((n_folds, nb)),
    )


@helper
def svm_feature(xs, cb, fold_off, layout, block, jj):
    """The solver's ``data`` tuple of feature ``jj`` of a block built by
    :func:`build_prefix_block` from the block's sorted codes ``cb``."""
    _, cp_off, xfs = layout
    fcodes, prefix, fprefix, _ = block
    return (
        xs,
        cb[:, jj],
        prefix[jj],
        xfs,
        fcodes[:, jj],
        fprefix[jj],
        fold_off,
        cp_off,
    )


@helper
def svm_fold_fits(data, n_folds, balanced):
    """Per fold, the exact ``LinearSVC()`` (``class_weight="balanced"`` if
    ``balanced``) fit on the training rows, and the held-out labelled count.

    Returns ``(w, b, n_test)``, arrays of shape (n_folds,). ``n_test`` is 0 for a
    fold with nothing to score (no labelled held-out or training row: NaN). A
    training fold with one class gets the constant rule predicting it (w = 0,
    b = ±1), what the exact path's ``DummyClassifier(strategy="most_frequent")``
    predicts. Each fold's solve starts from the all-data solution.
    """
    _, _, prefix, _, _, fprefix, _, cp_off = data
    n_pos, n_neg = prefix[-1, 0], prefix[-1, 3]
    w = np.empty(n_folds)
    b = np.empty(n_folds)
    n_test = np.empty(n_folds)
    w[:] = 0.0
    b[:] = 0.0
    n_test[:] = 0.0
    w0, b0 = 0.0, 0.0
    if n_pos > 0 and n_neg > 0:
        c1, c0 = class_weights(balanced, n_pos, n_neg)
        w0, b0 = solve_svm(data, -1, 0.0, 0.0, 100, c1, c0)
    for k in range(n_folds):
        t_pos = fprefix[cp_off[k + 1] - 1, 0]
        t_neg = fprefix[cp_off[k + 1] - 1, 3]
        tr_pos, tr_neg = n_pos - t_pos, n_neg - t_neg
        if t_pos + t_neg == 0 or tr_pos + tr_neg == 0:
            continue
        n_test[k] = t_pos + t_neg
        if tr_pos == 0 or tr_neg == 0:
            b[k] = 1.0 if tr_pos > 0 else -1.0
        else:
            c1, c0 = class_weights(balanced, tr_pos, tr_neg)
            w[k], b[k] = solve_svm(data, k, w0, b0, 100, c1, c0)
    return w, b, n_test


@kernel
def svm_unit_scores(xs, fs, cs, xf, cf, fold_off, n_folds):
    """Held-out accuracy of the exact LinearSVC() fit, shape (q', n_folds); ``cs``
    holds the sorted label codes packed per row (:func:`pack_codes`), q' = 16 ×
    its columns."""
    n, n_blocks = cs.shape
    nb = FEATURE_BLOCK
    out = np.empty((n_blocks * nb, n_folds))
    out[:, :] = np.nan
    layout = svm_layout(xs, fs, fold_off)
    fpos, cp_off, xfs = layout
    block = svm_block(n, cp_off, n_folds, nb)
    cb = np.empty((n, nb), dtype=np.int8)
    for blk in range(n_blocks):
        unpack_block(cs, blk, cb)
        build_prefix_block(xs, cb, fpos, xfs, fold_off, cp_off, block, False)
        for jj in range(nb):
            data = svm_feature(xs, cb, fold_off, layout, block, jj)
            w, b, n_test = svm_fold_fits(data, n_folds, False)
            for k in range(n_folds):
                if n_test[k] > 0:
                    out[blk * nb + jj, k] = (
                        fold_correct(data, k, w[k], b[k]) / n_test[k]
                    )
    return out
