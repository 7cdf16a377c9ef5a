"""Out-of-core NeuronProbeSearch: memmaps in blocks, and partial_fit over chunks."""

import os

import numpy as np
import pandas as pd
import pytest
from numpy.lib.format import open_memmap
from sklearn.model_selection import PredefinedSplit

from skdni import InputError, InputTypeError
from skdni.probing import NeuronProbeSearch, _streaming

from ._data import realistic


@pytest.fixture
def small_blocks(monkeypatch):
    # A few kB per block, so a test-sized table spans many row chunks and unit blocks.
    monkeypatch.setattr(_streaming, "_BLOCK_BYTES", 2048 * 8)


def _to_npy(tmp_path, X, name="H.npy"):
    path = os.fspath(tmp_path / name)
    out = open_memmap(path, mode="w+", dtype=np.float32, shape=X.shape)
    out[:] = X
    out.flush()
    del out
    return path


@pytest.fixture(scope="module")
def data():
    X, Y, groups = realistic(n_texts=40, n_units=7, seed=3)
    return X.astype(np.float32), Y, groups


@pytest.mark.parametrize("probe", ["auto", "ols", "logistic", "threshold"])
@pytest.mark.parametrize("grouped", [True, False])
def test_memmap_fit_equals_in_memory_fit(tmp_path, small_blocks, data, probe, grouped):
    X, Y, groups = data
    H = np.load(_to_npy(tmp_path, X), mmap_mode="r")
    g = groups if grouped else None
    ref = NeuronProbeSearch(probe, cv=5).fit(X, Y, g)
    got = NeuronProbeSearch(probe, cv=5, n_jobs=2).fit(H, Y, g)
    binary = (ref.feature_kinds_ == "binary").to_numpy() & (ref.methods_ != "ols")
    # sort-based engines read the same float64 values: identical scores
    np.testing.assert_array_equal(
        got.scores_.to_numpy()[binary], ref.scores_.to_numpy()[binary]
    )
    # OLS moments pooled over row chunks: equal to rounding
    np.testing.assert_allclose(
        got.scores_.to_numpy(), ref.scores_.to_numpy(), rtol=1e-10, atol=1e-12
    )
    assert got.best_units_.tolist() == ref.best_units_.tolist()
    for name in ref.target_names_:
        np.testing.assert_allclose(
            np.ravel(got.best_estimators_[name].predict(X[:5, [0]] * 0 + 0.3)),
            np.ravel(ref.best_estimators_[name].predict(X[:5, [0]] * 0 + 0.3)),
        )
    # the unit-major scratch file is removed
    assert sorted(os.listdir(tmp_path)) == ["H.npy"]


def test_memmap_view_is_read_through_the_array(tmp_path, small_blocks, data):
    X, Y, groups = data
    H = np.load(_to_npy(tmp_path, X), mmap_mode="r")[100:]  # a view: no file source
    assert _streaming.file_source(H) is None
    ref = NeuronProbeSearch(cv=4).fit(X[100:], Y[100:])
    got = NeuronProbeSearch(cv=4).fit(H, Y[100:])
    np.testing.assert_allclose(got.scores_, ref.scores_, rtol=1e-10, atol=1e-12)


def test_memmap_with_nan_names_the_unit_and_row(tmp_path, small_blocks, data):
    X, Y, _ = data
    X = X.copy()
    X[1300, 3] = np.nan
    H = np.load(_to_npy(tmp_path, X), mmap_mode="r")
    with pytest.raises(InputError, match=r"'x3' \(index 3\), row 1300"):
        NeuronProbeSearch(cv=3).fit(H, Y)


def _chunks(n, sizes):
    bounds = np.cumsum([0, *sizes])
    bounds = bounds[bounds < n].tolist() + [n]
    return list(zip(bounds[:-1], bounds[1:], strict=False))


