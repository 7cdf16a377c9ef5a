"""``out=PATH``: featurizers stream their labels into a ``.npy`` memmap."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from skdni import InputError
from skdni.features import (
    BracketDepth,
    FunctionFeaturizer,
    ParserStateFeaturizer,
    ParseTreeFeaturizer,
    RegexFeaturizer,
    _base,
)
from skdni.features._base import _chunk_bounds
from skdni.utils.estimator_checks import text_estimator_checks

# "(1+" does not parse: NaN rows in the middle of a chunk with on_error="nan"
TEXTS = ["((1+2))", "3*(4-5)/6", "(1+", "7", "8-9*(1+2)", "(3)", "4/5"]
N_CHARS = sum(map(len, TEXTS))

FACTORIES = {
    "parse_tree": lambda **kw: ParseTreeFeaturizer(
        "arithmetic", shift=1, on_error="nan", **kw
    ),
    "parse_tree_float32": lambda **kw: ParseTreeFeaturizer(
        "arithmetic", shift=-2, on_error="nan", dtype=np.float32, **kw
    ),
    "parser_state": lambda **kw: ParserStateFeaturizer(
        "arithmetic", shift=1, on_error="nan", **kw
    ),
    # module-level callables pickle to worker processes
    "function": lambda **kw: FunctionFeaturizer(BracketDepth("()", 2), **kw),
    "regex": lambda **kw: RegexFeaturizer(
        {"digit": r"\d", "paren": r"\([^()]*\)"}, representation="impulse", **kw
    ),
}


@pytest.fixture
def small_chunks(monkeypatch):
    """A few texts per chunk, so chunk boundaries fall between every few texts."""
    monkeypatch.setattr(_base, "_OUT_CHUNK_CELLS", 16)
    spans = []
    iter_chunks = _base._TextFeaturizer._iter_chunks

    def spy(self, *args, **kwargs):
        for lo, hi, res in iter_chunks(self, *args, **kwargs):
            spans.append((lo, hi))
            yield lo, hi, res

    monkeypatch.setattr(_base._TextFeaturizer, "_iter_chunks", spy)
    return spans


def _quiet(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the "(1+" parse failure
        return call(*args)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_out_equals_the_in_memory_labels(name, n_jobs, tmp_path, small_chunks):
    make = FACTORIES[name]
    memory = make(n_jobs=n_jobs)
    expected_fit = _quiet(memory.fit_transform, TEXTS)
    expected = _quiet(memory.transform, TEXTS)

    path = tmp_path / "Y.npy"
    streamed = make(n_jobs=n_jobs, out=path)
    got_fit = _quiet(streamed.fit_transform, TEXTS)
    small_chunks.clear()
    got = _quiet(streamed.transform, TEXTS)

    # several chunks, covering the texts in order
    assert len(small_chunks) > 2
    assert [lo for lo, _ in small_chunks] == [0] + [hi for _, hi in small_chunks[:-1]]
    assert small_chunks[-1][1] == len(TEXTS)
    dtype = np.dtype(getattr(memory, "dtype", np.float64))
    for arr, ref in ((got_fit, expected_fit), (got, expected)):
        assert isinstance(arr, np.memmap)
        assert arr.shape == (N_CHARS, len(memory.get_feature_names_out()))
        assert arr.dtype == dtype
        np.testing.assert_array_equal(arr, ref)  # NaN-aware
    np.testing.assert_array_equal(np.load(path, mmap_mode="r"), expected)
    assert streamed.get_feature_names_out().tolist() == (
        memory.get_feature_names_out().tolist()
    )
    assert streamed.feature_kinds_ == memory.feature_kinds_
    if hasattr(memory, "failed_texts_"):
        assert streamed.failed_texts_ == memory.failed_texts_ == [2]
        assert np.isnan(expected[16:19]).all()  # shift or not, "(1+" rows are NaN


def test_parse_failure_still_warns_when_streaming(tmp_path):
    f = ParseTreeFeaturizer("arithmetic", on_error="nan", out=tmp_path / "Y.npy")
    with pytest.warns(UserWarning, match="1 text"):
        f.fit_transform(TEXTS)
    with pytest.warns(UserWarning, match="1 text"):
        f.transform(TEXTS[1:])
    assert f.failed_texts_ == [1]


def test_function_featurizer_column_count_checked_across_chunks(tmp_path, small_chunks):
    def ragged(text):
        return np.zeros((len(text), 1 if text[0] == "(" else 2))

    f = FunctionFeaturizer(ragged, out=tmp_path / "Y.npy")
    with pytest.raises(InputError, match="Text 1: .* 2 columns, but 1 were seen"):
        f.fit_transform(TEXTS)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_pandas_output_with_out_is_refused_before_writing(name, tmp_path):
    path = tmp_path / "Y.npy"
    f = FACTORIES[name](out=path).set_output(transform="pandas")
    with pytest.raises(InputError, match=r"out=.*set_output\(transform='default'\)"):
        _quiet(f.fit_transform, TEXTS)
    _quiet(f.set_params(out=None).fit, TEXTS)
    with pytest.raises(InputError, match="memory-mapped .npy"):
        f.set_params(out=path).transform(TEXTS)
    assert not path.exists()
    frame = _quiet(f.set_params(out=None).transform, TEXTS)
    assert frame.shape == (N_CHARS, len(f.get_feature_names_out()))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_clone_keeps_out(name, tmp_path):
    path = str(tmp_path / "Y.npy")
    f = FACTORIES[name](out=path)
    assert clone(f).get_params()["out"] == path
    assert FACTORIES[name]().get_params()["out"] is None


def test_out_must_be_a_path():
    f = RegexFeaturizer(["a"], out=3)
    with pytest.raises(ValueError, match="'out' parameter"):
        f.fit(["abc"])


def test_chunk_bounds_cap_the_characters_per_chunk():
    texts = ["ab"] * 10 + ["x" * 9] + ["c"] * 4
    bounds = _chunk_bounds(texts, None, max_chars=4).tolist()
    assert bounds[0] == 0 and bounds[-1] == len(texts)
    assert len(bounds) - 1 >= 33 // 4
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        # at most about max_chars, unless a single text is longer
        assert hi - lo == 1 or sum(map(len, texts[lo:hi])) <= 4 + 2
    assert _chunk_bounds(texts, None).tolist() == [0, len(texts)]


def test_peak_memory_is_one_chunk_not_the_whole_output(tmp_path, monkeypatch):
    # 6,000 texts × 11 characters × 18 float64 columns: ~9.5 MB in memory
    texts = ["(1+2)*(3-4)"] * 6000
    f = ParseTreeFeaturizer("arithmetic").fit(texts[:5])
    full_bytes = 11 * len(texts) * len(f.get_feature_names_out()) * 8
    monkeypatch.setattr(_base, "_OUT_CHUNK_CELLS", 1 << 14)
    f.set_params(out=tmp_path / "Y.npy")
    tracemalloc.start()
    try:
        Y = f.transform(texts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert Y.shape == (11 * len(texts), len(f.get_feature_names_out()))
    np.testing.assert_array_equal(Y[-11:], f.set_params(out=None).transform(texts[:1]))
    assert peak < full_bytes / 4, (peak, full_bytes)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_text_estimator_checks_pass_with_out(name, tmp_path):
    # every skdni check but the pandas one, which out= refuses by design
    est = FACTORIES[name](out=tmp_path / "Y.npy")
    texts = ["1+2", "(3)", "4*5"]
    checks = [
        (e, check)
        for e, check in text_estimator_checks(est, texts)
        if "pandas" not in getattr(check, "__name__", str(check))
    ]
    assert len(checks) >= 3
    for e, check in checks:
        check(type(est).__name__, e, texts, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Y.npy"]


def test_an_earlier_memmap_survives_the_next_transform(tmp_path):
    path = tmp_path / "Y.npy"
    f = RegexFeaturizer({"d": r"\d"}, out=path).fit(["1"])
    first = f.transform(["a1b2c3d4e5" * 100])
    second = f.transform(["xy"])
    assert first.shape == (1000, 1) and first[1::2].sum() == 500
    assert np.load(path).tolist() == [[0.0], [0.0]] == second.tolist()
    assert str(second.filename) == str(path)


def test_a_failed_run_leaves_the_previous_file_and_no_partial_file(tmp_path):
    path = tmp_path / "Y.npy"
    f = ParseTreeFeaturizer("arithmetic", out=path).fit(["1+2"])
    expected = np.asarray(f.transform(["1+2"]))
    with pytest.raises(Exception, match="Text 1"):
        f.transform(["3", "(1+"])  # on_error="raise"
    np.testing.assert_array_equal(np.load(path), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Y.npy"]
