"""Conditional probing: what a unit says about a feature beyond the current character.

Objective (Hewitt et al. 2021, conditional V-information). For every (feature, unit,
fold) the held-out R² of ``LinearRegression`` on [one-hot of the row's character,
unit] minus the held-out R² of ``LinearRegression`` on [one-hot of the character]
alone. A unit that only re-encodes which character is being read scores about 0.

Reference (exact path). ``make_pipeline(ColumnTransformer([("char",
OneHotEncoder(handle_unknown="ignore", sparse_output=False), [0])],
remainder="passthrough"), LinearRegression())`` on the columns [character code,
unit] (and on [character code] alone), fitted per fold on the training rows; a
character unseen in training gets the
all-zero one-hot. (Dense one-hot: on a sparse design ``LinearRegression`` switches
to the iterative ``lsqr``, off by ~1e-7.)

Algorithm (fast path). By Frisch–Waugh–Lovell the unit's slope in the joint model
is the within-character slope ``b = Σ_c Σ (x − x̄_c)(y − ȳ_c) / Σ_c Σ (x − x̄_c)²``
over the training rows, i.e. OLS after demeaning x and y within character classes
on the training fold; each seen class c is then predicted by ``ȳ_c + b (x − x̄_c)``.
The one-hot columns are collinear with the intercept, and ``LinearRegression``
returns the minimum-norm solution: for a character not seen in training that is the
unweighted mean over seen classes of ``ȳ_c − b x̄_c``, plus ``b x`` (derived from
centring the design, which ``LinearRegression`` does). Per fold, the class sums come
from one sparse product of the class indicator with the activations (all units at
once); the held-out residuals are formed for all units at once.

Degenerate cases. A unit constant within every class on the training fold gets
slope 0 (the joint model equals the character model, difference 0). A fold with
fewer than two labelled held-out rows or no labelled training row scores NaN.
"""

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

__all__ = ["char_codes", "conditional_fold_scores", "exact_conditional_fold_scores"]


def char_codes(char_types):
    """Integer codes 0 … C − 1 of the characters (any hashable values)."""
    _, codes = np.unique(np.asarray(char_types).astype(str), return_inverse=True)
    return codes.astype(np.int64).ravel()


def _r2(y, pred):
    """R² of every column of ``pred`` (n, p) against y (n,), r2_score's values."""
    sst = ((y - y.mean()) ** 2).sum()
    sse = ((y[:, None] - pred) ** 2).sum(axis=0)
    if sst == 0:  # r2_score's force_finite
        return np.where(sse == 0, 1.0, 0.0)
    return 1.0 - sse / sst


def conditional_fold_scores(X, Y, codes, splits):
    """Held-out R²(char + unit) − R²(char) per (feature, unit, fold), and R²(char).

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Activations.
    Y : ndarray of shape (n, q)
        Labels, NaN where unlabelled.
    codes : ndarray of int, shape (n,)
        The character class of every row (:func:`char_codes`).
    splits : list of (train, test) index arrays

    Returns
    -------
    delta : ndarray of shape (q, p, n_folds)
    char_only : ndarray of shape (q, n_folds)
    """
    n, p = X.shape
    q = Y.shape[1]
    n_classes = int(codes.max()) + 1 if codes.size else 0
    X = X - X.mean(axis=0)  # centred: the class sums below do not cancel
    delta = np.full((q, p, len(splits)), np.nan)
    char_only = np.full((q, len(splits)), np.nan)
    for f in range(q):
        lab = ~np.isnan(Y[:, f])
        y = np.where(lab, Y[:, f], 0.0)
        y = y - (y[lab].mean() if lab.any() else 0.0)
        for k, (train, test) in enumerate(splits):
            tr, te = train[lab[train]], test[lab[test]]
            if tr.size == 0 or te.size < 2:
                continue
            ind = sparse.csr_matrix(
                (np.ones(tr.size), (codes[tr], np.arange(tr.size))),
                shape=(n_classes, tr.size),
            )
            xt, yt = X[tr], y[tr]
            cnt = np.asarray(ind.sum(axis=1)).ravel()
            seen = cnt > 0
            safe = np.where(seen, cnt, 1.0)
            mx = (ind @ xt) / safe[:, None]  # class means of every unit (C, p)
            my = (ind @ yt) / safe
            dx = xt - mx[codes[tr]]
            dy = yt - my[codes[tr]]
            sxx = (dx * dx).sum(axis=0)
            sxy = dx.T @ dy
            # Within-class slope; 0 where the unit is constant within every class.
            noise = tr.size * (8 * np.finfo(np.float64).eps) ** 2 * (xt * xt).mean(0)
            b = np.where(sxx > noise, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
            a = my[:, None] - b[None, :] * mx  # class intercepts (C, p)
            a_unseen = a[seen].mean(axis=0)
            c_te = codes[te]
            known = seen[c_te]
            intercept = np.where(known[:, None], a[c_te], a_unseen[None, :])
            pred = intercept + b[None, :] * X[te]
            base = np.where(known, my[c_te], my[seen].mean())
            r2_char = _r2(y[te], base[:, None])[0]
            char_only[f, k] = r2_char
            delta[f, :, k] = _r2(y[te], pred) - r2_char
    return delta, char_only


def _reference_models():
    onehot = ColumnTransformer(
        [("char", OneHotEncoder(handle_unknown="ignore", sparse_output=False), [0])],
        remainder="passthrough",
    )
    return make_pipeline(onehot, LinearRegression())


def exact_conditional_fold_scores(X, Y, codes, splits):
    """The same as :func:`conditional_fold_scores` by fitting sklearn's pipeline
    (one-hot of the character, then ``LinearRegression``) per fold: the reference."""
    n, p = X.shape
    q = Y.shape[1]
    model = _reference_models()
    delta = np.full((q, p, len(splits)), np.nan)
    char_only = np.full((q, len(splits)), np.nan)
    c = codes.astype(np.float64)[:, None]
    for f in range(q):
        lab = ~np.isnan(Y[:, f])
        for k, (train, test) in enumerate(splits):
            tr, te = train[lab[train]], test[lab[test]]
            if tr.size == 0 or te.size < 2:
                continue
            y = Y[:, f]
            base = clone(model).fit(c[tr], y[tr]).score(c[te], y[te])
            char_only[f, k] = base
            for j in range(p):
                Z = np.c_[c, X[:, j]]
                full = clone(model).fit(Z[tr], y[tr]).score(Z[te], y[te])
                delta[f, j, k] = full - base
    return delta, char_only