def test_partial_fit_equals_fit_with_group_folds(small_blocks, data):
    X, Y, groups = data
    K = 4
    search = NeuronProbeSearch("ols", cv=K, top_k=3)
    for lo, hi in _chunks(len(X), [333, 1000, 17, 500, 2000]):
        search.partial_fit(X[lo:hi], Y[lo:hi], groups_chunk=groups[lo:hi])
    ref = NeuronProbeSearch("ols", cv=PredefinedSplit(groups % K), top_k=3).fit(X, Y)
    np.testing.assert_allclose(search.scores_, ref.scores_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(search.scores_std_, ref.scores_std_, rtol=1e-8)
    np.testing.assert_allclose(search.chance_scores_, ref.chance_scores_, atol=1e-12)
    for key in ("split0_test_score", "split3_test_score", "rank_test_score"):
        np.testing.assert_allclose(
            search.cv_results_[key], ref.cv_results_[key], rtol=1e-9, atol=1e-12
        )
    assert search.n_splits_ == ref.n_splits_ == K
    assert search.feature_kinds_.tolist() == ref.feature_kinds_.tolist()
    assert {k: v.tolist() for k, v in search.top_units_.items()} == {
        k: v.tolist() for k, v in ref.top_units_.items()
    }
    np.testing.assert_allclose(search.predict(X[:50]), ref.predict(X[:50]), rtol=1e-9)
    assert search.score(X, Y) == pytest.approx(ref.score(X, Y), rel=1e-10)
    # the planted depth signal (unit 4) is found
    assert search.best_units_[3] == 4


def test_partial_fit_without_groups_puts_each_call_in_one_fold(data):
    X, Y, _ = data
    bounds = _chunks(len(X), [400] * 20)
    search = NeuronProbeSearch("ols", cv=3)
    fold = np.empty(len(X), dtype=int)
    for c, (lo, hi) in enumerate(bounds):
        search.partial_fit(X[lo:hi], Y[lo:hi])
        fold[lo:hi] = c % 3
    ref = NeuronProbeSearch("ols", cv=PredefinedSplit(fold)).fit(X, Y)
    np.testing.assert_allclose(search.scores_, ref.scores_, rtol=1e-10, atol=1e-12)


def test_partial_fit_accepts_memmap_chunks_and_dataframes(tmp_path, data):
    X, Y, groups = data
    H = np.load(_to_npy(tmp_path, X), mmap_mode="r")
    frame = pd.DataFrame(Y, columns=list("abcde"))
    search = NeuronProbeSearch("ols", cv=2)
    search.partial_fit(H[:900], frame.iloc[:900], groups_chunk=groups[:900])
    search.partial_fit(H[900:], frame.iloc[900:], groups_chunk=groups[900:])
    ref = NeuronProbeSearch("ols", cv=PredefinedSplit(groups % 2)).fit(X, frame)
    np.testing.assert_allclose(search.scores_, ref.scores_, rtol=1e-10, atol=1e-12)
    assert list(search.scores_.index) == list("abcde")


def test_fit_after_partial_fit_starts_over(data):
    X, Y, groups = data
    search = NeuronProbeSearch("ols", cv=3)
    search.partial_fit(X[:500], Y[:500], groups_chunk=groups[:500])
    search.fit(X, Y, groups)
    search.partial_fit(X[:500], Y[:500], groups_chunk=groups[:500])
    ref = NeuronProbeSearch("ols", cv=3)
    ref.partial_fit(X[:500], Y[:500], groups_chunk=groups[:500])
    np.testing.assert_array_equal(search.scores_, ref.scores_)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"probe": "ols", "cv": PredefinedSplit([0, 1])}, "cv to be an int"),
        ({"probe": "ols", "n_permutations": 3}, "n_permutations"),
        ({"probe": "ols", "method": "exact"}, "method='exact'"),
    ],
)
def test_partial_fit_rejects_what_does_not_stream(data, params, match):
    X, Y, groups = data
    with pytest.raises(InputError, match=match):
        NeuronProbeSearch(**params).partial_fit(X[:100], Y[:100], groups[:100])


def test_partial_fit_exists_only_for_ols_probes():
    assert hasattr(NeuronProbeSearch("ols"), "partial_fit")
    for probe in ("auto", "svm", "logistic", "threshold"):
        assert not hasattr(NeuronProbeSearch(probe), "partial_fit")


def test_partial_fit_bad_chunks(data):
    X, Y, groups = data
    search = NeuronProbeSearch("ols", cv=3)
    with pytest.raises(InputError, match="integer group ids"):
        search.partial_fit(X[:100], Y[:100], groups_chunk=groups[:100] + 0.5)
    with pytest.raises(InputError, match="non-negative"):
        search.partial_fit(X[:100], Y[:100], groups_chunk=groups[:100] - 5)
    with pytest.raises(InputError, match="groups_chunk has 99"):
        search.partial_fit(X[:100], Y[:100], groups_chunk=groups[:99])
    search.partial_fit(X[:100], Y[:100], groups_chunk=groups[:100])
    with pytest.raises(InputError, match="feature columns"):
        search.partial_fit(X[100:200], Y[100:200, :2], groups_chunk=groups[100:200])
    with pytest.raises(ValueError, match="features"):
        search.partial_fit(X[100:200, :3], Y[100:200], groups_chunk=groups[100:200])
    with pytest.raises(InputTypeError):
        search.partial_fit(X[100:200], [["a"] * 5] * 100, groups_chunk=groups[100:200])


