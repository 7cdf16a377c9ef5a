"""Fuzzing the grammar featurizers with lark's Python grammar: random unicode and
random prefixes of real standard-library files give valid labels or a SkdniError,
never another exception."""

import functools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skdni import ParserStateFeaturizer, ParseTreeFeaturizer, SkdniError
from skdni.datasets import load_python_source

FUZZ = settings(
    deadline=None,
    max_examples=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEATURIZERS = [ParseTreeFeaturizer, ParserStateFeaturizer]
# any text, plus texts with lone surrogates (st.text() leaves them out)
UNICODE = st.one_of(
    st.text(min_size=1, max_size=40),
    st.text(
        st.characters(categories=["Cs", "L", "N", "P", "S", "Z", "Cc"]),
        min_size=1,
        max_size=40,
    ),
)


@functools.cache
def stdlib_files():
    # ~60k characters of real stdlib files, whole (the prefixes are cut below)
    return [t for t in load_python_source(max_chars=60_000) if len(t) > 20]


@functools.cache
def fitted(featurizer_class):
    # fitted on whole files that parse, so transform sees a known feature set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return featurizer_class("python", on_error="nan").fit(stdlib_files()[:3])


def check_labels_or_skdni_error(featurizer_class, texts, on_error):
    featurizer = fitted(featurizer_class).set_params(on_error=on_error)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            Y = featurizer.transform(texts)
    except SkdniError as exc:
        assert "Text " in str(exc) or "text" in str(exc)
        return
    assert Y.shape == (sum(map(len, texts)), len(featurizer.feature_names_))
    finite = Y[~np.isnan(Y)]
    assert ((finite >= 0) & (finite <= 1)).all()
    for i in featurizer.failed_texts_:
        start = sum(map(len, texts[:i]))
        assert np.isnan(Y[start : start + len(texts[i])]).all()


@pytest.mark.parametrize("featurizer_class", FEATURIZERS)
@pytest.mark.parametrize("on_error", ["raise", "nan"])
@FUZZ
@given(texts=st.lists(UNICODE, min_size=1, max_size=3))
def test_random_unicode(featurizer_class, on_error, texts):
    check_labels_or_skdni_error(featurizer_class, texts, on_error)


@pytest.mark.parametrize("featurizer_class", FEATURIZERS)
@pytest.mark.parametrize("on_error", ["raise", "nan"])
@FUZZ
@given(data=st.data())
def test_random_prefixes_of_stdlib_files(featurizer_class, on_error, data):
    files = stdlib_files()
    texts = []
    for _ in range(data.draw(st.integers(1, 3), label="n_texts")):
        text = files[data.draw(st.integers(0, len(files) - 1), label="file")]
        cut = data.draw(st.integers(1, min(len(text), 3000)), label="cut")
        texts.append(text[:cut])
    check_labels_or_skdni_error(featurizer_class, texts, on_error)


@pytest.mark.parametrize("featurizer_class", FEATURIZERS)
@pytest.mark.parametrize("text", ["#", "x = 1  # note"])
def test_text_ending_in_a_comment_is_a_parse_failure(featurizer_class, text):
    featurizer = fitted(featurizer_class).set_params(on_error="nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        Y = featurizer.transform(["x = 1\n", text])
    # a text that parses never fails; the cut one either parses or is NaN
    assert featurizer.failed_texts_ in ([], [1])
    assert not np.isnan(Y[:6]).any()
