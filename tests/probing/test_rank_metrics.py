"""Balanced accuracy and ROC AUC: fast engines against cross_val_score, fold by fold,
and the imbalanced feature that accuracy cannot see."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, KFold, cross_val_score
from sklearn.svm import LinearSVC

from skdni.probing import NeuronProbeSearch

from ._data import planted, realistic

REFERENCES = {
    "balanced_accuracy": LinearSVC(
        class_weight="balanced", tol=1e-10, max_iter=100_000
    ),
    "roc_auc": LinearSVC(tol=1e-10, max_iter=100_000),
}
METRICS = ["balanced_accuracy", "roc_auc"]


def _split_scores(search):
    r = search.cv_results_
    return np.column_stack([r[f"split{k}_test_score"] for k in range(search.n_splits_)])


def _imbalanced(n=2000, seed=0, rate=0.1):
    """Unit 0 separates a ~10%-positive feature imperfectly; the others are noise."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(float)
    X = rng.normal(size=(n, 4))
    X[:, 0] = y + rng.normal(size=n)
    return X, y


def _datasets():
    X, Y = planted(n=900)
    X2, Y2, groups = realistic()
    X3, y3 = _imbalanced(n=1500, seed=4)
    binary = [
        j for j in range(Y2.shape[1]) if np.unique(Y2[~np.isnan(Y2[:, j]), j]).size == 2
    ]
    return [
        ("planted", X, Y[:, :1], None),
        ("realistic", X2, Y2[:, binary], groups),
        ("imbalanced", X3, y3[:, None], None),
    ]


@pytest.mark.parametrize("name,X,Y,groups", _datasets())
@pytest.mark.parametrize("metric", METRICS)
def test_fast_rank_engines_match_cross_val_score_every_fold(name, X, Y, groups, metric):
    cv = 5
    fast = NeuronProbeSearch(cv=cv, scoring=metric, method="fast").fit(X, Y, groups)
    assert set(fast.methods_) == {"svm"}
    splitter = KFold(cv) if groups is None else GroupKFold(cv)
    a = _split_scores(fast)
    compared = 0
    for j in range(Y.shape[1]):
        labelled = ~np.isnan(Y[:, j])
        for u in range(X.shape[1]):
            # cross_val_score on the labelled rows with the same folds (rows without a
            # label are dropped from both sides, as NeuronProbeSearch does)
            folds = [
                (np.flatnonzero(labelled[tr]), np.flatnonzero(labelled[te]))
                for tr, te in splitter.split(X, None, groups)
            ]
            index = np.flatnonzero(labelled)
            remap = np.full(X.shape[0], -1)
            remap[index] = np.arange(index.size)
            folds = [
                (remap[tr[labelled[tr]]], remap[te[labelled[te]]])
                for tr, te in splitter.split(X, None, groups)
            ]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = cross_val_score(
                    REFERENCES[metric],
                    X[labelled][:, [u]],
                    Y[labelled, j],
                    cv=folds,
                    scoring=metric,
                )
            got = a[j * X.shape[1] + u]
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12, equal_nan=True)
            compared += np.isfinite(ref).sum()
    assert compared >= cv * X.shape[1] * Y.shape[1] - 2
    assert np.nanmax(fast.skill_.to_numpy()) > 0.2  # an informative pair is compared
    assert (fast.chance_scores_ == 0.5).all()


@pytest.mark.parametrize("metric", METRICS)
def test_fast_rank_engines_match_exact_path(metric):
    X, Y, groups = realistic(seed=2)
    Yb = Y[:, :3]
    fast = NeuronProbeSearch(cv=4, scoring=metric).fit(X, Yb, groups)
    exact = NeuronProbeSearch(
        REFERENCES[metric], cv=4, scoring=metric, method="exact"
    ).fit(X, Yb, groups)
    assert set(exact.methods_) == {"exact"}
    np.testing.assert_allclose(
        _split_scores(fast), _split_scores(exact), atol=1e-12, equal_nan=True
    )
    np.testing.assert_array_equal(fast.chance_scores_, exact.chance_scores_)