def _npy64(tmp_path, A, name):
    path = os.fspath(tmp_path / name)
    np.save(path, A)
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("probe", ["ols", "auto"])
def test_memmapped_labels_give_identical_results(tmp_path, small_blocks, data, probe):
    X, Y, groups = data
    H = np.load(_to_npy(tmp_path, X), mmap_mode="r")
    Ym = _npy64(tmp_path, Y, "Y.npy")
    assert _streaming.file_source(Ym) is not None  # read by path, not mapped whole
    ref = NeuronProbeSearch(probe, cv=5, top_k=3).fit(H, Y, groups)
    got = NeuronProbeSearch(probe, cv=5, top_k=3).fit(H, Ym, groups)
    np.testing.assert_array_equal(got.scores_, ref.scores_)
    np.testing.assert_array_equal(got.chance_scores_, ref.chance_scores_)
    assert got.best_units_.tolist() == ref.best_units_.tolist()
    for name in ref.target_names_:
        np.testing.assert_array_equal(
            got.best_estimators_[name].predict(X[:50, :1]),
            ref.best_estimators_[name].predict(X[:50, :1]),
        )
    # and equal to the all-in-memory search, to the rounding of chunk pooling
    mem = NeuronProbeSearch(probe, cv=5, top_k=3).fit(X, Y, groups)
    np.testing.assert_allclose(got.scores_, mem.scores_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.chance_scores_, mem.chance_scores_, atol=1e-12)
    # a 1-D memmapped label column is read by path too
    y1 = _npy64(tmp_path, np.ascontiguousarray(Y[:, 3]), "y1.npy")
    one = NeuronProbeSearch("ols", cv=5).fit(H, y1, groups)
    ref1 = NeuronProbeSearch("ols", cv=5).fit(H, Y[:, 3], groups)
    np.testing.assert_array_equal(one.scores_, ref1.scores_)
    assert one.predict(X[:7]).shape == (7,)


def test_memmapped_labels_with_infinity_name_the_column(tmp_path, data):
    X, Y, _ = data
    Y = Y.copy()
    Y[1300, 2] = np.inf
    with pytest.raises(InputError, match="'y2' contains infinity"):
        NeuronProbeSearch(cv=3).fit(X, _npy64(tmp_path, Y, "Y.npy"))


def test_kfold_splits_are_kept_as_one_small_fold_id(data):
    X, Y, groups = data
    search = NeuronProbeSearch(cv=7)
    splits, fold_id = search._splits(X, groups)
    assert fold_id.dtype == np.int8 and len(splits) == 7
    assert all(pair is None for pair in splits._pairs)  # no index arrays held
    from sklearn.model_selection import GroupKFold

    for (tr, te), (tr0, te0) in zip(
        splits, GroupKFold(7).split(X, None, groups), strict=True
    ):
        np.testing.assert_array_equal(tr, tr0)
        np.testing.assert_array_equal(te, te0)


@pytest.mark.parametrize("out_of_core", [False, True])
def test_refitted_probes_do_not_pin_row_sized_buffers(tmp_path, data, out_of_core):
    # LinearRegression's coef_ is a view of lstsq's n_rows-long work array; kept as
    # is, every best_estimators_ entry would hold a copy of a training column.
    X, Y, groups = data
    H = np.load(_to_npy(tmp_path, X), mmap_mode="r") if out_of_core else X
    search = NeuronProbeSearch("ols", cv=5).fit(H, Y, groups)
    ref = NeuronProbeSearch("ols", cv=5).fit(X, Y, groups)
    for name, probe in search.best_estimators_.items():
        arrays = {k: v for k, v in vars(probe).items() if isinstance(v, np.ndarray)}
        assert arrays["coef_"].shape == (1,)
        for key, value in arrays.items():
            assert value.base is None, (name, key)
        np.testing.assert_allclose(
            probe.coef_, ref.best_estimators_[name].coef_, rtol=1e-12
        )
