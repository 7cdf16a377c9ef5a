"""Exact 1-D solver of ``LinearSVC()``'s problem for every (unit, feature, fold).

liblinear minimises ``F(w, b) = ½(w² + b²) + C Σ max(0, 1 − yᵢ(w xᵢ + b))²`` with C
= 1 and the intercept as a regularised extra column of ones
(``intercept_scaling=1``), yᵢ ∈ {−1, +1} with +1 for ``classes_[1]``. F is a
strictly convex piecewise quadratic. Its active set (rows with margin < 1) is a
prefix of one class and a suffix of the other in the unit's sorted order, so every
sum over it is a binary search into the unit's prefix sums minus the same search in
the fold's own sorted rows, plus a short scan from the nearest checkpoint. One pass
over the sorted unit builds both for 16 features at once
(:func:`build_prefix_block`): each row adds to its fold's running sums (checkpointed
every 128 of the fold's rows); every 256 rows, their sum over folds is the all-row
checkpoint (so all-row sums round as a sum of per-fold sums). On a fixed active set
the minimiser solves a 2×2 system; the finite Newton method (Mangasarian 2002)
iterates that solve with an Armijo line search and stops when the active set of the
solution is the one it was solved for: then the gradient is exactly zero and the
solution is the exact minimiser (liblinear, at ``tol=1e-4``, stops near it). Each
fold starts from the all-data solution.

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
]


# Prefix sums are kept at checkpoints only (a full table per feature would not stay
# in cache); a query adds the rows between its checkpoint and its position. A fold's
# checkpoints are every _BLOCK of its rows (the tables of 16 features at 200k rows
# then fit in L2: at 32 rows, writing them cost more than the pass's arithmetic); the
# all-row ones every _GLOBAL rows, each the sum of the folds' running sums. Queries
# are few next to rows: their longer scans cost less than the writes saved.
_BLOCK = 128
_GLOBAL = 256
# Features whose prefix sums one pass over a sorted unit builds together: their label
# codes travel as one uint32 per row (bit jj: class 1, bit 16 + jj: class 0).
FEATURE_BLOCK = 16
# A checkpoint row: (count, Σx, Σx²) of class 1 then class 0, each for the block's
# features (column c · FEATURE_BLOCK + jj): a constant stride, so the pass vectorises.
_WIDTH = 6 * FEATURE_BLOCK
_C0 = 3 * FEATURE_BLOCK  # first column of class 0
_MW = _WIDTH  # the pass's Mann-Whitney counts, after a fold's running sums


@helper
def _n_checkpoints(n, stride):
    return (n + stride - 1) // stride + 1


def pack_codes(codes):
    """Label codes (n, q) int8 (1, 0, -1 unlabelled) packed per row into
    ``ceil(q / FEATURE_BLOCK)`` uint32 words holding near-equal numbers of features:
    feature j is bit ``jj = j // n_words`` of word ``j % n_words`` where class 1
    and bit ``16 + jj`` where class 0 (the kernels' row ``jj · n_words + word``)."""
    n, q = codes.shape
    n_words = -(-q // FEATURE_BLOCK)
    out = np.zeros((n, n_words), dtype=np.uint32)
    for j in range(q):
        word, jj = j % n_words, j // n_words
        out[:, word] |= (codes[:, j] == 1).astype(np.uint32) << np.uint32(jj)
        out[:, word] |= (codes[:, j] == 0).astype(np.uint32) << np.uint32(16 + jj)
    return out


@helper
def _sum_rows(acc, lo, hi, row):
    """``row`` = the sum of rows ``lo:hi`` of ``acc``, added in order (one row: an
    exact copy)."""
    for t in range(_WIDTH):
        row[t] = acc[lo, t]
    for k in range(lo + 1, hi):
        for t in range(_WIDTH):
            row[t] += acc[k, t]


@kernel
def build_prefix_block(xs, fs, cs, blk, nb, fold_off, cp_off, block, mw):
    """One pass over a sorted unit (``xs``, folds ``fs``) for the ``nb`` features of
    its label word ``blk`` (``cs``: packed codes in sorted order, :func:`pack_codes`).

    Fills ``block`` (:func:`svm_block`): checkpointed (count, Σx, Σx²) of class 1
    then class 0 per feature within each fold (``fprefix``: every ``_BLOCK`` of the
    fold's rows, then its total) and over all rows (``prefix``: every ``_GLOBAL``
    rows the sum over folds, then the total); and, if ``mw``, per fold and feature
    the Mann-Whitney count of the fold's labelled rows ordered by x (``fmw``: for
    every positive, the negatives with a smaller x plus half those with an equal
    x), the ROC AUC's numerator for any slope that keeps distinct activations
    distinct.

    A fold's sums add the same terms in the same order as a pass over its rows per
    feature would (a term times 1.0 or 0.0); the features share the row reads and
    vectorise; each fold's running sums stay in cache.
    """
    prefix, fprefix, fmw, acc, start, last, count = block
    n = xs.size
    acc[:, :] = 0.0
    last[:] = np.nan
    count[:] = 0
    for i0 in range(0, n, _GLOBAL):
        _sum_rows(acc, 0, acc.shape[0], prefix[i0 // _GLOBAL])
        for i in range(i0, min(i0 + _GLOBAL, n)):
            k = fs[i]
            a = acc[k]  # fold k's running sums, then its Mann-Whitney counts
            c = count[k]
            if c & (_BLOCK - 1) == 0:
                _sum_rows(acc, k, k + 1, fprefix[cp_off[k] + c // _BLOCK])
            count[k] = c + 1
            word = cs[i, blk]
            x = xs[i]
            tied = mw and ((i > 0 and xs[i - 1] == x) or (i + 1 < n and xs[i + 1] == x))
            if tied:
                st = start[k]  # class counts where fold k's run of equal x began
                if x != last[k]:
                    last[k] = x
                    for jj in range(nb):
                        st[jj] = a[jj]
                        st[FEATURE_BLOCK + jj] = a[_C0 + jj]
                for jj in range(nb):
                    m1 = 1.0 if (word >> jj) & 1 else 0.0
                    m0 = 1.0 if (word >> (16 + jj)) & 1 else 0.0
                    # a positive: the negatives below its run and half those in
                    # it so far; a negative: half the positives in its run so far
                    below = st[FEATURE_BLOCK + jj]
                    run_neg = a[_C0 + jj] - below
                    a[_MW + jj] += m1 * (below + 0.5 * run_neg)
                    a[_MW + jj] += m0 * (0.5 * (a[jj] - st[jj]))
            # a row whose x is unique: a positive counts the negatives below it
            plain = 1.0 if mw and not tied else 0.0
            x2 = x * x
            # all FEATURE_BLOCK lanes (a constant trip count vectorises fully; the
            # lanes past nb hold no labels and stay 0)
            for jj in range(FEATURE_BLOCK):
                m1 = 1.0 if (word >> jj) & 1 else 0.0
                m0 = 1.0 if (word >> (16 + jj)) & 1 else 0.0
                a[_MW + jj] += (plain * m1) * a[_C0 + jj]
                a[jj] += m1
                a[FEATURE_BLOCK + jj] += m1 * x
                a[2 * FEATURE_BLOCK + jj] += m1 * x2
                a[_C0 + jj] += m0
                a[_C0 + FEATURE_BLOCK + jj] += m0 * x
                a[_C0 + 2 * FEATURE_BLOCK + jj] += m0 * x2
    _sum_rows(acc, 0, acc.shape[0], prefix[prefix.shape[0] - 1])
    for k in range(acc.shape[0]):
        _sum_rows(acc, k, k + 1, fprefix[cp_off[k + 1] - 1])
        for jj in range(nb):
            fmw[k, jj] = acc[k, _MW + jj]


@helper
def _prefix_at(xs, words, cp, i, jj, cls, stride):
    """(count, Σx, Σx²) of class ``cls`` of feature ``jj`` (bits of ``words``) over
    the first i rows of a sorted run checkpointed every ``stride`` rows."""
    if i == xs.size:
        r = cp.shape[0] - 1
        start = i
    else:
        r = i // stride
        start = r * stride
    c = jj if cls == 1 else _C0 + jj
    shift = jj if cls == 1 else 16 + jj
    a0, a1, a2 = cp[r, c], cp[r, c + FEATURE_BLOCK], cp[r, c + 2 * FEATURE_BLOCK]
    for s in range(start, i):
        if (words[s] >> shift) & 1:
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
def _class_sums(xs, words, cp, t, above, jj, cls, stride):
    """(count, Σx, Σx²) of class ``cls`` of feature ``jj`` over the rows of a sorted
    run with x > t (``above``) or x < t."""
    if above:
        i = search_sorted(xs, t, True)
        t0, t1, t2 = _prefix_at(xs, words, cp, xs.size, jj, cls, stride)
        a0, a1, a2 = _prefix_at(xs, words, cp, i, jj, cls, stride)
        return t0 - a0, t1 - a1, t2 - a2
    i = search_sorted(xs, t, False)
    return _prefix_at(xs, words, cp, i, jj, cls, stride)


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
    xs, words, prefix, xfs, fwords, fprefix, fold_off, cp_off, jj = data
    t_pos, above_pos, t_neg, above_neg = _margins(w, b)
    sums = np.empty(6)
    sums[0], sums[1], sums[2] = _class_sums(
        xs, words, prefix, t_pos, above_pos, jj, 1, _GLOBAL
    )
    sums[3], sums[4], sums[5] = _class_sums(
        xs, words, prefix, t_neg, above_neg, jj, 0, _GLOBAL
    )
    if k >= 0:
        lo, hi = fold_off[k], fold_off[k + 1]
        fx, fw = xfs[lo:hi], fwords[lo:hi]
        cp = fprefix[cp_off[k] : cp_off[k + 1]]
        a0, a1, a2 = _class_sums(fx, fw, cp, t_pos, above_pos, jj, 1, _BLOCK)
        b0, b1, b2 = _class_sums(fx, fw, cp, t_neg, above_neg, jj, 0, _BLOCK)
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
def _active_rows(w, b, x, words, jj):
    """:func:`_active` over all labelled rows of an unsorted column (feature ``jj``
    of packed ``words``), in one pass."""
    t_pos, above_pos, t_neg, above_neg = _margins(w, b)
    sums = np.empty(6)
    sums[:] = 0.0
    for i in range(x.size):
        xi = x[i]
        if (words[i] >> jj) & 1:
            if (xi > t_pos) if above_pos else (xi < t_pos):
                sums[0] += 1.0
                sums[1] += xi
                sums[2] += xi * xi
        elif (words[i] >> (16 + jj)) & 1:
            if (xi > t_neg) if above_neg else (xi < t_neg):
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
        return _active_rows(w, b, data[0], data[1], data[8])
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
    # the sorted-unit data type, without prefix sums (codes packed as one feature,
    # a strided view)
    labels = np.zeros((codes.size, 1), dtype=np.uint32)
    for i in range(codes.size):  # a loop: array assignment compiles much more
        if codes[i] == 1:
            labels[i, 0] = 1
        elif codes[i] == 0:
            labels[i, 0] = 1 << 16
    none = np.empty((0, _WIDTH))
    offsets = np.zeros(1, dtype=np.int64)
    data = (x, labels[:, 0], none, x, labels[:, 0], none, offsets, offsets, offsets[0])
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
    _, _, _, xfs, fwords, fprefix, fold_off, cp_off, jj = data
    lo, hi = fold_off[k], fold_off[k + 1]
    fx, fw = xfs[lo:hi], fwords[lo:hi]
    cp = fprefix[cp_off[k] : cp_off[k + 1]]
    m = fx.size
    n_pos = cp[cp.shape[0] - 1, jj]
    n_neg = cp[cp.shape[0] - 1, _C0 + jj]
    if w > 0:
        i = _first_positive(fx, w, b)
        pos_below = _prefix_at(fx, fw, cp, i, jj, 1, _BLOCK)[0]
        neg_below = _prefix_at(fx, fw, cp, i, jj, 0, _BLOCK)[0]
        return (n_pos - pos_below) + neg_below
    if w < 0:
        i = _last_positive(fx, w, b)
        pos_below = _prefix_at(fx, fw, cp, i, jj, 1, _BLOCK)[0]
        neg_below = _prefix_at(fx, fw, cp, i, jj, 0, _BLOCK)[0]
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
def svm_layout(xs, fs, cs, fold_off):
    """The buffers of one sorted unit that every feature shares: the folds'
    checkpoint offsets, the activations and label words (``cs``) in the fold-split
    order (each fold's rows, ascending) and per word its features (one past its
    highest labelled bit: the features after it have no labels)."""
    n, n_words = cs.shape
    n_folds = fold_off.size - 1
    cp_off = np.zeros(n_folds + 1, dtype=np.int64)
    for k in range(n_folds):
        m = fold_off[k + 1] - fold_off[k]
        cp_off[k + 1] = cp_off[k] + _n_checkpoints(m, _BLOCK)
    fill = fold_off[:-1].copy()
    xfs = np.empty(n)
    fws = np.empty((n, n_words), dtype=cs.dtype)
    used = np.zeros(n_words, dtype=cs.dtype)
    for i in range(n):
        p = fill[fs[i]]
        fill[fs[i]] += 1
        xfs[p] = xs[i]
        for blk in range(n_words):
            fws[p, blk] = cs[i, blk]
            used[blk] |= cs[i, blk]
    nbs = np.zeros(n_words, dtype=np.int64)
    for blk in range(n_words):
        bits = (used[blk] | (used[blk] >> 16)) & 0xFFFF
        while bits >> nbs[blk]:
            nbs[blk] += 1
    return cp_off, xfs, fws, nbs


@kernel
def svm_block(n, cp_off, n_folds):
    """Buffers of :func:`build_prefix_block` for an n-row unit: all-row and per-fold
    checkpoints, per-fold Mann-Whitney counts, and the pass's per-fold state."""
    return (
        np.empty((_n_checkpoints(n, _GLOBAL), _WIDTH)),
        np.empty((cp_off[-1], _WIDTH)),
        np.empty((n_folds, FEATURE_BLOCK)),
        np.empty((n_folds, _WIDTH + FEATURE_BLOCK)),
        np.empty((n_folds, 2 * FEATURE_BLOCK)),
        np.empty(n_folds),
        np.empty(n_folds, dtype=np.int64),
    )


@helper
def svm_feature(xs, cs, fold_off, layout, block, blk, jj):
    """The solver's ``data`` tuple of feature ``jj`` of label word ``blk``, from a
    block built by :func:`build_prefix_block`."""
    cp_off, xfs, fws, _ = layout
    return (
        xs,
        cs[:, blk],
        block[0],
        xfs,
        fws[:, blk],
        block[1],
        fold_off,
        cp_off,
        jj,
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
    _, _, prefix, _, _, fprefix, _, cp_off, jj = data
    n_pos, n_neg = prefix[-1, jj], prefix[-1, _C0 + jj]
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
        t_pos = fprefix[cp_off[k + 1] - 1, jj]
        t_neg = fprefix[cp_off[k + 1] - 1, _C0 + jj]
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
    holds the sorted label codes packed per row (:func:`pack_codes`: feature j at
    row j), q' = 16 × its columns."""
    n, n_words = cs.shape
    out = np.empty((n_words * FEATURE_BLOCK, n_folds))
    out[:, :] = np.nan
    layout = svm_layout(xs, fs, cs, fold_off)
    cp_off, _, _, nbs = layout
    block = svm_block(n, cp_off, n_folds)
    for blk in range(n_words):
        build_prefix_block(xs, fs, cs, blk, nbs[blk], fold_off, cp_off, block, False)
        for jj in range(nbs[blk]):
            data = svm_feature(xs, cs, fold_off, layout, block, blk, jj)
            w, b, n_test = svm_fold_fits(data, n_folds, False)
            for k in range(n_folds):
                if n_test[k] > 0:
                    out[jj * n_words + blk, k] = (
                        fold_correct(data, k, w[k], b[k]) / n_test[k]
                    )
    return out