@pytest.mark.parametrize("metric", METRICS)
def test_rank_degenerate_folds_agree(metric):
    """One-class training fold, one-class held-out fold, constant units."""
    rng = np.random.default_rng(0)
    n = 200
    X = np.c_[rng.normal(size=n), np.zeros(n), np.full(n, 0.5)]
    y = np.zeros(n)
    y[:40] = 1.0  # fold 0 of KFold(5) holds every positive: it trains on one class
    y[:20] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = NeuronProbeSearch(cv=5, scoring=metric, method="fast").fit(X, y)
        exact = NeuronProbeSearch(
            REFERENCES[metric], cv=5, scoring=metric, method="exact"
        ).fit(X, y)
    a, b = _split_scores(fast), _split_scores(exact)
    np.testing.assert_allclose(a, b, atol=1e-12, equal_nan=True)
    if metric == "roc_auc":
        # fold 0 holds out positives only (AUC undefined); the others negatives only
        assert np.isnan(a).all()
    else:
        # fold 0 trains on negatives only and predicts 0: recall of its positives is 0
        assert a[0, 0] == 0.0
        assert np.isfinite(a).all()  # one-class held-out folds score that recall


def test_imbalanced_feature_accuracy_at_chance_balanced_and_auc_above():
    """~10% positives, one unit separates them: accuracy sees nothing, balanced
    accuracy and ROC AUC see that unit (and only it)."""
    X, y = _imbalanced(n=4000, seed=1)
    assert 0.08 < y.mean() < 0.12
    acc = NeuronProbeSearch(cv=5).fit(X, y)
    # the SVM predicts the majority class on every fold: accuracy exactly at chance,
    # so nothing is found
    assert acc.scores_.iloc[0, 0] == pytest.approx(acc.chance_scores_.iloc[0])
    assert acc.skill_.iloc[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert acc.features_at_chance_.tolist() == ["y"]
    assert acc.top_units_["y"].size == 0
    assert np.isnan(acc.cv_results_["rank_test_score"]).all()
    for metric, floor in [("balanced_accuracy", 0.3), ("roc_auc", 0.45)]:
        search = NeuronProbeSearch(cv=5, scoring=metric).fit(X, y)
        assert search.methods_.tolist() == ["svm"]
        assert search.chance_scores_.iloc[0] == 0.5
        assert search.top_units_["y"][0] == 0
        assert search.features_at_chance_.size == 0
        assert search.skill_.iloc[0, 0] > floor, (metric, search.skill_.iloc[0, 0])
        assert search.skill_.iloc[0, 1:].max() < 0.1
        frame = search.to_frame()
        assert frame.query("rank == 1")["unit"].tolist() == ["x0"]


@pytest.mark.parametrize("metric", METRICS)
def test_rank_engines_out_of_core_and_n_jobs_equal_in_memory(tmp_path, metric):
    X, Y, groups = realistic(seed=5)
    Yb = Y[:, :3]
    path = tmp_path / "H.npy"
    np.save(path, X)
    ref = NeuronProbeSearch(cv=4, scoring=metric).fit(X, Yb, groups)
    mm = NeuronProbeSearch(cv=4, scoring=metric).fit(
        np.load(path, mmap_mode="r"), Yb, groups
    )
    par = NeuronProbeSearch(cv=4, scoring=metric, n_jobs=2).fit(X, Yb, groups)
    for other in (mm, par):
        np.testing.assert_array_equal(_split_scores(other), _split_scores(ref))
    # the refitted best probe is the class-balanced SVM for balanced accuracy
    est = ref.best_estimators_["y0"]
    assert est.class_weight == ("balanced" if metric == "balanced_accuracy" else None)


def test_balanced_refit_is_the_class_balanced_minimiser():
    X, y = _imbalanced(n=1500, seed=2)
    search = NeuronProbeSearch(cv=5, scoring="balanced_accuracy").fit(X, y)
    est = search.best_estimators_["y"]
    ref = LinearSVC(class_weight="balanced", tol=1e-12, max_iter=100_000).fit(
        X[:, [search.best_units_[0]]], y
    )
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(est.predict(X[:, [0]]), ref.predict(X[:, [0]]))


def test_threshold_probe_scores_roc_auc_on_the_exact_path():
    """A one-class threshold rule (t = ±inf) gives a finite constant decision, so the
    exact path's roc_auc scorer works (AUC 0.5) instead of rejecting infinity."""
    from skdni.probing import ThresholdClassifier

    X, y = _imbalanced(n=600, seed=3)
    rule = ThresholdClassifier().fit(X[:, [1]], y)  # a noise unit: predicts majority
    assert np.isinf(rule.threshold_)
    assert np.isfinite(rule.decision_function(X[:, [1]])).all()
    search = NeuronProbeSearch("threshold", cv=3, scoring="roc_auc").fit(X, y)
    assert search.methods_.tolist() == ["exact"]
    assert search.scores_.iloc[0, 0] > 0.65


def test_prefix_pass_mann_whitney_counts_equal_the_decision_scan():
    """The AUC numerator the block pass keeps per fold (over x, ties half) equals a
    direct count and the scan over the decisions (``fold_auc``) whenever the slope
    keeps distinct x distinct, with tied and unique activations and unlabelled
    rows; a slope that merges distinct x is detected (and scored by the scan)."""
    from skdni.probing._fast_rank import _distinct, fold_auc, fold_gaps
    from skdni.probing._fast_svm import (
        _C0,
        build_prefix_block,
        pack_codes,
        svm_block,
        svm_layout,
    )

    rng = np.random.default_rng(5)
    n, q, n_folds = 700, 21, 4
    xf = rng.normal(size=n)
    xf[: n // 2] = np.round(xf[: n // 2], 1)  # many ties, and unique values
    ff = rng.integers(0, n_folds, size=n).astype(np.int8)
    codes = (rng.random((n, q)) < rng.uniform(0.1, 0.6, q)).astype(np.int8)
    codes[rng.random((n, q)) < 0.1] = -1
    order = np.argsort(xf)
    xs, fs, cs = xf[order], ff[order], pack_codes(codes)[order]
    split = np.argsort(fs, kind="stable")  # the fold-split order
    fold_off = np.r_[0, np.cumsum(np.bincount(ff, minlength=n_folds))]
    cp_off, xfs, fws, nbs = svm_layout(xs, fs, cs, fold_off)
    np.testing.assert_array_equal(xfs, xs[split])
    gap, top = fold_gaps(xfs, fold_off)
    block = svm_block(n, cp_off, n_folds)
    n_words = cs.shape[1]
    checked = 0
    for blk in range(n_words):
        build_prefix_block(xs, fs, cs, blk, nbs[blk], fold_off, cp_off, block, True)
        _, fprefix, fmw = block[:3]
        for jj in range(nbs[blk]):
            j = jj * n_words + blk
            for k in range(n_folds):
                lo, hi = fold_off[k], fold_off[k + 1]
                fc = codes[order][split, j][lo:hi]
                fx = xfs[lo:hi]
                n_pos, n_neg = np.sum(fc == 1), np.sum(fc == 0)
                assert fprefix[cp_off[k + 1] - 1, jj] == n_pos
                assert fprefix[cp_off[k + 1] - 1, _C0 + jj] == n_neg
                pos, neg = fx[fc == 1], fx[fc == 0]
                u = np.sum(neg[None, :] < pos[:, None])
                u += 0.5 * np.sum(neg[None, :] == pos[:, None])
                assert fmw[k, jj] == u
                for w, b in ((0.7, 0.1), (-2.0, 0.3)):
                    assert _distinct(gap[k], top[k], w, b)
                    auc = fmw[k, jj] / (n_pos * n_neg)
                    auc = 1.0 - auc if w < 0 else auc
                    assert auc == fold_auc(fx, fws[lo:hi, blk], jj, w, b)
                    checked += 1
    assert checked == q * n_folds * 2
    # 1 + 2^-52 and 1 give one decision at a small slope: not distinct (the test is
    # conservative: it asks for a margin of ~10 rounding errors).
    assert not _distinct(2.0**-52, 1.0, 1e-3, 1.0)
    assert _distinct(1e-9, 1.0, 1.0, 0.0)
