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
from numbers import Integral
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from joblib import Memory
from sklearn.pipeline import FeatureUnion

from ._errors import InputError, InvalidParameterError
from ._texts import check_texts, sequence_ids

FEATURE_SETS = ("range", "impulse", "depth", "parser", "regex")
_MANIFEST = "skdni-manifest.json"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/skdni`` (``~/.cache/skdni`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
    return Path(root) / "skdni"


@dataclass
class StudyConfig:
    """Everything that defines a study; equal configs give equal tables."""

    #: None: ``"arithmetic"`` when sampling a corpus, no grammar with ``corpus``.
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
    n_jobs: int | None = None
    seed: int = 0
    out: str = "skdni-report"
    cache_dir: str | None = None
    overwrite: bool = False
    verbose: int = 1

    def check(self) -> None:
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
        check_study_options(vars(self))


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
    """The fitted estimators and the tables of a study (see :func:`run_study`)."""

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
            else f"{_n(c['files'])} files"
        )
        head = (
            f"{read} -> {_n(c['texts'])} texts (at most "
            f"{_n(c['max_text_chars'])} characters each)"
            if c["files_are_files"]
            else f"{_n(c['texts'])} sampled texts"
        )
        line = (
            f"{head}: {_n(c['train_texts'])} train ({_n(c['train_chars'])} chars"
            + (f", {_n(c['train_files'])} {unit}" if c["files_are_files"] else "")
            + f"), {_n(c['held_out_texts'])} held out"
            + (f" ({_n(c['held_out_files'])} {unit})" if c["files_are_files"] else "")
            + f"; {_n(c['inspected_chars'])} chars in {_n(c['inspected_texts'])} "
            f"texts inspected (cap {_n(c['max_inspect_chars'])})"
        )
        if c["unused_chars"]:
            line += (
                f"; {_n(c['unused_chars'])} held-out chars past the cap are not used"
            )
        return line


def _split(groups, fraction, max_inspect_chars, seed, *, files_are_files=False):
    """Split by file: held-out files to inspect (never trained on), the rest to
    train on.

    ``groups`` holds the texts of each file (of each sampled text). Random files
    are held out until they hold ``min(max_inspect_chars, fraction * total)``
    characters (at least one file, and one file is left to train on), so no more
    is held out than is inspected; their texts are inspected in order up to
    exactly ``max_inspect_chars`` characters, the text that would cross the cap cut
    to its lines that fit.
    """
    from .datasets._split import split_lines

    if len(groups) < 2:
        unit = "file" if files_are_files else "text"
        raise InputError(
            f"The corpus has {len(groups)} {unit}; a study needs at least 2 (some "
            "to train on, some held out to inspect): give a folder or several files."
        )
    sizes = [sum(map(len, texts)) for texts in groups]
    total = sum(sizes)
    target = min(max_inspect_chars, fraction * total)
    order = np.random.default_rng(seed).permutation(len(groups))
    held, held_chars = [], 0
    for i in order[: len(groups) - 1]:
        if held and held_chars >= target:
            break
        held.append(int(i))
        held_chars += sizes[i]
    held = sorted(held)
    inspect, inspected = [], 0
    for i in held:
        for text in groups[i]:
            room = max_inspect_chars - inspected
            if len(text) > room:
                text = split_lines(text, None, first=room)
            if not text:
                break
            inspect.append(text)
            inspected += len(text)
    held_set = set(held)
    train = [t for i, texts in enumerate(groups) if i not in held_set for t in texts]
    counts = {
        "files_are_files": files_are_files,
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
    return _Split(train, inspect, counts)


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
    from .datasets._loaders import _collect_paths, read_text_files_by_file

    n_found = None
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
        if len(groups) < 2:
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
    )
    split.counts.update(
        max_text_chars=cfg.max_text_chars, n_chars=cfg.n_chars, files_found=n_found
    )
    _check_split(cfg, split)
    return split


def _train_model(train_texts, units, cell, epochs, seed, unknown, verbose):
    from .models import CharLanguageModel

    # The estimator's convergent recipe (Adam 0.005 halved on plateaus, dropout 0.1,
    # early stopping on 10% of the training texts with patience 3): ``epochs`` is only
    # its cap, and None keeps the estimator's own cap. joblib's cache key is this
    # function's code and arguments, so a change of recipe must change this function.
    cap = {} if epochs is None else {"epochs": epochs}
    lm = CharLanguageModel(
        cell=cell,
        units=units,
        unknown=unknown,
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
):
    """Fitted featurizer, its labels, and the texts that did not parse.

    ``grammar_source`` is unused here: it is the grammar's text, so that the cache
    key changes when a ``.lark`` file is edited under the same path.
    """
    featurizer = _featurizer(grammar, features, on_error, n_jobs, verbose, language)
    with warnings.catch_warnings():
        # the study reports the texts that did not parse in one line of its own
        warnings.filterwarnings("ignore", "(?s).*did not parse", UserWarning)
        labels = featurizer.set_output(transform="pandas").fit_transform(inspect_texts)
    failed = {
        i
        for _, part in featurizer.transformer_list
        for i in getattr(part, "failed_texts_", [])
    }
    # Features that never vary carry no information to probe for, and a feature equal
    # to an earlier one (e.g. range:digit and impulse:digit) would only repeat its rows.
    labels = labels.loc[:, labels.nunique(dropna=True) > 1]
    return featurizer, labels.loc[:, ~labels.T.duplicated()], sorted(failed)


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


def _ablation_features(summary: pd.DataFrame, n: int) -> list[str]:
    binary = summary[(summary["kind"] == "binary") & (summary["skill"] > 0)]
    return list(binary["feature"][:n])


def _ks(cfg, search, feature) -> list[int]:
    """The ``ks`` that the feature's ranked units can fill (at most ``top_k`` units)."""
    return [k for k in cfg.ks if k <= len(search.top_units_[feature])]


def _ablations(cfg, model, search, inspect_texts, labels, features) -> pd.DataFrame:
    from .intervention import NeuronAblationScorer

    frames = []
    for feature in features:
        ks = _ks(cfg, search, feature)
        for mode in ("zero", "oracle"):
            scorer = NeuronAblationScorer(
                model,
                search=search,
                feature=feature,
                k=ks,
                mode=mode,
                metric="class_accuracy",
                n_random=cfg.n_random if mode == "zero" else 0,
                random_state=cfg.seed,
                n_jobs=cfg.n_jobs,
                verbose=cfg.verbose,
            )
            y = labels[feature].to_numpy() if mode == "oracle" else None
            frames.append(scorer.evaluate(inspect_texts, y))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _generation(cfg, model, search, inspect_texts, feature):
    from .intervention import clamped_generation

    seeds = [t[:1] for t in inspect_texts[: cfg.n_samples]]
    return clamped_generation(
        model,
        search.top_units_[feature],
        seeds=seeds,
        n_chars=cfg.sample_chars,
        ks=_ks(cfg, search, feature),
        n_random=cfg.n_random,
        random_state=cfg.seed,
    )


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
    options, the built-in default study on the ``arithmetic`` grammar. The trained
    model, activations and features are cached with :class:`joblib.Memory` under
    ``cache_dir``, so a re-run with other probing options does not retrain.

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
        cfg.grammar = "arithmetic"
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
    say.detail(split.describe())
    if cfg.model is not None:
        say(f"model (loaded from {cfg.model})")
        model = CharLanguageModel.load(cfg.model, vocabulary=_vocabulary(cfg))
    else:
        say(
            f"model: training a {cfg.cell.upper()}({cfg.units}) language model on "
            f"{_n(sum(map(len, train_texts)))} characters in {_n(len(train_texts))} "
            f"texts, at most {cfg.epochs} epochs"
        )
        # Real text may hold characters only the held-out texts use.
        unknown = "error" if cfg.corpus is None else "ignore"
        model = memory.cache(_train_model, ignore=["verbose"])(
            train_texts, cfg.units, cfg.cell, cfg.epochs, cfg.seed, unknown, cfg.verbose
        )
    say(
        f"activations and features of the {_n(sum(map(len, inspect_texts)))} "
        f"inspected characters ({_n(len(inspect_texts))} held-out texts)"
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
    )
    if parse_failures:
        say.detail(
            f"{len(parse_failures)} of {len(inspect_texts)} inspected texts did not "
            "parse: their grammar features are NaN (left out of the probe fits)"
        )
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
    chosen = [
        f
        for f in _ablation_features(summary, cfg.ablation_features)
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


def _write_report(result: StudyResult, out: Path) -> None:
    from .report import (
        figure_to_png_bytes,
        save_figures,
        save_tables,
        write_html_report,
    )

    search, summary = result.search, result.summary
    figures = _report_figures(result)
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
    parameters = {k: str(v) for k, v in asdict(result.config).items()}
    parameters["training characters"] = str(sum(map(len, result.train_texts)))
    parameters["inspected characters"] = str(sum(map(len, result.inspect_texts)))
    if result.corpus_counts:
        parameters["corpus"] = _Split([], [], result.corpus_counts).describe()
    parameters["inspected texts that did not parse (NaN features)"] = (
        f"{len(result.parse_failures)} of {len(result.inspect_texts)}"
    )
    parameters["model accuracy (inspected texts)"] = (
        f"{result.model.score(result.inspect_texts):.4f}"
    )
    # every (feature, unit) pair is in tables/scores.csv; the page shows the top
    # ones of the features it draws (those with a unit above chance)
    scores = tables["scores"]
    # the summary's rows are the findings (features with a unit above chance)
    drawn = list(summary["feature"][:MAX_FEATURES_DRAWN])
    scores = scores[scores["feature"].isin(drawn)]
    top = scores.sort_values(["feature", "rank"], kind="stable").groupby("feature")
    shown = dict(tables, scores=top.head(result.config.top_k))
    write_html_report(
        out / "report.html",
        title="skdni study",
        parameters=parameters,
        tables=shown,
        figures=figures,
        samples=result.samples,
    )
    (out / _MANIFEST).write_text(json.dumps(sorted(written), indent=1))


#: Features drawn in the report's score figures and heatmap: those with a unit above
#: chance, best first (every score is in tables/scores.csv).
MAX_FEATURES_DRAWN = 40
#: Unit columns of the heatmap.
MAX_HEATMAP_UNITS = 40


def _report_figures(result) -> dict:
    """The report's figures, bounded whatever the corpus: score lines and the
    heatmap over at most ``MAX_FEATURES_DRAWN`` features with a unit above chance,
    and the best unit of the top feature over a few short windows of text."""
    from .report import (
        plot_ablation_curves,
        plot_score_heatmap,
        plot_unit_scores,
        plot_unit_windows,
    )
    from .report._figures import _default_heatmap_units

    search, summary = result.search, result.summary
    findings = list(summary["feature"])  # the summary's rows are the findings
    drawn = findings[:MAX_FEATURES_DRAWN]
    scores = search.scores_
    figures = {}
    if drawn:
        # the names are the file names (figures/unit-scores.png): kept stable
        figures["unit scores"] = plot_unit_scores(
            scores.loc[drawn], chance=search.chance_scores_
        )
        units = _default_heatmap_units(scores.loc[drawn], 3)[:MAX_HEATMAP_UNITS]
        figures["features x top units"] = plot_score_heatmap(
            scores.loc[drawn], units=units
        )
    if not result.ablation.empty:
        figures["ablation curves"] = plot_ablation_curves(result.ablation)
    feature = drawn[0] if drawn else (summary["feature"][0] if len(summary) else None)
    if feature is not None and len(search.top_units_[feature]):
        unit = int(search.top_units_[feature][0])
        name = str(scores.columns[unit])
        figures["unit over text"] = plot_unit_windows(
            result.inspect_texts,
            np.asarray(result.activations[:, unit]),
            labels=result.labels[feature].to_numpy(),
            unit_name=name,
            feature_name=feature,
        )
    return figures
