"""A whole Deep Neural Inspection study in one call: corpus → model → activations →
features → probe search → ablations → clamped generation → report."""

import json
import os
import shutil
import sys
import tempfile
import warnings
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from numbers import Integral, Real
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from joblib import Memory
from sklearn.pipeline import FeatureUnion

from ._errors import InputError, InvalidParameterError
from ._texts import check_texts, sequence_ids
from ._warm_up import finish_warm_up, start_warm_up, stop_warm_up

FEATURE_SETS = ("range", "impulse", "depth", "parser", "regex")
#: The grammar sampled when neither a grammar nor a corpus is given: balanced
#: parentheses whose digits equal their nesting level (the paper's §5.1), where the
#: model must track depth and the causal checks show it using the depth units.
DEFAULT_GRAMMAR = "parentheses"
_MANIFEST = "skdni-manifest.json"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/skdni`` (``~/.cache/skdni`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
    return Path(root) / "skdni"


@dataclass
class StudyConfig:
    """Everything that defines a study; equal configs give equal tables.

    The fields are the ``skdni run`` options (``--n-chars`` is ``n_chars``).

    Parameters
    ----------
    grammar : str or None, default=None
        Bundled grammar name or ``.lark`` path; None: ``"parentheses"``
        (``DEFAULT_GRAMMAR``) when sampling a corpus, no grammar with ``corpus``.
    corpus : str or None, default=None
        File or folder of real text to read (None: sample the grammar).
    language : str or None, default=None
        With ``corpus``: a tree-sitter language (``"c"``, ``"python"``, ...)
        labelling the source code with :class:`~skdni.features.TreeSitterFeaturizer`.
    model : str or None, default=None
        A ``.keras`` model to inspect instead of training one.
    vocabulary : str or None, default=None
        JSON file with the ``model``'s ``{char: input id}`` table or its characters
        in id order (for a ``.keras`` file skdni did not write).
    n_chars : int, default=250_000
        Characters of corpus to sample, or to read from ``corpus``.
    inspect_fraction : float, default=0.2
        Held-out share of the corpus (at most ``max_inspect_chars``); the model
        trains on the rest.
    max_inspect_chars : int, default=50_000
        Characters of held-out text to inspect.
    max_text_chars : int, default=2000
        Longest text; longer files are cut into texts at line ends.
    units : int, default=128
        Hidden units of the trained language model.
    cell : {"lstm", "gru", "simple"}, default="lstm"
        Recurrent cell of the trained language model.
    epochs : int, default=10
        Training epochs of the language model (at most).
    cv : int, default=20
        Cross-validation folds of the probe search.
    top_k : int, default=10
        Best units kept per feature.
    features : tuple of str, default=all feature sets
        Feature sets out of ``"range"``, ``"impulse"``, ``"depth"``, ``"parser"``,
        ``"regex"``.
    ablation_features : int, default=3
        Binary features whose top units are ablated (the best ones); 0: no
        ablation and no clamped generation.
    ks : tuple of int, default=(1, 5, 10)
        Numbers of units ablated / clamped.
    n_random : int, default=10
        Random unit sets drawn per k, the baseline of an ablation.
    n_samples : int, default=5
        Texts generated per condition of the clamped generation.
    sample_chars : int, default=80
        Characters per generated text.
    ablation_metric : str, default="class_accuracy"
        The ablation's metric (see :class:`~skdni.intervention.NeuronAblationScorer`).
    ablation_positions : str or None, default=None
        Score only the rows right after one of these characters (selected by what
        the model has read, never by the answer); None: every row.
    clamp_value : {"on", "off"} or float, default="on"
        Clamp value of the generation: ``"on"`` / ``"off"`` set each unit to its
        own mean where the feature is on / off (sign-aware); a number is used as
        is (1.0: the paper's value).
    generation_class_map : {"auto", "char_class", "chars"}, default="auto"
        Character classes counted in the generation: ``"char_class"`` (digit,
        paren, operator, letter, space), ``"chars"`` (every character its own
        class) or ``"auto"`` (``"chars"`` for a model writing at most 12
        characters).
    n_jobs : int or None, default=None
        Parallel jobs (joblib; -1: all cores).
    seed : int, default=0
        Random seed of the corpus, the split, the model and the probes.
    out : str, default="skdni-report"
        Report folder.
    cache_dir : str or None, default=None
        joblib cache for models, activations and features (None: the user cache).
    overwrite : bool, default=False
        Replace skdni's files in a non-empty ``out``.
    verbose : int, default=1
        Stage lines and progress bars (0: none).
    """

    #: None: ``"parentheses"`` (DEFAULT_GRAMMAR) when sampling a corpus, no grammar
    #: with ``corpus``.
    grammar: str | None = None
    corpus: str | None = None
    #: A tree-sitter language (``"c"``, ``"python"``, ...) labelling a ``corpus`` of
    #: source code with :class:`~skdni.features.TreeSitterFeaturizer`.
    language: str | None = None
    model: str | None = None
    #: JSON file with the --model's {char: input id} table or list of characters
    vocabulary: str | None = None
    n_chars: int = 250_000
    inspect_fraction: float = 0.2
    max_inspect_chars: int = 50_000
    #: longest text; longer files are cut into texts at line ends
    max_text_chars: int = 2000
    units: int = 128
    cell: str = "lstm"
    epochs: int = 10
    cv: int = 20
    top_k: int = 10
    features: tuple = FEATURE_SETS
    ablation_features: int = 3
    ks: tuple = (1, 5, 10)
    n_random: int = 10
    n_samples: int = 5
    sample_chars: int = 80
    ablation_metric: str = "class_accuracy"
    ablation_positions: str | None = None
    clamp_value: str | float = "on"
    generation_class_map: str = "auto"
    n_jobs: int | None = None
    seed: int = 0
    out: str = "skdni-report"
    cache_dir: str | None = None
    overwrite: bool = False
    verbose: int = 1

    def check(self) -> None:
        """Refuse invalid options before anything is computed.

        Raises
        ------
        InputError
            Naming the option and its value.
        """
        unknown = sorted(set(self.features) - set(FEATURE_SETS))
        if unknown:
            raise InputError(
                f"Unknown feature set(s) {unknown}; "
                f"choose from {', '.join(FEATURE_SETS)}."
            )
        for name in ("max_inspect_chars", "max_text_chars", "n_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive int, got {value!r}.")
        if not 0 < self.inspect_fraction < 1:
            raise InputError(
                f"inspect_fraction must be in (0, 1), got {self.inspect_fraction}."
            )
        if self.ablation_metric not in _ABLATION_METRICS:
            raise InputError(
                f"ablation_metric must be one of {sorted(_ABLATION_METRICS)}, got "
                f"{self.ablation_metric!r}."
            )
        if self.ablation_positions is not None and (
            not isinstance(self.ablation_positions, str) or not self.ablation_positions
        ):
            raise InputError(
                "ablation_positions must be a non-empty string of characters (the "
                f"rows after them are scored) or None, got {self.ablation_positions!r}."
            )
        value = self.clamp_value
        if not (
            value in ("on", "off")
            or (
                isinstance(value, Real)
                and not isinstance(value, bool)
                and np.isfinite(value)
            )
        ):
            raise InputError(
                f"clamp_value must be 'on', 'off' or a finite number, got {value!r}."
            )
        if self.generation_class_map not in ("auto", "char_class", "chars"):
            raise InputError(
                "generation_class_map must be 'auto', 'char_class' or 'chars', got "
                f"{self.generation_class_map!r}."
            )
        check_study_options(vars(self))


_ABLATION_METRICS = frozenset(
    {
        "accuracy",
        "cross_entropy",
        "class_accuracy",
        "class_cross_entropy",
        "within_class_accuracy",
    }
)


def check_study_options(options: dict, names: dict | None = None) -> None:
    """Refuse a study option that an estimator would refuse only after training.

    Each option passed on to an estimator is checked with that estimator's own
    parameter constraint (same rules); ``names`` maps an option to the name the
    message uses (``{"cv": "--cv"}`` for the command line).
    """
    from ._compat import check_parameter
    from .models import CharLanguageModel
    from .probing import NeuronProbeSearch

    rules = {
        "units": (CharLanguageModel, "units"),
        "cell": (CharLanguageModel, "cell"),
        "epochs": (CharLanguageModel, "epochs"),
        "seed": (CharLanguageModel, "random_state"),
        "cv": (NeuronProbeSearch, "cv"),
        "top_k": (NeuronProbeSearch, "top_k"),
    }
    names = names or {}
    for option, (estimator, parameter) in rules.items():
        if option in options:
            name = names.get(option, option)
            check_parameter(estimator, parameter, options[option], option=name)
    n_jobs = options.get("n_jobs")
    # sklearn's constraint lets 0 through to joblib, which fails after training
    if n_jobs is not None and (not isinstance(n_jobs, Integral) or n_jobs == 0):
        raise InvalidParameterError(
            f"{names.get('n_jobs', 'n_jobs')}: expected a non-zero integer "
            f"(-1 = all cores) or None, got {n_jobs!r}."
        )
    n_chars = options.get("n_chars", 1)
    if not isinstance(n_chars, Integral) or n_chars < 1:
        raise InvalidParameterError(
            f"{names.get('n_chars', 'n_chars')}: expected a positive integer, "
            f"got {n_chars!r}."
        )


@dataclass
class StudyResult:
    """The fitted estimators and the tables of a study (see :func:`run_study`).

    Parameters
    ----------
    config : StudyConfig
        The study's options.
    train_texts, inspect_texts : list of str
        Texts the model trained on and the held-out texts inspected.
    model : CharLanguageModel
        The trained or loaded model.
    transformer : LSTMActivationTransformer
        Its fitted activation transformer.
    featurizer : sklearn.pipeline.FeatureUnion
        The fitted featurizers. With a corpus of files they were fitted on the
        inspected texts' whole files (``labels`` holds the rows of the inspected
        texts), so their ``failed_texts_`` / ``unlabelled_fraction_`` count files.
    activations : ndarray of shape (n_chars, n_units)
        Activations of the inspected texts.
    labels : DataFrame
        Feature labels of the inspected texts, one column per feature.
    search : NeuronProbeSearch
        The fitted probe search.
    summary, ablation, generation : DataFrame
        The report's tables.
    samples : dict, default={}
        Generated texts of the clamped generation.
    parse_failures : list of int, default=[]
        Indices (into ``inspect_texts``) of the texts the grammar did not parse;
        their grammar features are NaN.
    out : Path or None, default=None
        The report folder.
    corpus_counts : dict, default={}
        Files, texts and characters read, trained on, held out and inspected.
    generation_feature : str or None, default=None
        The feature whose top units were clamped in ``generation`` (None: none was).
    generation_classes : list of str, default=[]
        The character classes of ``generation`` whose share the clamp moved most
        (top-k against random-k at the largest k), most moved first: Figure 4's
        panels.
    causal_findings : list of str, default=[]
        One plain sentence per causal check (ablation and clamped generation)
        saying whether the top units did more than random ones, nothing more, or
        the opposite (the rules of :func:`skdni._study_report.causal_findings`,
        which also write the report's findings).
    localization : DataFrame, default=empty
        :func:`skdni.probing.localization_curve` of the top binary and the top
        continuous finding (column ``feature`` first): the CV score (ROC AUC for a
        binary feature, R² for a continuous one) of one probe on the feature's
        top-k units jointly, against random k units and the whole layer. Empty
        when there is no finding.
    lags : DataFrame, default=empty
        :func:`skdni.probing.lag_profile` of the same features' 3 best units,
        scored as the search scores them (column ``scoring``): the score of a unit
        read ``lag`` characters after (positive) or before (negative) the labelled
        one. Empty as ``localization``.
    """

    config: StudyConfig
    train_texts: list
    inspect_texts: list
    model: object
    transformer: object
    featurizer: object
    activations: np.ndarray
    labels: pd.DataFrame
    search: object
    summary: pd.DataFrame
    ablation: pd.DataFrame
    generation: pd.DataFrame
    samples: dict = field(default_factory=dict)
    #: Indices (into ``inspect_texts``) of the texts the grammar did not parse; their
    #: grammar features are NaN.
    parse_failures: list = field(default_factory=list)
    out: Path | None = None
    #: files, texts and characters read, trained on, held out and inspected
    corpus_counts: dict = field(default_factory=dict)
    generation_feature: str | None = None
    generation_classes: list = field(default_factory=list)
    causal_findings: list = field(default_factory=list)
    localization: pd.DataFrame = field(default_factory=pd.DataFrame)
    lags: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------- stages


def _n(value) -> str:
    """``12,345``: counts as the user reads them."""
    return f"{int(value):,}"


@dataclass
class _Split:
    """Texts to train on and to inspect, and the counts the user reads."""

    train: list
    inspect: list
    counts: dict
    #: The whole files the inspected texts were cut from, and each inspected text's
    #: ``(file, start)`` in them: a file is parsed whole (a cut can fall inside a
    #: C ``#if`` block or any construct) and its labels are cut as its texts are.
    files: list = field(default_factory=list)
    spans: list = field(default_factory=list)

    def describe(self) -> str:
        c = self.counts
        unit = "files" if c["files_are_files"] else "texts"
        found = c.get("files_found") or c["files"]
        # reading stopped at --n-chars (within a line of it) before the last file
        stopped = found > c["files"] and c["chars"] > c["n_chars"] - c["max_text_chars"]
        read = (
            f"{_n(found)} files, the first {_n(c['files'])} read (--n-chars "
            f"{_n(c['n_chars'])})"
            if stopped
            else f"{_n(c['files'])} file" + "s" * (c["files"] != 1)
        )
        head = (
            f"{read} -> {_n(c['texts'])} texts ("
            + (
                "one per line: the grammar has no newline"
                if c.get("lines_are_texts")
                else f"at most {_n(c['max_text_chars'])} characters each"
            )
            + ")"
            if c["files_are_files"]
            else f"{_n(c['texts'])} sampled texts"
        )
        inspected = (
            f"{_n(c['inspected_chars'])} chars in {_n(c['inspected_texts'])} "
            f"texts inspected (cap {_n(c['max_inspect_chars'])})"
        )
        if not c.get("trained", True):
            # a given model: nothing trained, every text read may be inspected
            line = f"{head}: none trained on (a model is given); {inspected}"
        else:
            line = (
                f"{head}: {_n(c['train_texts'])} train ({_n(c['train_chars'])} chars"
                + (f", {_n(c['train_files'])} {unit}" if c["files_are_files"] else "")
                + f"), {_n(c['held_out_texts'])} held out"
                + (
                    f" ({_n(c['held_out_files'])} {unit})"
                    if c["files_are_files"]
                    else ""
                )
                + f"; {inspected}"
            )
        if c["unused_chars"]:
            line += (
                f"; {_n(c['unused_chars'])} "
                + ("held-out " if c.get("trained", True) else "")
                + "chars past the cap are not used"
            )
        return line


def _split(
    groups,
    fraction,
    max_inspect_chars,
    seed,
    *,
    files_are_files=False,
    trains=True,
):
    """Split by file: held-out files to inspect (never trained on), the rest to
    train on.

    ``groups`` holds the texts of each file (of each sampled text). Random files
    are held out until they hold ``min(max_inspect_chars, fraction * total)``
    characters (at least one file, and one file is left to train on), so no more
    is held out than is inspected; their texts are inspected in order up to
    exactly ``max_inspect_chars`` characters, the text that would cross the cap cut
    to its lines that fit. With ``trains=False`` (a given model: nothing is
    trained) random files are inspected up to ``max_inspect_chars`` whatever
    ``fraction``, and one file is enough.
    """
    from .datasets._split import split_lines

    if not groups:
        raise InputError("The corpus has no text to inspect.")
    if trains and len(groups) < 2:
        unit = "file" if files_are_files else "text"
        raise InputError(
            f"The corpus has {len(groups)} {unit}; a study needs at least 2 (some "
            "to train on, some held out to inspect): give a folder or several files."
        )
    sizes = [sum(map(len, texts)) for texts in groups]
    total = sum(sizes)
    target = min(max_inspect_chars, fraction * total) if trains else max_inspect_chars
    order = np.random.default_rng(seed).permutation(len(groups))
    held, held_chars = [], 0
    for i in order[: len(groups) - 1] if trains else order:
        if held and held_chars >= target:
            break
        held.append(int(i))
        held_chars += sizes[i]
    held = sorted(held)
    inspect, inspected, files, spans = [], 0, [], []
    for i in held:
        start = 0
        for whole in groups[i]:
            room = max_inspect_chars - inspected
            text = split_lines(whole, None, first=room) if len(whole) > room else whole
            if not text:
                break
            if start == 0:  # the file's first inspected text
                files.append("".join(groups[i]))
            inspect.append(text)
            spans.append((len(files) - 1, start))
            inspected += len(text)
            start += len(whole)  # a cut text's rest is skipped, not shifted
    held_set = set(held)
    train = [t for i, texts in enumerate(groups) if i not in held_set for t in texts]
    counts = {
        "files_are_files": files_are_files,
        "trained": trains,
        "files": len(groups),
        "texts": sum(map(len, groups)),
        "chars": total,
        "train_files": len(groups) - len(held),
        "train_texts": len(train),
        "train_chars": total - held_chars,
        "held_out_files": len(held),
        "held_out_texts": sum(len(groups[i]) for i in held),
        "held_out_chars": held_chars,
        "inspected_texts": len(inspect),
        "inspected_chars": inspected,
        "unused_chars": held_chars - inspected,
        "max_inspect_chars": max_inspect_chars,
    }
    return _Split(train, inspect, counts, files, spans)


def _check_split(cfg, split: _Split) -> None:
    """Say, before training, what to change when the held-out texts cannot fill
    the cross-validation folds (one inspected text per fold at least)."""
    c = split.counts
    n = c["inspected_texts"]
    if cfg.cv <= n:
        return
    chars = c["inspected_chars"]
    fixes = [f"lower --cv to {n}" if n >= 2 else None]
    if cfg.corpus is not None and chars >= 2 * cfg.cv:
        fixes.append(
            f"lower --max-text-chars (now {_n(cfg.max_text_chars)}) to about "
            f"{_n(chars // cfg.cv)} so that they make {cfg.cv} texts"
        )
    if chars >= cfg.max_inspect_chars - cfg.max_text_chars:
        mean = chars / max(n, 1)
        fixes.append(
            f"raise --max-inspect-chars (now {_n(cfg.max_inspect_chars)}) to about "
            f"{_n(mean * cfg.cv)}"
        )
    else:
        fixes.append(
            "give more text (the held-out files hold only "
            f"{_n(c['held_out_chars'])} characters; raise --n-chars or give more "
            "files)"
        )
    what = "characters of held-out files" if cfg.corpus is not None else "characters"
    raise InputError(
        f"--cv {cfg.cv} needs at least {cfg.cv} inspected texts (one per fold), but "
        f"the {_n(chars)} inspected {what} are {n} text{'s' * (n != 1)}: "
        + "; or ".join(f for f in fixes if f)
        + "."
    )


def _fail_fast(cfg: StudyConfig) -> None:
    """Check the inputs that would otherwise fail only after training a model."""
    from .datasets import compile_grammar

    if cfg.corpus is not None and not Path(cfg.corpus).exists():
        raise InputError(f"Corpus path {cfg.corpus!r} does not exist.")
    if cfg.model is not None and not Path(cfg.model).is_file():
        what = "is a folder" if Path(cfg.model).is_dir() else "does not exist"
        raise InputError(f"Model file {cfg.model!r} {what}.")
    if cfg.grammar is not None:
        compile_grammar(cfg.grammar)
    _check_language(cfg)


# ------------------------------------------------------ tree-sitter languages

# Files a corpus folder is read for, per tree-sitter language (others: every file).
_SOURCE_PATTERNS = {"c": "*.[ch]", "python": "*.py"}


def _source_pattern(language) -> str:
    return _SOURCE_PATTERNS.get(language, "*")


def _check_language(cfg: StudyConfig) -> None:
    """A tree-sitter language labels real source: it needs a corpus, replaces the
    grammar, and must be installed (checked before any training)."""
    if cfg.language is None:
        return
    if cfg.corpus is None:
        raise InputError(
            f"language={cfg.language!r} labels real source code: give a corpus "
            "(--corpus) of files in that language."
        )
    if cfg.grammar is not None:
        raise InputError(
            "Give either a lark grammar or a tree-sitter language, not both "
            f"(grammar={cfg.grammar!r}, language={cfg.language!r})."
        )
    _tree_sitter_featurizer(cfg.language, ("range",))._grammar()


def _tree_sitter_featurizer(language, representations):
    from .features import TreeSitterFeaturizer

    # real code has syntax errors here and there: NaN there, never an abort
    return TreeSitterFeaturizer(
        language, representations=representations, on_error="nan"
    )


def _vocabulary(cfg: StudyConfig):
    """The ``--vocabulary`` JSON file's table (``None`` without one)."""
    if cfg.vocabulary is None:
        return None
    try:
        return json.loads(Path(cfg.vocabulary).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"Vocabulary file {cfg.vocabulary!r}: {exc}. Expected JSON: the model's "
            '{"char": input id} table or a list of characters in id order.'
        ) from None


def _load_corpus(cfg: StudyConfig) -> _Split:
    """Read or sample the corpus and split it by file (see :func:`_split`)."""
    from .datasets import make_corpus
    from .datasets._grammars import grammar_reads_newlines
    from .datasets._loaders import _collect_paths, read_text_files_by_file

    n_found, lines_are_texts = None, False
    if cfg.corpus is None:
        texts = make_corpus(cfg.grammar, n_chars=cfg.n_chars, random_state=cfg.seed)
        groups = [[text] for text in texts]
    else:
        pattern = _source_pattern(cfg.language)
        n_found = len(_collect_paths(cfg.corpus, pattern))
        per_file = read_text_files_by_file(
            cfg.corpus,
            pattern=pattern,
            max_chars=cfg.n_chars,
            max_text_chars=cfg.max_text_chars,
        )
        groups = [check_texts(texts) for _, texts in per_file]
        if cfg.grammar is not None and not grammar_reads_newlines(cfg.grammar):
            # one sentence per line: each line is a text (its newline dropped, as
            # the grammar has none); a line is never cut
            groups = [
                lines
                for texts in groups
                if (lines := [x for x in "".join(texts).split("\n") if x.strip()])
            ]
            lines_are_texts = True
            if not groups:
                raise InputError(
                    f"--corpus {cfg.corpus!r}: every line of its files is blank; the "
                    f"{cfg.grammar!r} grammar has no newline, so each non-empty line "
                    "is a sentence to inspect. Give a file with sentences in it."
                )
        # a given model trains on nothing: one file is enough to inspect
        if len(groups) < 2 and cfg.model is None:
            n_files = n_found
            raise InputError(
                f"--corpus {cfg.corpus!r} gives {len(groups)} file to read: a study "
                "trains on some files and inspects others, never seen in training, "
                "so it needs at least 2 files"
                + (
                    f"; --n-chars {_n(cfg.n_chars)} is used up by the first file "
                    f"(of {n_files}): raise --n-chars."
                    if n_files > 1
                    else ": give a folder of several files."
                )
            )
    split = _split(
        groups,
        cfg.inspect_fraction,
        cfg.max_inspect_chars,
        cfg.seed,
        files_are_files=cfg.corpus is not None,
        trains=cfg.model is None,
    )
    split.counts.update(
        max_text_chars=cfg.max_text_chars,
        n_chars=cfg.n_chars,
        files_found=n_found,
        lines_are_texts=lines_are_texts,
    )
    _check_split(cfg, split)
    return split


def _train_model(train_texts, units, cell, epochs, seed, unknown, verbose):
    from .models import CharLanguageModel

    # The estimator's convergent recipe (Adam 0.005 halved on plateaus, dropout 0.1,
    # early stopping on 10% of the training texts with patience 3) with the batch of
    # 64 windows the README's study numbers were measured with (the estimator's
    # default is now 32): ``epochs`` is only its cap, and None keeps the estimator's
    # own cap. joblib's cache key is this function's code and arguments, so a change
    # of recipe must change this function.
    cap = {} if epochs is None else {"epochs": epochs}
    lm = CharLanguageModel(
        cell=cell,
        units=units,
        unknown=unknown,
        batch_size=64,
        random_state=seed,
        verbose=verbose,
        **cap,
    )
    return lm.fit(train_texts)


def _activations(model, inspect_texts, n_jobs, verbose=0):
    from .activations import LSTMActivationTransformer

    transformer = LSTMActivationTransformer(model, n_jobs=n_jobs, verbose=verbose)
    transformer.fit(inspect_texts)
    return transformer, transformer.transform(inspect_texts)


def _featurizer(
    grammar, features, on_error, n_jobs, verbose=0, language=None
) -> FeatureUnion:
    from .features import ParserStateFeaturizer, ParseTreeFeaturizer, character_features

    parts = []
    representations = tuple(r for r in ("range", "impulse", "depth") if r in features)
    if language is not None and representations:
        parts.append(("tree", _tree_sitter_featurizer(language, representations)))
    if grammar is not None and representations:
        parts.append(
            (
                "tree",
                ParseTreeFeaturizer(
                    grammar,
                    representations=representations,
                    on_error=on_error,
                    verbose=verbose,
                ),
            )
        )
    if grammar is not None and "parser" in features:
        parts.append(
            (
                "parser",
                ParserStateFeaturizer(grammar, on_error=on_error, verbose=verbose),
            )
        )
    if "regex" in features:
        parts.append(("chars", character_features()))
    if not parts:
        raise InputError("No features to compute: give a grammar or include 'regex'.")
    return FeatureUnion(parts, n_jobs=n_jobs, verbose_feature_names_out=True)


def _features(
    grammar,
    grammar_source,
    features,
    on_error,
    inspect_texts,
    n_jobs,
    verbose=0,
    language=None,
    files=None,
    spans=None,
):
    """Fitted featurizer, its labels, and the texts that did not parse.

    ``grammar_source`` is unused here: it is the grammar's text, so that the cache
    key changes when a ``.lark`` file is edited under the same path. With ``files``
    and ``spans`` (see :class:`_Split`) the whole files are labelled and their rows
    cut as the inspected texts were; a text "did not parse" when its file did not
    and some of its own rows are NaN.
    """
    featurizer = _featurizer(grammar, features, on_error, n_jobs, verbose, language)
    with warnings.catch_warnings():
        # the study reports the texts that did not parse in one line of its own
        warnings.filterwarnings("ignore", "(?s).*did not parse", UserWarning)
        warnings.filterwarnings("ignore", "(?s).*syntax errors?", UserWarning)
        labels = featurizer.set_output(transform="pandas").fit_transform(
            inspect_texts if files is None else files
        )
    failed = {
        i
        for _, part in featurizer.transformer_list
        for i in getattr(part, "failed_texts_", [])
    }
    if files is not None:
        labels, failed = _cut_like_texts(labels, failed, files, spans, inspect_texts)
    # Features that never vary carry no information to probe for, and a feature equal
    # to an earlier one (e.g. range:digit and impulse:digit) would only repeat its rows.
    labels = labels.loc[:, labels.nunique(dropna=True) > 1]
    return featurizer, labels.iloc[:, _distinct_columns(labels)], sorted(failed)


def _cut_like_texts(labels, failed_files, files, spans, texts):
    """The rows of whole-file ``labels`` that the inspected ``texts`` cover (a text
    is ``files[f][start:start + len(text)]`` for its span ``(f, start)``), and the
    texts that did not parse: those of a failed file with a NaN row."""
    if any(
        files[f][start : start + len(t)] != t
        for t, (f, start) in zip(texts, spans, strict=True)
    ):
        raise RuntimeError("internal error: a text is not where its span says")
    first_row = np.concatenate([[0], np.cumsum([len(f) for f in files])[:-1]])
    rows = np.concatenate(
        [
            np.arange(len(text)) + first_row[f] + start
            for text, (f, start) in zip(texts, spans, strict=True)
        ]
    )
    labels = labels.iloc[rows].reset_index(drop=True)
    nan_rows = labels.isna().to_numpy().any(axis=1)
    ends = np.cumsum([len(text) for text in texts])
    failed = {
        i
        for i, (f, _) in enumerate(spans)
        if f in failed_files and nan_rows[ends[i] - len(texts[i]) : ends[i]].any()
    }
    return labels, failed


def parse_failure_line(parse_failures, inspect_texts, labels, language) -> str:
    """What the user reads about the inspected texts the grammar did not parse."""
    n, total = len(parse_failures), len(inspect_texts)
    share = float(labels.isna().to_numpy().any(axis=1).mean()) if len(labels) else 0
    if language is not None:
        return (
            f"{n} of {total} inspected texts have syntax errors: {share:.1%} of the "
            "inspected characters (in tree-sitter's ERROR / MISSING nodes) have NaN "
            "grammar features (left out of the probe fits)"
            + (f"; so many: are these files {language}?" if share > 0.5 else "")
        )
    return (
        f"{n} of {total} inspected texts did not parse: their grammar features are "
        f"NaN ({share:.1%} of the inspected characters; left out of the probe fits)"
    )


def _whole_files(cfg, split) -> tuple:
    """``(files, spans)`` to label files whole, or ``(None, None)`` to label the
    texts as they are (sampled texts, or one sentence per line)."""
    c = split.counts
    if c["files_are_files"] and not c.get("lines_are_texts"):
        return split.files, split.spans
    return None, None


def _distinct_columns(frame) -> list[int]:
    """Positions of the columns not equal to an earlier one (NaN equal to NaN), as
    ``~frame.T.duplicated()``, one column at a time: the transpose copied the whole
    table and hashed each of its rows (the study's largest memory peak)."""
    import hashlib

    def column(j):
        values = np.asarray(frame.iloc[:, j], dtype=np.float64) + 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan  # one NaN bit pattern
        return values

    first, keep = {}, []
    for j in range(frame.shape[1]):
        values = column(j)
        key = hashlib.blake2b(values.tobytes(), digest_size=16).digest()
        kept = first.setdefault(key, [])
        # equal hashes are compared value by value (a collision is not a duplicate)
        if not any(np.array_equal(values, column(i), equal_nan=True) for i in kept):
            kept.append(j)
            keep.append(j)
    return keep


# Binary features are scored with balanced accuracy (chance 0.5 whatever the class
# balance): plain accuracy cannot see a unit that separates a rare class, since the
# probe then predicts the majority, at chance. Continuous features keep R².
_SCORING = {"binary": "balanced_accuracy"}
_SUMMARY_COLUMNS = [
    "feature",
    "kind",
    "scoring",
    "best_units",
    "best_score",
    "chance",
    "skill",
]


def _summary(search) -> pd.DataFrame:
    """One row per feature with a unit above chance (a finding), best skill first.

    ``skill`` is the best unit's bounded skill (``search.skill_``): (score − chance)
    / (1 − chance) for balanced accuracy, the R² itself for R²; 0 is chance, 1
    perfect. Features with no unit above chance are not rows: they are
    ``search.features_at_chance_``.
    """
    rows = []
    for feature in search.scores_.index:
        units = search.top_units_[feature]
        if not len(units):
            continue
        scores = search.scores_.loc[feature]
        kind = search.feature_kinds_[feature]
        rows.append(
            {
                "feature": feature,
                "kind": kind,
                "scoring": _SCORING.get(kind, "r2"),
                "best_units": ", ".join(str(scores.index[u]) for u in units[:3]),
                "best_score": float(scores.iloc[units[0]]),
                "chance": float(search.chance_scores_[feature]),
                "skill": float(search.skill_.loc[feature].iloc[units[0]]),
            }
        )
    frame = pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)
    return frame.sort_values("skill", ascending=False, kind="stable", ignore_index=True)


def _ablation_features(summary: pd.DataFrame, n: int, search=None) -> list[str]:
    """The ``n`` features whose top units are ablated and (the first) clamped.

    Depth features first (nesting depth: what a character model must track to
    close brackets, the units the paper's Figure 5 ablates), then the binary
    findings, each group best skill first; a feature whose top units are those of
    a feature already chosen, in any order (``bracket_depth`` = ``depth:paren``;
    ``impulse:integer`` and ``digit``), is skipped: zeroing them would repeat a
    check.
    """
    found = summary[summary["skill"] > 0]
    depth = found["feature"].str.contains("depth")
    order = list(found["feature"][depth]) + list(
        found["feature"][~depth & (found["kind"] == "binary")]
    )
    chosen, seen = [], set()
    for feature in order:
        units = None if search is None else frozenset(search.top_units_[feature])
        if units is not None:
            if units in seen:
                continue
            seen.add(units)
        chosen.append(feature)
    return chosen[:n]


def _ks(cfg, search, feature) -> list[int]:
    """The ``ks`` that the feature's ranked units can fill (at most ``top_k`` units)."""
    return [k for k in cfg.ks if k <= len(search.top_units_[feature])]


def _positions(cfg):
    """The rows the ablation scores: all (None), or those right after one of
    ``cfg.ablation_positions``' characters (chosen by what the model has read, not
    by the answer, which would favour an ablation that pushes towards one class)."""
    from .intervention import after_char_in

    chars = cfg.ablation_positions
    return None if not chars else after_char_in(chars)


def _ablations(cfg, model, search, inspect_texts, labels, features) -> pd.DataFrame:
    """Zeroing (Rm-Neuron_k, against random-k) and, for a binary feature, the
    calibrated oracle (each unit set to its own level where the feature is off /
    on) of every feature's top units, scored teacher-forced with
    ``cfg.ablation_metric``."""
    from .intervention import NeuronAblationScorer

    frames = []
    for feature in features:
        ks = _ks(cfg, search, feature)
        # the oracle sets units to their off / on level by a binary label
        binary = search.feature_kinds_[feature] == "binary"
        for mode in ("zero", "oracle") if binary else ("zero",):
            scorer = NeuronAblationScorer(
                model,
                search=search,
                feature=feature,
                k=ks,
                mode=mode,
                oracle_range="calibrated",
                metric=cfg.ablation_metric,
                positions=_positions(cfg),
                n_random=cfg.n_random if mode == "zero" else 0,
                random_state=cfg.seed,
                n_jobs=cfg.n_jobs,
                verbose=cfg.verbose,
            )
            y = labels[feature].to_numpy() if mode == "oracle" else None
            frames.append(scorer.evaluate(inspect_texts, y))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(frame):
        frame["positions"] = (
            f"after one of {cfg.ablation_positions!r}"
            if cfg.ablation_positions
            else "all"
        )
    return frame


def _generation(cfg, model, search, inspect_texts, feature):
    """Free-running generation with the feature's top-k units clamped to
    ``cfg.clamp_value`` (``"on"``: each unit's own mean where the feature is on, so
    a unit that encodes it negatively is pushed down, not up) against random-k."""
    from .intervention import clamped_generation

    seeds = [t[:1] for t in inspect_texts[: cfg.n_samples]]
    value = cfg.clamp_value
    return clamped_generation(
        model,
        search.top_units_[feature],
        seeds=seeds,
        n_chars=cfg.sample_chars,
        ks=_ks(cfg, search, feature),
        n_random=cfg.n_random,
        value=value,
        class_map=_CLASS_MAPS[_class_map_name(cfg, model)],
        random_state=cfg.seed,
        n_jobs=cfg.n_jobs,
        search=search if isinstance(value, str) else None,
        feature=feature if isinstance(value, str) else None,
    )


def _char_class(char):
    from .intervention import char_class

    return char_class(char)


def _class_map_name(cfg, model) -> str:
    """``cfg.generation_class_map``, ``"auto"`` resolved: every character its own
    class when the model writes at most 12 characters (a small grammar's digits
    tell apart what a class would merge), the usual classes otherwise."""
    if cfg.generation_class_map != "auto":
        return cfg.generation_class_map
    from .models import ModelRuntime

    chars = ModelRuntime.for_model(model).output_chars
    return "chars" if len(chars) <= 12 else "char_class"


#: ``generation_class_map``: the default character classes (digit, paren, operator,
#: letter, space) or every character a class of its own.
_CLASS_MAPS = {"char_class": _char_class, "chars": {}}


def _moved_classes(generation: pd.DataFrame, n: int = 3) -> list[str]:
    """See :func:`skdni._study_report.moved_classes` (Figure 4's panels)."""
    from ._study_report import moved_classes

    return moved_classes(generation, n)


def _causal_findings(ablation: pd.DataFrame, generation: pd.DataFrame, feature):
    """The CLI's sentences: :func:`skdni._study_report.causal_findings`, the rules
    the report's findings use too."""
    from ._study_report import causal_findings

    return causal_findings(ablation, generation, feature)


#: Unit counts of the study's localization curves (those the layer can fill).
LOCALIZATION_KS = (1, 2, 4, 8, 16)
#: Random k-unit sets per k of a localization curve (its floor and interval).
LOCALIZATION_RANDOM = 10
#: Folds (over whole texts) of the localization curves and lag profiles, at most:
#: their cost grows with the folds (a metric call per fold and unit set); five
#: whole-text folds hold out a fifth of the inspected characters each.
ANALYSIS_CV = 5
#: Lags of the lag profile (within ±, shortened to fit the shortest text).
MAX_LAG = 8
#: Best units of a feature whose lag profile is drawn.
LAG_UNITS = 3


#: The localization curve's LDA uses the class priors, so on a rare class its
#: thresholded predictions fall to the majority (balanced accuracy near 0.5 even for
#: a unit the search finds): ROC AUC scores its decision function without a
#: threshold (chance 0.5, as balanced accuracy).
_LOCALIZATION_SCORING = {"binary": "roc_auc"}


def _analysis_features(summary: pd.DataFrame) -> list[str]:
    """The top binary and the top continuous finding (best skill first)."""
    found = summary[summary["skill"] > 0]
    return [
        str(rows["feature"].iloc[0])
        for _, rows in found.groupby("kind", sort=False)
        if len(rows)
    ]


def _analyses(search, summary, activations, labels, groups, cfg):
    """Localization curves and lag profiles of the top binary and continuous
    findings (empty DataFrames when there is none).

    Both take their fast paths (LDA / OLS from moment matrices): a few seconds on
    the default study. The folds are ``GroupKFold`` over the inspected texts, as
    the search's, with at most ``ANALYSIS_CV`` folds. The localization curve
    scores binary features by ROC AUC (LDA's decision function), continuous ones
    by R²; the lag profile scores each unit as the search does (balanced accuracy
    of the search's probe for a binary feature, about a second; OLS R², its fast
    path, for a continuous one).
    """
    from .probing import lag_profile, localization_curve

    features = _analysis_features(summary)
    if not features:
        return pd.DataFrame(), pd.DataFrame()
    names = search.scores_.columns
    X = pd.DataFrame(np.asarray(activations), columns=names)
    groups = np.asarray(groups)
    n_units = X.shape[1]
    ks = [k for k in LOCALIZATION_KS if k <= n_units]
    # a lag must be shorter than the shortest text (no partner otherwise)
    _, lengths = np.unique(groups, return_counts=True)
    max_lag = min(MAX_LAG, int(lengths.min()) - 1)
    cv = min(cfg.cv, ANALYSIS_CV)
    curves, profiles = [], []
    for feature in features:
        y = labels[feature]
        scores = search.scores_.loc[feature].to_numpy(dtype=np.float64)
        ranking = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
        kind = search.feature_kinds_[feature]
        curve = localization_curve(
            X.to_numpy(),
            y.to_numpy(dtype=np.float64),
            ranking,
            ks=ks,
            cv=cv,
            groups=groups,
            scoring=_LOCALIZATION_SCORING.get(kind, "r2"),
            n_random=LOCALIZATION_RANDOM,
            random_state=cfg.seed,
        )
        curves.append(curve.assign(feature=feature))
        units = [int(u) for u in search.top_units_[feature][:LAG_UNITS]]
        if max_lag >= 1 and units:
            profiles.append(
                lag_profile(
                    X,
                    labels[[feature]],
                    groups,
                    lags=range(-max_lag, max_lag + 1),
                    units=units,
                    cv=cv,
                    # the search's probe and score (R² of a 0/1 label says little
                    # of a unit that separates it); OLS R², the fast path, otherwise
                    **(
                        {"probe": "auto", "scoring": _SCORING["binary"]}
                        if kind == "binary"
                        else {}
                    ),
                ).assign(scoring=_SCORING.get(kind, "r2"))
            )
    localization = pd.concat(curves, ignore_index=True)
    localization = localization[
        ["feature"] + [c for c in localization.columns if c != "feature"]
    ]
    lags = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame()
    return localization, lags


# ---------------------------------------------------------------- the study


def _prepare_out(out: Path, overwrite: bool) -> list[str]:
    """Check the output folder before anything is computed; delete nothing.

    Returns the files of the previous report that the new one replaces (the
    manifest's entries, each checked to lie inside ``out``); :func:`_swap_in`
    removes them only once the new report is complete.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"Output path {str(out)!r} exists and is not a folder.")
    _check_writable(out)
    if not (out.exists() and any(out.iterdir())):
        return []
    if not overwrite:
        raise InputError(
            f"Output folder {str(out)!r} exists and is not empty; "
            "pass --overwrite (overwrite=True) to replace skdni's files in it."
        )
    old = _read_manifest(out)
    for name in ("report.html", "model.keras"):
        _refuse_foreign(out, name, old)
    return old


def _check_writable(out: Path) -> None:
    """Fail before the study, not after it, when the report cannot be written: the
    temporary report folder goes beside ``out`` (its first existing ancestor)."""
    folder = out.absolute().parent
    while not folder.exists():
        folder = folder.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".skdni-check-", dir=folder))
    except OSError as exc:
        raise InputError(
            f"Cannot write the report {str(out)!r}: {str(folder)!r} is not a "
            f"writable folder ({exc.strerror})."
        ) from exc


def _read_manifest(out: Path) -> list[str]:
    """The entries of ``out``'s manifest: plain relative paths inside ``out``."""
    manifest = out / _MANIFEST
    if not manifest.exists():
        return []
    try:
        names = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{str(manifest)!r} is not a valid skdni manifest ({exc}); nothing was "
            "deleted. Remove it (skdni then replaces none of the old files) or "
            "choose another --out."
        ) from exc
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(
            f"{str(manifest)!r} is not a valid skdni manifest (expected a JSON list "
            "of file names); nothing was deleted."
        )
    root = out.resolve()
    for name in names:
        path = PurePosixPath(name)
        inside = (
            name
            and "\\" not in name
            and not path.is_absolute()
            and ".." not in path.parts
            and (out / name).resolve().is_relative_to(root)
        )
        if not inside:
            raise InputError(
                f"{str(manifest)!r} lists {name!r}, which is not a plain relative "
                f"path inside {str(out)!r}; skdni deletes only files inside the "
                "report folder, so nothing was deleted. Fix or remove the manifest."
            )
    return names + [_MANIFEST]


def _refuse_foreign(out: Path, name: str, old: list[str]) -> None:
    """Refuse to replace a file that the previous report's manifest does not list."""
    if (out / name).exists() and name not in old:
        raise InputError(
            f"{str(out / name)!r} exists and is not listed in {_MANIFEST}: skdni "
            "replaces only files it wrote. Move it or choose another --out."
        )


def _write_out(result: StudyResult, out: Path, old: list[str]) -> None:
    """Write the report in a new folder beside ``out``, then swap it in.

    Until the new report is complete ``out`` is untouched; a failure removes the
    temporary folder and leaves ``out`` as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.skdni-", dir=out.parent))
    try:
        _write_report(result, staging)
        new = json.loads((staging / _MANIFEST).read_text(encoding="utf-8"))
        for name in new:
            _refuse_foreign(out, name, old)
        _swap_in(staging, out, old, new)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, out: Path, old: list[str], new: list[str]) -> None:
    """Remove the previous report's files from ``out``, move the new ones in."""
    out.mkdir(parents=True, exist_ok=True)
    for name in old:
        if name not in new and (out / name).is_file():
            (out / name).unlink()
    # the manifest last: a report is complete once its manifest is there
    for name in sorted(new, key=lambda n: n == _MANIFEST):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, out / name)


def run_study(**options) -> StudyResult:
    """Run a whole Deep Neural Inspection study and write its report.

    Options are the fields of :class:`StudyConfig` (the ``skdni run`` flags): with no
    options, the built-in default study on the ``parentheses`` grammar (the paper's
    §5.1 language, where zeroing the nesting-depth units shows a strong causal
    effect; ``grammar="arithmetic"`` is the paper's §5.2 language). The trained
    model, activations and features are cached with :class:`joblib.Memory` under
    ``cache_dir``, so a re-run with other probing options does not retrain.

    Parameters
    ----------
    **options
        Fields of :class:`StudyConfig`.

    Returns
    -------
    StudyResult
        The fitted estimators (``model``, ``transformer``, ``featurizer``,
        ``search``) and the tables (``summary``, ``ablation``, ``generation``).
    """
    from .datasets import grammar_text
    from .models import CharLanguageModel
    from .probing import NeuronProbeSearch

    cfg = StudyConfig(**options)
    cfg.features = tuple(cfg.features)
    cfg.ks = tuple(cfg.ks)
    if cfg.grammar is None and cfg.corpus is None:
        cfg.grammar = DEFAULT_GRAMMAR
    cfg.check()
    _fail_fast(cfg)
    out = Path(cfg.out) if cfg.out else None
    replaced = _prepare_out(out, cfg.overwrite) if out is not None else []
    memory = Memory(cfg.cache_dir or default_cache_dir(), verbose=0)

    say = _StagePrinter(cfg.verbose)
    say("corpus" + (f" ({cfg.corpus})" if cfg.corpus else f" ({cfg.grammar})"))
    # GroupKFold needs an inspected text per fold: checked here, before training
    split = _load_corpus(cfg)
    train_texts, inspect_texts = split.train, split.inspect
    # A fresh install compiles the probe kernels while the model trains (the other
    # core), so the search loads them from numba's cache instead of compiling;
    # started once the corpus is read, so a corpus error starts nothing.
    warming = start_warm_up(
        ["svm_rank"] + (["tree_sitter"] if cfg.language is not None else [])
    )
    try:
        say.detail(split.describe())
        if cfg.model is not None:
            say(f"model (loaded from {cfg.model})")
            model = CharLanguageModel.load(cfg.model, vocabulary=_vocabulary(cfg))
        else:
            say(
                f"model: training a {cfg.cell.upper()}({cfg.units}) language model "
                f"on {_n(sum(map(len, train_texts)))} characters in "
                f"{_n(len(train_texts))} texts, at most {cfg.epochs} epochs"
            )
            # Real text may hold characters only the held-out texts use.
            unknown = "error" if cfg.corpus is None else "ignore"
            model = memory.cache(_train_model, ignore=["verbose"])(
                train_texts,
                cfg.units,
                cfg.cell,
                cfg.epochs,
                cfg.seed,
                unknown,
                cfg.verbose,
            )
        say(
            f"activations and features of the {_n(sum(map(len, inspect_texts)))} "
            f"inspected characters ({_n(len(inspect_texts))} "
            + ("held-out texts)" if cfg.model is None else "texts)")
        )
        # n_jobs changes the speed, not the activations: it is not part of the cache key
        transformer, H = memory.cache(_activations, ignore=["n_jobs", "verbose"])(
            model, inspect_texts, cfg.n_jobs, cfg.verbose
        )
        featurizer, labels, parse_failures = memory.cache(
            _features, ignore=["n_jobs", "verbose"]
        )(
            cfg.grammar,
            None if cfg.grammar is None else grammar_text(cfg.grammar),
            cfg.features,
            "raise" if cfg.corpus is None else "nan",
            inspect_texts,
            cfg.n_jobs,
            cfg.verbose,
            cfg.language,
            *_whole_files(cfg, split),
        )
        if parse_failures:
            say.detail(
                parse_failure_line(parse_failures, inspect_texts, labels, cfg.language)
            )
    except BaseException:
        # a study that fails (or is interrupted) before the search leaves no
        # compile process behind
        stop_warm_up(warming)
        raise
    finish_warm_up(warming)
    say(
        f"probe search: {labels.shape[1]} features x {H.shape[1]} units, "
        f"{cfg.cv}-fold cross-validation"
    )
    search = NeuronProbeSearch(
        cv=cfg.cv,
        scoring=_SCORING,
        top_k=cfg.top_k,
        random_state=cfg.seed,
        n_jobs=cfg.n_jobs,
        verbose=cfg.verbose,
    ).fit(
        pd.DataFrame(H, columns=transformer.get_feature_names_out()),
        labels,
        groups=sequence_ids(inspect_texts),
    )
    summary = _summary(search)
    localization, lags = _analyses(
        search, summary, H, labels, sequence_ids(inspect_texts), cfg
    )
    if not localization.empty:
        say.detail(
            "localization curves and lag profiles of "
            + ", ".join(pd.unique(localization["feature"]))
        )
    chosen = [
        f
        for f in _ablation_features(summary, cfg.ablation_features, search)
        if _ks(cfg, search, f)
    ]
    if cfg.ablation_features:
        say(
            f"ablations and clamped generation: {', '.join(chosen) or 'no feature'}"
            f" (k = {', '.join(map(str, cfg.ks))}; {cfg.n_random} random draws)"
        )
    else:
        say("ablations and clamped generation: skipped (--no-ablation)")
    ablation = _ablations(cfg, model, search, inspect_texts, labels, chosen)
    generation, samples = (
        _generation(cfg, model, search, inspect_texts, chosen[0])
        if chosen
        else (pd.DataFrame(), {})
    )
    generation_feature = chosen[0] if chosen else None
    result = StudyResult(
        config=cfg,
        train_texts=train_texts,
        inspect_texts=inspect_texts,
        model=model,
        transformer=transformer,
        featurizer=featurizer,
        activations=H,
        labels=labels,
        search=search,
        summary=summary,
        ablation=ablation,
        generation=generation,
        samples=samples,
        parse_failures=parse_failures,
        out=out,
        corpus_counts=split.counts,
        generation_feature=generation_feature,
        generation_classes=_moved_classes(generation),
        causal_findings=_causal_findings(ablation, generation, generation_feature),
        localization=localization,
        lags=lags,
    )
    if out is not None:
        say(f"report ({out})")
        _write_out(result, out, replaced)
    return result


#: The stage a running study is in (the command names it when a stage fails).
current_stage: ContextVar[str] = ContextVar("current_stage", default="setup")


class _StagePrinter:
    """Announce each stage on stderr (the long ones also show their own bars), and
    keep it in :data:`current_stage` for the command's error line."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.stages = iter(range(1, 7))
        current_stage.set("setup")

    def __call__(self, what):
        current_stage.set(what)
        if self.verbose:
            print(f"[skdni {next(self.stages)}/6] {what}", file=sys.stderr, flush=True)

    def detail(self, line):
        """A line under the current stage (counts the user checks)."""
        if self.verbose:
            print(f"            {line}", file=sys.stderr, flush=True)


def _figures_and_captions(figures: dict) -> tuple[dict, dict]:
    """``{name: figure}`` and ``{name: caption}`` from ``_report_figures``'s
    ``{name: (figure, caption)}`` or plain ``{name: figure}``."""
    plain, captions = {}, {}
    for name, value in figures.items():
        if isinstance(value, tuple | list):
            plain[name], captions[name] = value[0], str(value[1])
        else:
            plain[name] = value
    return plain, captions


def _samples_caption(result: StudyResult) -> str:
    """How the generated samples were made: which units were clamped to what."""
    feature = result.generation_feature
    if not result.samples or feature is None:
        return ""
    value = result.config.clamp_value
    held = (
        f"at their own {value!r} level (each unit's mean where the feature is {value})"
        if isinstance(value, str)
        else f"at {value}"
    )
    return (
        "Texts the model wrote freely from the same seed characters. 'none': no "
        f"clamp; 'top-k': the k best units of {feature} held {held} at every step; "
        "'random-k': k random units held the same way (the first random draw)."
    )


def _write_report(result: StudyResult, out: Path) -> None:
    from ._study_report import (
        findings_context,
        text_view_context,
        unit_file_names,
        write_unit_pages,
    )
    from .report import (
        figure_to_png_bytes,
        save_figures,
        save_tables,
        write_html_report,
    )

    search, summary = result.search, result.summary
    figures, captions = _figures_and_captions(_report_figures(result))
    tables = {
        "summary": summary,
        # the features with no unit above chance are not summary rows: listed here
        "features at chance": pd.DataFrame(
            {
                "feature": search.features_at_chance_,
                "kind": search.feature_kinds_[search.features_at_chance_].to_numpy(),
                "best_score": search.scores_.loc[search.features_at_chance_]
                .max(axis=1)
                .to_numpy(),
                "chance": search.chance_scores_[search.features_at_chance_].to_numpy(),
            }
        ),
        "scores": search.to_frame(),
        "ablation": result.ablation,
        "generation": result.generation,
        "localization": result.localization,
        "lags": result.lags,
    }
    # tables the study did not compute (no finding: no localization) are not files
    tables = {
        name: table
        for name, table in tables.items()
        if name not in ("localization", "lags") or not table.empty
    }
    written = ["report.html", "model.keras", _MANIFEST]
    # rendered once, for the files and the page; each image <= 4,000 px a side
    figures = {name: figure_to_png_bytes(fig) for name, fig in figures.items()}
    written += [
        str(p.relative_to(out)) for p in save_figures(figures, out / "figures").values()
    ]
    written += [
        str(p.relative_to(out)) for p in save_tables(tables, out / "tables").values()
    ]
    result.model.save(out / "model.keras")
    # a page per unit that is a finding; unit names such as "lstm_0/h3" become
    # safe file names, listed in the manifest like every other file
    pages = unit_file_names(str(u) for u in search.scores_.columns)
    written += write_unit_pages(result, out, pages)
    linked = {name: page for name, page in pages.items() if page in written}
    parameters = {k: str(v) for k, v in asdict(result.config).items()}
    parameters["training characters"] = str(sum(map(len, result.train_texts)))
    parameters["inspected characters"] = str(sum(map(len, result.inspect_texts)))
    if result.corpus_counts:
        parameters["corpus"] = _Split([], [], result.corpus_counts).describe()
    parameters["inspected texts that did not parse (NaN features)"] = (
        parse_failure_line(
            result.parse_failures,
            result.inspect_texts,
            result.labels,
            result.config.language,
        )
        if result.parse_failures
        else f"0 of {len(result.inspect_texts)}"
    )
    findings = findings_context(result, linked)
    parameters["model"] = findings["model"]
    # every (feature, unit) pair is in tables/scores.csv; the page shows the top
    # ones of the features it draws (those with a unit above chance); the features
    # at chance are one collapsed line of the findings, not a table
    scores = tables["scores"]
    drawn = list(summary["feature"][:MAX_FEATURES_DRAWN])
    order = {feature: i for i, feature in enumerate(drawn)}
    scores = scores[scores["feature"].isin(drawn)].assign(
        _order=lambda f: f["feature"].map(order)
    )
    top = scores.sort_values(["_order", "rank"], kind="stable").groupby(
        "feature", sort=False
    )
    top = top.head(result.config.top_k).drop(columns="_order")
    # columns this study did not compute (no permutations: no q-values) are left out
    top = top.dropna(axis=1, how="all").reset_index(drop=True)
    shown = {
        name: table
        for name, table in dict(tables, scores=top).items()
        if name != "features at chance" and not table.empty
    }
    write_html_report(
        out / "report.html",
        title="skdni study",
        parameters=parameters,
        tables=shown,
        figures=figures,
        captions=captions,
        samples=result.samples,
        samples_caption=_samples_caption(result),
        findings=findings,
        text_view=text_view_context(result),
        links=linked,
        table_captions={
            "summary": "One row per feature with a unit above chance (a finding), "
            "best skill first; every table is sortable (click a column).",
            "scores": "The best units of each drawn feature; units at chance are one "
            "row per feature. Every (feature, unit) pair is in tables/scores.csv.",
            "ablation": "Each intervention at each k: the top-k units of a feature "
            "versus random-k units (95% interval of the random draws).",
            "generation": "Shares of generated character classes with the top-k "
            "units clamped, random-k units clamped and no clamp.",
            "localization": "The CV score of one probe on each feature's top-k "
            "units jointly, against random k units and the whole layer.",
            "lags": "The CV R² of each best unit read lag characters after "
            "(positive) or before (negative) the labelled character.",
        },
    )
    (out / _MANIFEST).write_text(json.dumps(sorted(written), indent=1))


#: Features drawn in the report's score figures and heatmap: those with a unit above
#: chance, best first (every score is in tables/scores.csv).
MAX_FEATURES_DRAWN = 40
#: Unit columns of the heatmap.
MAX_HEATMAP_UNITS = 40


#: Skill thresholds of the "units above threshold" figure (paper Fig. 2).
SKILL_THRESHOLDS = (0.25, 0.5, 0.75)


def _report_figures(result) -> dict:
    """The report's figures in display order, each with its caption.

    Returns ``{name: (figure, caption)}``; the names are the file names
    (``figures/unit-scores.png``, ...) and stay stable. Bounded whatever the corpus:
    score figures over at most ``MAX_FEATURES_DRAWN`` features with a unit above
    chance, at most ``MAX_HEATMAP_UNITS`` heatmap columns, and the best unit of the
    top feature over a few short windows of text.
    """
    from .report import (
        plot_ablation_curves,
        plot_generation_shares,
        plot_score_heatmap,
        plot_unit_scores,
        plot_unit_windows,
        plot_units_above_threshold,
    )
    from .report._figures import _default_heatmap_units, metric_label

    search, summary = result.search, result.summary
    findings = list(summary["feature"])  # the summary's rows are the findings
    drawn = findings[:MAX_FEATURES_DRAWN]
    scores = search.scores_
    n_units = scores.shape[1]
    more = (
        f" (the {len(drawn)} best of {len(findings)} features with a unit above "
        "chance; every score is in tables/scores.csv)"
        if len(findings) > len(drawn)
        else ""
    )
    figures = {}
    if drawn:
        figures["unit scores"] = (
            plot_unit_scores(scores.loc[drawn], chance=search.chance_scores_),
            "Every unit's cross-validated probe score, sorted best first, one line "
            f"per feature{more}; the dashed line of the same colour is the "
            "feature's chance level (balanced accuracy 0.5 for binary features, "
            "the R² of the mean for continuous ones). A line far above its chance "
            "line at the left, then falling, means a few units encode the feature; "
            "a line that stays high means many do (the paper's Figures 2 and 3).",
        )
        figures["units above threshold"] = (
            plot_units_above_threshold(
                search.skill_.loc[drawn], thresholds=SKILL_THRESHOLDS
            ),
            f"How many of the {n_units} units reach each skill level, per feature "
            "(the paper's Figure 2, on skill rather than raw score so that "
            "features with different chance levels compare): skill = (score − "
            "chance) / (1 − chance) for balanced accuracy, the R² itself for R²; "
            "0 is chance, 1 perfect. Long bars at a high threshold: the feature is "
            "spread over many units; one short bar: a few specialised units.",
        )
        units = _default_heatmap_units(scores.loc[drawn], 3)[:MAX_HEATMAP_UNITS]
        figures["features x top units"] = (
            plot_score_heatmap(
                scores.loc[drawn], units=units, skill=search.skill_.loc[drawn]
            ),
            "Each feature's three best units (columns, at most "
            f"{MAX_HEATMAP_UNITS}) against every feature (rows): the colour is the "
            "skill above chance (0 = chance or below, dark; 1 = perfect, yellow), "
            "the number in a cell the raw score. A bright cell off its own "
            "feature's units shows a unit that encodes several features.",
        )
    ablation = result.ablation
    if not ablation.empty:
        metric = metric_label(ablation["metric"].iloc[0])
        where = ablation["positions"].iloc[0] if "positions" in ablation else "all"
        figures["ablation curves"] = (
            plot_ablation_curves(ablation),
            f"Does the model use the units (the paper's Figure 5)? The {metric} "
            f"(teacher-forced, positions: {where}) with the top-k units of each "
            "feature zeroed (solid, zero)"
            + (
                " or, for a binary feature, set to their own level where the "
                "feature is off / on by its labels (solid, oracle)"
                if (ablation["mode"] == "oracle").any()
                else ""
            )
            + ", against k random "
            "units zeroed (dashed: mean; band: 2.5-97.5 percentiles of "
            f"{int(ablation['n_random'].max())} draws); black dashed: no "
            "intervention. A top-k curve below the band (above it for a "
            "cross-entropy) means the model relies on those units more than on "
            "random ones; inside the band, no more than random.",
        )
    generation = result.generation
    if not generation.empty and result.generation_feature is not None:
        k = int(generation["k"].max())
        figures["generation shares"] = (
            plot_generation_shares(
                generation,
                classes=result.generation_classes or None,
                title=result.generation_feature,
            ),
            f"Clamped generation (the paper's Figure 4): the model writes text "
            f"freely (from {result.config.n_samples} seed characters, "
            f"{int(generation['n_samples'].iloc[0])} samples of "
            f"{result.config.sample_chars} characters) while the top-k units of "
            f"{result.generation_feature} are held at "
            f"{generation['value'].iloc[0]!r} (each unit's own mean where the "
            "feature is on, so a unit that encodes it negatively is held low), "
            "against k random units held at the same kind of value. Bars: the "
            "share of each character class in the generated text (the classes "
            f"the top-{k} clamp moved most), with 95% intervals over samples; "
            "dashed line and grey band: no clamp. Top bars outside the random bars' "
            "intervals mean the units steer what the model writes.",
        )
    figures.update(_analysis_figures(result))
    feature = drawn[0] if drawn else None
    if feature is not None and len(search.top_units_[feature]):
        unit = int(search.top_units_[feature][0])
        name = str(scores.columns[unit])
        figures["unit over text"] = (
            plot_unit_windows(
                result.inspect_texts,
                np.asarray(result.activations[:, unit]),
                labels=result.labels[feature].to_numpy(),
                unit_name=name,
                feature_name=feature,
            ),
            f"Unit {name}, the best unit of {feature} (the top finding), over a few "
            "windows of held-out text around its strongest activations and the "
            "feature's spans: each character is shaded by the unit's activation "
            "(red positive, blue negative, white 0) and the strip under each line "
            "shows the feature's label (green where it is on, grey where the "
            "feature cannot label the character). A unit that encodes the feature "
            "changes colour where the strip does.",
        )
    return figures


_PROBE_NAMES = {"lda": "linear discriminant analysis", "ols": "linear regression"}


def _analysis_figures(result) -> dict:
    """A localization curve and a lag profile per analysed feature (none when the
    study has no finding), ``{name: (figure, caption)}``."""
    from ._study_report import _SCORING_NAMES
    from .report import plot_lag_profile, plot_localization_curve

    figures = {}
    curves, lags = result.localization, result.lags
    features = list(pd.unique(curves["feature"])) if not curves.empty else []
    n_units = result.search.scores_.shape[1]
    cv = min(result.config.cv, ANALYSIS_CV)
    for feature in features:
        curve = curves[curves["feature"] == feature]
        scoring = str(curve["scoring"].iloc[0])
        scoring = _SCORING_NAMES.get(scoring, scoring.replace("_", " "))
        probe = str(curve["probe"].iloc[0])
        n_random = LOCALIZATION_RANDOM
        figures[f"localization {feature}"] = (
            plot_localization_curve(curve, title=feature),
            f"How many units carry {feature}? The {cv}-fold (whole texts) CV "
            f"{scoring} of one probe "
            f"({_PROBE_NAMES.get(probe, probe)}) fitted on the feature's k best units "
            "jointly (solid, best first by the search's ranking), against k units "
            f"drawn at random (dashed: mean; band: 2.5-97.5 percentiles of "
            f"{n_random} draws), the difference of class means on the same k units "
            "(dotted, binary features) and the probe on all "
            f"{n_units} units (grey line, the ceiling). A top-k curve that reaches "
            "the ceiling at small k while the random band stays low means the "
            "feature is localized in a few units; one that climbs with k as the "
            "random units do means it is spread over the layer.",
        )
        if lags.empty or feature not in set(lags["feature"]):
            continue
        profile = lags[lags["feature"] == feature]
        lag_scoring = str(profile["scoring"].iloc[0])
        lag_scoring = _SCORING_NAMES.get(lag_scoring, lag_scoring)
        figures[f"lags {feature}"] = (
            plot_lag_profile(profile, feature=feature),
            f"Does a unit anticipate or remember {feature}? The {cv}-fold CV "
            f"{lag_scoring} of the search's 1-D "
            f"probe that predicts the feature at character t from one of its "
            f"{profile['unit'].nunique()} best units read at character t + lag, "
            "within each text (characters whose partner falls outside the text are "
            "left out). A peak at lag 0 means the unit tracks the feature as it is "
            "read; a peak at a positive lag, that it remembers it for that many "
            "characters; at a negative lag, that it anticipates it.",
        )
    return figures
