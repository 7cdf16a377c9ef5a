"""Every public estimator and function, given bad input of each class, raises one
clear SkdniError whose message names the argument / text / position, and changes
no file outside a temporary folder (issue 11)."""

import json
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils._param_validation import (
    InvalidParameterError as SklearnInvalidParameterError,
)

import skdni
from skdni import (
    CharLanguageModel,
    EmptyCorpusError,
    FunctionFeaturizer,
    GrammarError,
    InputError,
    InputTypeError,
    Intervention,
    InvalidParameterError,
    LSTMActivationTransformer,
    ModelFileError,
    NeuronAblationScorer,
    NotFittedError,
    ParserStateFeaturizer,
    ParseTreeFeaturizer,
    RegexFeaturizer,
    SkdniError,
    char_offsets,
    sequence_ids,
)
from skdni.datasets import compile_grammar, load_text_files, make_corpus
from skdni.features import character_features
from skdni.intervention import (
    clamped_generation,
    count_class_in_generations,
    generate_with_interventions,
)
from skdni.probing import NeuronProbeSearch
from skdni.probing._fast_threshold import ThresholdClassifier

ROOT = Path(skdni.__file__).resolve().parent.parent
NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def lm():
    texts = ["1+2", "(3*4)", "5-6", "7/8+9"] * 3
    return CharLanguageModel(units=4, epochs=1, random_state=0, verbose=0).fit(texts)


