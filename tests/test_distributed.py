"""The same study on a dask.distributed cluster: results identical to n_jobs=1."""

import os

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from numpy.lib.format import open_memmap

from skdni import sequence_ids
from skdni._backend import import_keras
from skdni.activations import LSTMActivationTransformer
from skdni.datasets import make_arithmetic_corpus
from skdni.features import ParseTreeFeaturizer
from skdni.intervention import NeuronAblationScorer
from skdni.probing import NeuronProbeSearch

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


def _study(texts, H, n_jobs):
    Y = ParseTreeFeaturizer("arithmetic", n_jobs=n_jobs).fit_transform(texts)
    # a few columns: range / depth features of the grammar's rules
    Y = Y[:, :6]
    search = NeuronProbeSearch(cv=4, n_jobs=n_jobs).fit(H, Y, sequence_ids(texts))
    return Y, search


def _ablation(texts, n_jobs):
    keras = import_keras()
    keras.utils.set_random_seed(0)
    vocabulary = sorted(set("".join(texts)))
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(len(vocabulary) + 1, 4),
            keras.layers.LSTM(8, return_sequences=True, name="lstm"),
            keras.layers.Dense(len(vocabulary) + 1, activation="softmax"),
        ]
    )
    scorer = NeuronAblationScorer(
        model,
        [0, 1, 2],
        vocabulary=vocabulary,
        k=[1, 3],
        n_random=3,
        random_state=0,
        n_jobs=n_jobs,
    )
    return scorer.evaluate(texts[:20])


def _activations(texts, n_jobs, out=None):
    keras = import_keras()
    keras.utils.set_random_seed(1)
    vocabulary = sorted(set("".join(texts)))
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(len(vocabulary) + 1, 4),
            keras.layers.LSTM(5, return_sequences=True, name="lstm"),
        ]
    )
    act = LSTMActivationTransformer(
        model,
        vocabulary=vocabulary,
        state="both",
        method="numpy",
        batch_size=10,
        n_jobs=n_jobs,
        out=out,
    )
    return act.fit_transform(texts)


def test_featurization_and_probe_search_on_a_local_cluster(tmp_path):
    texts = make_arithmetic_corpus(60, random_state=0)
    n = sum(map(len, texts))
    rng = np.random.default_rng(0)
    Y0 = ParseTreeFeaturizer("arithmetic").fit_transform(texts)[:, :6]
    H = np.tanh(np.nan_to_num(Y0) @ rng.normal(size=(6, 9)) + rng.normal(size=(n, 9)))
    path = os.fspath(tmp_path / "H.npy")
    out = open_memmap(path, mode="w+", dtype=np.float32, shape=H.shape)
    out[:] = H
    out.flush()
    H32 = np.asarray(out)
    del out

    Y_local, local = _study(texts, H32, n_jobs=1)
    ablation_local = _ablation(texts, n_jobs=1)
    H_local = _activations(texts, n_jobs=1)
    local_mm = NeuronProbeSearch(cv=4, n_jobs=1).fit(
        np.load(path, mmap_mode="r"), Y_local, sequence_ids(texts)
    )
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    client = distributed.Client(cluster)
    try:
        with (
            distributed.get_task_stream(client) as stream,
            parallel_config(backend="dask"),
        ):
            Y_dask, remote = _study(texts, H32, n_jobs=2)
            # workers read the memmap by path
            remote_mm = NeuronProbeSearch(cv=4, n_jobs=2).fit(
                np.load(path, mmap_mode="r"), Y_dask, sequence_ids(texts)
            )
            # random-k intervention draws (seeds drawn in the parent)
            ablation_dask = _ablation(texts, n_jobs=2)
            # activation batches (the RecurrentStack shipped with each batch)
            H_dask = _activations(texts, n_jobs=2)
            H_dask_out = _activations(texts, n_jobs=2, out=tmp_path / "A.npy")
        # the work ran on the cluster's two worker processes
        assert len(stream.data) >= 8
        assert {task["worker"] for task in stream.data} == set(
            client.scheduler_info()["workers"]
        )
    finally:
        client.close()
        cluster.close()
    np.testing.assert_array_equal(Y_dask, Y_local)
    np.testing.assert_array_equal(remote.scores_, local.scores_)
    np.testing.assert_array_equal(remote_mm.scores_, local_mm.scores_)
    np.testing.assert_allclose(local_mm.scores_, local.scores_, rtol=1e-10, atol=1e-12)
    assert local.methods_.isin(["svm", "ols"]).all()
    assert remote.best_units_.tolist() == local.best_units_.tolist()
    pd.testing.assert_frame_equal(ablation_dask, ablation_local)
    assert H_local.shape == (n, 10)
    np.testing.assert_array_equal(H_dask, H_local)
    np.testing.assert_array_equal(H_dask_out, H_local)
    np.testing.assert_array_equal(np.load(tmp_path / "A.npy"), H_local)
    assert ablation_local.attrs["random_scores"] == ablation_dask.attrs["random_scores"]