@pytest.fixture(scope="module")
def model_file(lm, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "lm.keras"
    lm.save(path)
    return path


@pytest.fixture(scope="module")
def search():
    X = np.random.default_rng(0).normal(size=(40, 3))
    return NeuronProbeSearch(cv=2).fit(X, (X[:, 0] > 0) * 1.0), X


def _snapshot():
    """(path, size, mtime) of the project's files, and the temp dir's partial files."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
        for name in filenames:
            path = os.path.join(dirpath, name)
            stat = os.stat(path)
            files[path] = (stat.st_size, stat.st_mtime_ns)
    partial = {p for p in os.listdir(tempfile.gettempdir()) if p.endswith(".partial")}
    return files, partial


@pytest.fixture(autouse=True)
def no_file_outside_tmp_changes():
    before = _snapshot()
    yield
    after = _snapshot()
    assert after[0] == before[0], "a file of the project changed"
    assert after[1] <= before[1], f"left partial files: {after[1] - before[1]}"


def _tampered(model_file, tmp_path, change):
    from skdni.models._char_lm import _SIDECAR

    path = tmp_path / "tampered.keras"
    with zipfile.ZipFile(model_file) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == _SIDECAR:
                sidecar = json.loads(data)
                change(sidecar)
                data = json.dumps(sidecar)
            dst.writestr(name, data)
    return path


def _latin1_grammar(tmp_path):
    path = tmp_path / "latin1.lark"
    path.write_bytes('start: "caf\xe9"\n'.encode("latin-1"))
    return path


def _gen(texts):
    return (t for t in texts)


def _function(result):
    return lambda text: result(text)


REGEX = {"digit": r"\d"}

# (id, call(lm, search, X, tmp_path, model_file), error class, message regex)
CASES = [
    # ---------------------------------------------------------------- corpora
    (
        "dict corpus",
        lambda c: RegexFeaturizer(REGEX).fit_transform({"1": 0}),
        InputTypeError,
        r"mapping \(dict\).*list",
    ),
    (
        "set corpus",
        lambda c: ParseTreeFeaturizer("arithmetic").fit({"1+2", "3"}),
        InputTypeError,
        r"unordered set.*PYTHONHASHSEED|unordered set.*sorted",
    ),
    (
        "frozenset corpus",
        lambda c: character_features().fit(frozenset({"a"})),
        InputTypeError,
        r"unordered frozenset",
    ),
    (
        "generator corpus",
        lambda c: RegexFeaturizer(REGEX).fit_transform(_gen(["1"])),
        InputTypeError,
        r"one-shot iterator.*list\(texts\)",
    ),
    (
        "map corpus",
        lambda c: ParserStateFeaturizer("arithmetic").fit(map(str, [1])),
        InputTypeError,
        r"one-shot iterator \(map\)",
    ),
    (
        "dict keys corpus",
        lambda c: RegexFeaturizer(REGEX).fit({"1": 0}.keys()),
        InputTypeError,
        r"unordered dict_keys",
    ),
    (
        "DataFrame corpus",
        lambda c: RegexFeaturizer(REGEX).fit(pd.DataFrame({"t": ["1"]})),
        InputTypeError,
        r"df\['text'\]",
    ),
    (
        "LM fit set",
        lambda c: CharLanguageModel(units=2).fit({"ab", "cd"}),
        InputTypeError,
        r"unordered set",
    ),
    (
        "LM predict generator",
        lambda c: c.lm.predict_proba(_gen(["1+2"])),
        InputTypeError,
        r"one-shot iterator",
    ),
    (
        "activations dict",
        lambda c: LSTMActivationTransformer(c.lm).fit({"1": 2}),
        InputTypeError,
        r"mapping",
    ),
    (
        "scorer set",
        lambda c: NeuronAblationScorer(c.lm, units=[0], k=1).score({"1+2"}),
        InputTypeError,
        r"unordered set",
    ),
    (
        "sequence_ids dict",
        lambda c: sequence_ids({"ab": 1}),
        InputTypeError,
        r"mapping",
    ),
    (
        "char_offsets generator",
        lambda c: char_offsets(_gen(["ab"])),
        InputTypeError,
        r"one-shot iterator",
    ),
    (
        "bare string",
        lambda c: RegexFeaturizer(REGEX).fit("123"),
        InputTypeError,
        r"wrap it in a list",
    ),
    (
        "non-str text",
        lambda c: character_features().fit(["a", 3]),
        InputTypeError,
        r"Text 1 is a int",
    ),
    (
        "empty corpus",
        lambda c: ParseTreeFeaturizer("arithmetic").fit([]),
        EmptyCorpusError,
        r"corpus is empty",
    ),
    (
        "empty text",
        lambda c: c.lm.predict_proba(["1", ""]),
        EmptyCorpusError,
        r"Text 1 is empty",
    ),
    # ------------------------------------------------------ lone surrogates
    (
        "surrogate char features",
        lambda c: character_features().fit(["ab", "1+\ud800"]),
        InputError,
        r"Text 1 .*surrogate.*character 2",
    ),
    (
        "surrogate regex",
        lambda c: RegexFeaturizer(REGEX).fit_transform(["\udfff"]),
        InputError,
        r"Text 0 .*surrogate.*character 0",
    ),
    (
        "surrogate LM predict",
        lambda c: c.lm.predict_proba(["1+\ud800"]),
        InputError,
        r"Text 0 .*character 2",
    ),
    (
        "surrogate LM fit",
        lambda c: CharLanguageModel(units=2).fit(["1+2", "\ud800"]),
        InputError,
        r"Text 1 .*character 0",
    ),
    (
        "surrogate activations",
        lambda c: LSTMActivationTransformer(c.lm).fit_transform(["1+2", "3\ud800"]),
        InputError,
        r"Text 1 .*character 1",
    ),
    (
        "surrogate parse tree",
        lambda c: ParseTreeFeaturizer("arithmetic").fit(["1+\ud800"]),
        InputError,
        r"Text 0 .*character 2",
    ),
    (
        "surrogate scorer",
        lambda c: NeuronAblationScorer(c.lm, units=[0], k=1).score(["1+\ud800"]),
        InputError,
        r"Text 0 .*character 2",
    ),
    # ------------------------------------------------- function featurizer
    (
        "function returns str",
        lambda c: FunctionFeaturizer(_function(lambda t: "0" * len(t))).fit(["ab"]),
        InputError,
        r"Text 0: .*returned a string",
    ),
    (
        "function returns generator",
        lambda c: FunctionFeaturizer(_function(lambda t: (0 for _ in t))).fit(
            ["ab", "cd"]
        ),
        InputError,
        r"Text 0: .*returned an iterator.*list",
    ),
    (
        "function returns words",
        lambda c: FunctionFeaturizer(_function(lambda t: ["x"] * len(t))).fit(["ab"]),
        InputError,
        r"Text 0: .*not numbers",
    ),
    (
        "function wrong length",
        lambda c: FunctionFeaturizer(_function(lambda t: [0.0])).fit(["ab", "cde"]),
        InputError,
        r"Text 0: .*shape",
    ),
    (
        "function label 2",
        lambda c: FunctionFeaturizer(
            _function(lambda t: [0.0] * (len(t) - 1) + [2.0])
        ).fit(["ab"]),
        InputError,
        r"Text 0: label 2.0 at character 1",
    ),
    (
        "function label inf",
        lambda c: FunctionFeaturizer(_function(lambda t: [INF] * len(t))).fit(["ab"]),
        InputError,
        r"Text 0: label inf at character 0",
    ),
    # ------------------------------------------------------- interventions
    (
        "Intervention clamp nan",
        lambda c: Intervention(units=[0], mode="clamp", values=NAN),
        InputError,
        r"values: clamp values must be finite; got nan",
    ),
    (
        "Intervention clamp inf",
        lambda c: Intervention(units=[0, 1], mode="clamp", values=[1.0, INF]),
        InputError,
        r"values: .*finite; got inf at index \(1,\)",
    ),
    (
        "Intervention mean -inf",
        lambda c: Intervention(units=[0], mode="mean", values=[-INF]),
        InputError,
        r"mean values must be finite",
    ),
    (
        "Intervention pattern inf",
        lambda c: Intervention(units=[0], mode="pattern", values=[0.5, np.nan, INF]),
        InputError,
        r"pattern values must be finite.*inf at index \(2,\)",
    ),
    (
        "Intervention oracle 1.5",
        lambda c: Intervention(units=[0], mode="oracle", values=[0.0, 1.5]),
        InputError,
        r"\[0, 1\].*1.5 at index \(1,\)",
    ),
    (
        "Intervention text values",
        lambda c: Intervention(units=[0], mode="clamp", values=["high"]),
        InputError,
        r"values must be numbers",
    ),
    (
        "clamped_generation nan",
        lambda c: clamped_generation(
            c.lm, [0, 1], seeds=["1"], n_chars=3, ks=[1], value=NAN
        ),
        InputError,
        r"value for unit 0 is nan: values must be finite",
    ),
    (
        "count_class_in_generations inf",
        lambda c: count_class_in_generations(
            c.lm, [0, 1], "0123", seed="1", n_chars=3, k=[1], value=INF
        ),
        InputError,
        r"value for unit 0 is inf: values must be finite",
    ),
    (
        "generate clamp nan",
        lambda c: generate_with_interventions(
            c.lm,
            "1",
            3,
            interventions=[Intervention(units=[0], mode="clamp", values=NAN)],
        ),
        InputError,
        r"finite",
    ),
    (
        "scorer clamp nan",
        lambda c: NeuronAblationScorer(
            c.lm, units=[0, 1], k=1, mode="clamp", value=NAN
        ).score(["1+2"]),
        InputError,
        r"value for unit 0 is nan: values must be finite",
    ),
    (
        "scorer oracle label 2",
        lambda c: NeuronAblationScorer(c.lm, units=[0, 1], k=1, mode="oracle").score(
            ["1+2"], [0, 2.0, 0.5]
        ),
        InputError,
        r"y\[1\] \(text 0\) is 2.0: oracle labels must be in \[0, 1\]",
    ),
    (
        "scorer oracle label -inf",
        lambda c: NeuronAblationScorer(c.lm, units=[0, 1], k=1, mode="oracle").score(
            ["1+2"], [0, 1, -INF]
        ),
        InputError,
        r"y\[2\] \(text 0\) is -inf: oracle labels must be in \[0, 1\]",
    ),
    (
        "clamped_generation n_jobs=0",
        lambda c: clamped_generation(
            c.lm, [0, 1], seeds=["1"], n_chars=3, ks=[1], n_jobs=0
        ),
        InputError,
        r"n_jobs must be a non-zero int",
    ),
    (
        "clamped_generation k=0",
        lambda c: clamped_generation(c.lm, [0, 1], seeds=["1"], n_chars=3, ks=[0]),
        InputError,
        r"k must be a positive int, got 0",
    ),
    (
        "count_class_in_generations n_random=-1",
        lambda c: count_class_in_generations(
            c.lm, [0, 1], "0", seed="1", n_chars=3, k=[1], n_random=-1
        ),
        InputError,
        r"n_random must be an int >= 0, got -1",
    ),
    (
        "generate temperature nan",
        lambda c: generate_with_interventions(c.lm, "1", 3, temperature=NAN),
        InputError,
        r"temperature must be a number >= 0 \(finite\), got nan",
    ),
    (
        "generate temperature inf",
        lambda c: generate_with_interventions(c.lm, "1", 3, temperature=INF),
        InputError,
        r"temperature .* got inf",
    ),
    (
        "Intervention oracle_range inf",
        lambda c: Intervention(
            units=[0], mode="oracle", values=[0.5], oracle_range=(0, INF)
        ),
        InputError,
        r"oracle_range must be two finite numbers",
    ),
    (
        "scorer oracle_range nan",
        lambda c: NeuronAblationScorer(
            c.lm, units=[0, 1], k=1, mode="oracle", oracle_range=(NAN, 1)
        ).score(["1+2"], [0, 1, 0]),
        InputError,
        r"oracle_range for unit 0 is nan: values must be finite",
    ),
    # ------------------------------------------------------- probe search
    (
        "duplicate feature names",
        lambda c: NeuronProbeSearch(cv=2).fit(
            c.X, pd.DataFrame(np.c_[c.y, c.y], columns=["feat", "feat"])
        ),
        InputError,
        r"duplicate feature .*\['feat'\]",
    ),
    (
        "duplicate unit names",
        lambda c: NeuronProbeSearch(cv=2).fit(
            pd.DataFrame(c.X, columns=["u", "u", "v"]), c.y
        ),
        InputError,
        r"invalid X.*unique column names.*'u'",
    ),
    (
        "cv=1",
        lambda c: NeuronProbeSearch(cv=1).fit(c.X, c.y),
        InvalidParameterError,
        r"'cv' parameter of NeuronProbeSearch",
    ),
    (
        "top_k=0",
        lambda c: NeuronProbeSearch(top_k=0).fit(c.X, c.y),
        InvalidParameterError,
        r"'top_k' parameter",
    ),
    (
        "n_jobs=0",
        lambda c: NeuronProbeSearch(cv=2, n_jobs=0).fit(c.X, c.y),
        InvalidParameterError,
        r"'n_jobs' parameter of NeuronProbeSearch",
    ),
    (
        "scoring bogus",
        lambda c: NeuronProbeSearch(cv=2, scoring="bogus").fit(c.X, c.y),
        InvalidParameterError,
        r"'scoring' parameter of NeuronProbeSearch.*Got 'bogus'",
    ),
    (
        "search transform unfitted",
        lambda c: NeuronProbeSearch().transform(c.X),
        NotFittedError,
        r"NeuronProbeSearch .*not fitted",
    ),
    (
        "search 1-D X",
        lambda c: NeuronProbeSearch(cv=2).fit(c.X[:, 0], c.y),
        InputError,
        r"invalid X.*2D array",
    ),
    (
        "search string X",
        lambda c: NeuronProbeSearch(cv=2).fit(np.full((40, 3), "a"), c.y),
        InputError,
        r"invalid X.*string",
    ),
    (
        "search predict width",
        lambda c: c.search.predict(c.X[:, :2]),
        InputError,
        r"X has 2 features.*expecting 3",
    ),
    (
        "partial_fit width",
        lambda c: (
            NeuronProbeSearch(cv=2, probe="ols")
            .partial_fit(c.X, c.y, np.arange(40) // 4)
            .partial_fit(c.X[:, :2], c.y, np.arange(40) // 4)
        ),
        InputError,
        r"X has 2 features.*expecting 3",
    ),
    (
        "partial_fit cv=1",
        lambda c: NeuronProbeSearch(cv=1, probe="ols").partial_fit(
            c.X, c.y, np.arange(40) // 4
        ),
        InvalidParameterError,
        r"'cv' parameter",
    ),
    (
        "threshold unfitted",
        lambda c: ThresholdClassifier().predict(c.X),
        NotFittedError,
        r"ThresholdClassifier .*not fitted",
    ),
    (
        "threshold 1-D X",
        lambda c: ThresholdClassifier().fit(c.X[:, 0], c.y),
        InputError,
        r"ThresholdClassifier: invalid X / y",
    ),
    # --------------------------------------------------------- parameters
    (
        "LM units=0",
        lambda c: CharLanguageModel(units=0).fit(["ab"]),
        InvalidParameterError,
        r"'units' parameter of CharLanguageModel",
    ),
    (
        "LM cell bogus",
        lambda c: CharLanguageModel(cell="bogus").fit(["ab"]),
        InvalidParameterError,
        r"'cell' parameter",
    ),
    (
        "LM unfitted",
        lambda c: CharLanguageModel().predict_proba(["ab"]),
        NotFittedError,
        r"CharLanguageModel .*not fitted",
    ),
    (
        "activations batch_size=0",
        lambda c: LSTMActivationTransformer(c.lm, batch_size=0).fit(["1"]),
        InvalidParameterError,
        r"'batch_size'",
    ),
    (
        "activations unfitted",
        lambda c: LSTMActivationTransformer(c.lm).transform(["1"]),
        NotFittedError,
        r"LSTMActivationTransformer",
    ),
    (
        "activations n_jobs=0",
        lambda c: LSTMActivationTransformer(c.lm, n_jobs=0).fit(["1"]),
        InvalidParameterError,
        r"'n_jobs'",
    ),
    (
        "parse tree parser bogus",
        lambda c: ParseTreeFeaturizer("arithmetic", parser="cyk").fit(["1"]),
        InvalidParameterError,
        r"'parser'",
    ),
    (
        "parse tree n_jobs=0",
        lambda c: ParseTreeFeaturizer("arithmetic", n_jobs=0).fit(["1"]),
        InvalidParameterError,
        r"'n_jobs'",
    ),
    (
        "parser state on_error",
        lambda c: ParserStateFeaturizer("arithmetic", on_error="skip").fit(["1"]),
        InvalidParameterError,
        r"'on_error'",
    ),
    (
        "regex unfitted",
        lambda c: RegexFeaturizer(REGEX).transform(["1"]),
        NotFittedError,
        r"RegexFeaturizer",
    ),
    (
        "regex representation",
        lambda c: RegexFeaturizer(REGEX, representation="depth").fit(["1"]),
        InvalidParameterError,
        r"'representation'",
    ),
    (
        "function kind",
        lambda c: FunctionFeaturizer(len, kind="odd").fit(["1"]),
        InvalidParameterError,
        r"'kind'",
    ),
    (
        "scorer k=-1",
        lambda c: NeuronAblationScorer(c.lm, units=[0], k=-1).score(["1"]),
        InvalidParameterError,
        r"'k' parameter",
    ),
    (
        "scorer mode bogus",
        lambda c: NeuronAblationScorer(c.lm, units=[0], mode="bogus").score(["1"]),
        InvalidParameterError,
        r"'mode' parameter",
    ),
    (
        "bracket pairs",
        lambda c: character_features(brackets="("),
        InputError,
        r"pairs must alternate.*'\('",
    ),
    (
        "run_study cv=1",
        lambda c: skdni.run_study(cv=1, out=None),
        InvalidParameterError,
        r"cv: The 'cv' parameter",
    ),
    (
        "run_study seed=-1",
        lambda c: skdni.run_study(seed=-1, out=None),
        InvalidParameterError,
        r"seed: The 'random_state' parameter",
    ),
    (
        "run_study n_jobs=0",
        lambda c: skdni.run_study(n_jobs=0, out=None),
        InvalidParameterError,
        r"n_jobs: expected a non-zero integer",
    ),
    # -------------------------------------------------------------- files
    (
        "grammar not UTF-8",
        lambda c: ParseTreeFeaturizer(_latin1_grammar(c.tmp)).fit(["1"]),
        GrammarError,
        r"latin1\.lark.*not UTF-8.*0xe9 at byte offset 11",
    ),
    (
        "compile grammar not UTF-8",
        lambda c: compile_grammar(_latin1_grammar(c.tmp)),
        GrammarError,
        r"latin1\.lark.*not UTF-8",
    ),
    (
        "out= a folder (features)",
        lambda c: RegexFeaturizer(REGEX, out=c.tmp).fit_transform(["1"]),
        InputError,
        r"out=.* is a folder",
    ),
    (
        "out= a folder (activations)",
        lambda c: LSTMActivationTransformer(c.lm, out=c.tmp).fit_transform(["1"]),
        InputError,
        r"out=.* is a folder",
    ),
    (
        "out= missing folder",
        lambda c: ParseTreeFeaturizer(
            "arithmetic", out=c.tmp / "no" / "Y.npy"
        ).fit_transform(["1"]),
        InputError,
        r"folder .*no' does not exist",
    ),
    (
        "sidecar unknown parameter",
        lambda c: CharLanguageModel.load(
            _tampered(c.model_file, c.tmp, lambda s: s["params"].update(bogus=1))
        ),
        ModelFileError,
        r"tampered\.keras.*unknown parameter.*bogus",
    ),
    (
        "sidecar missing vocabulary",
        lambda c: CharLanguageModel.load(
            _tampered(c.model_file, c.tmp, lambda s: s.pop("vocabulary"))
        ),
        ModelFileError,
        r"tampered\.keras.*missing vocabulary",
    ),
    (
        "sidecar invalid parameter",
        lambda c: CharLanguageModel.load(
            _tampered(c.model_file, c.tmp, lambda s: s["params"].update(units="x"))
        ),
        ModelFileError,
        r"tampered\.keras.*'units' parameter",
    ),
    (
        "sidecar bad vocabulary",
        lambda c: CharLanguageModel.load(
            _tampered(c.model_file, c.tmp, lambda s: s.update(vocabulary=["b", "a"]))
        ),
        ModelFileError,
        r"tampered\.keras.*'vocabulary'",
    ),
    (
        "model file missing",
        lambda c: CharLanguageModel.load(c.tmp / "none.keras"),
        ModelFileError,
        r"none\.keras",
    ),
    (
        "load_text_files missing",
        lambda c: load_text_files(c.tmp / "nothing"),
        InputError,
        r"nothing' does not exist",
    ),
    (
        "make_corpus n_chars",
        lambda c: make_corpus("arithmetic", n_chars=-1),
        InputError,
        r"n_chars must be >= 1",
    ),
]


class _Context:
    def __init__(self, lm, search, tmp, model_file):
        self.lm, self.search, self.tmp, self.model_file = lm, search[0], tmp, model_file
        self.X = search[1]
        self.y = (self.X[:, 0] > 0) * 1.0


def test_at_least_60_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_one_clear_skdni_error(
    call, error, pattern, lm, search, tmp_path, model_file
):
    context = _Context(lm, search, tmp_path, model_file)
    before = sorted(p.name for p in tmp_path.iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(error) as info:
            call(context)
    assert isinstance(info.value, SkdniError)
    assert re.search(pattern, str(info.value), re.S), str(info.value)
    assert len(str(info.value)) < 1000, "messages say what a user needs, not more"
    # no partial output left in the temporary folder either
    after = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in after if n.endswith(".partial")]
    assert set(after) - set(before) <= {"latin1.lark", "tampered.keras"}


def test_sklearn_handlers_keep_working(search):
    _, X = search
    with pytest.raises(SklearnInvalidParameterError):
        NeuronProbeSearch(cv=1).fit(X, X[:, 0] > 0)
    with pytest.raises(SklearnNotFittedError):
        NeuronProbeSearch().transform(X)
    with pytest.raises(ValueError, match="2D array"):
        NeuronProbeSearch(cv=2).fit(X[:, 0], X[:, 0] > 0)
    assert issubclass(InvalidParameterError, SkdniError)
    assert issubclass(NotFittedError, SklearnNotFittedError)
    assert issubclass(NotFittedError, AttributeError)


def test_sequences_of_str_are_accepted():
    texts = ["1+2", "3"]
    expected = RegexFeaturizer(REGEX).fit_transform(texts)
    for corpus in (
        tuple(texts),
        np.array(texts),
        np.array(texts, dtype=object),
        pd.Series(texts),
        pd.Index(texts),
    ):
        np.testing.assert_array_equal(
            RegexFeaturizer(REGEX).fit_transform(corpus), expected
        )


def test_safe_mode_refusal_is_short_and_says_how_to_load_deliberately(tmp_path):
    from skdni._backend import import_keras
    from skdni.models._char_lm import _FORMAT, _SIDECAR

    keras = import_keras()
    inputs = keras.Input(shape=(4,), dtype="int32")
    x = keras.layers.Embedding(3, 4)(inputs)
    x = keras.layers.LSTM(4, return_sequences=True)(x)
    x = keras.layers.Lambda(lambda t: t * 2)(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    path = tmp_path / "lambda.keras"
    model.save(path)
    sidecar = {"format": _FORMAT, "vocabulary": ["a", "b"], "params": {}}
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(_SIDECAR, json.dumps(sidecar))
    with pytest.raises(ModelFileError) as info:
        CharLanguageModel.load(path)
    message = str(info.value)
    assert "lambda.keras" in message and "Lambda" in message
    assert "safe_mode=False" in message and "from_keras" in message
    assert len(message) < 500 and "config" not in message


def test_unregistered_custom_layer_refusal_is_short(tmp_path):
    import subprocess
    import sys

    # a class registered in another process is unknown here, as for a user who
    # receives the file; Keras's own message holds the whole model config
    script = """
import json, sys, zipfile
from skdni._backend import import_keras
from skdni.models._char_lm import _FORMAT, _SIDECAR
keras = import_keras()
@keras.saving.register_keras_serializable(package="evil")
class Evil(keras.layers.Layer):
    def call(self, x):
        return x
model = keras.Sequential([keras.Input(shape=(4,)), Evil()])
model.save(sys.argv[1])
with zipfile.ZipFile(sys.argv[1], "a") as archive:
    archive.writestr(_SIDECAR, json.dumps({"format": _FORMAT}))
"""
    path = tmp_path / "custom.keras"
    subprocess.run(
        [sys.executable, "-c", script, str(path)], check=True, cwd=ROOT, timeout=300
    )
    with pytest.raises(ModelFileError) as info:
        CharLanguageModel.load(path)
    message = str(info.value)
    assert "custom.keras" in message and "'evil>Evil'" in message
    assert len(message) < 500 and "safe_mode=False" in message
