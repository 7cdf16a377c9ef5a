"""The ``skdni`` command: ``skdni run`` runs a whole Deep Neural Inspection study."""

import argparse
import os
import sys
from collections import Counter

from ._errors import SkdniError
from ._study import (
    FEATURE_SETS,
    StudyConfig,
    check_study_options,
    parse_failure_line,
)

_DEFAULTS = StudyConfig()


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _study_option(name: str):
    """An argparse type for ``--name``: an int checked with the rule of the
    estimator that the study passes it to (``check_study_options``)."""

    def parse(text: str) -> int:
        value = _int(text)
        try:
            check_study_options({name: value})
        except SkdniError as exc:
            # argparse prefixes the option name; keep the rule, not our prefix
            message = str(exc).removeprefix(f"{name}: ")
            raise argparse.ArgumentTypeError(message) from None
        return value

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def _feature_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(FEATURE_SETS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown feature set(s) {unknown}; choose from {','.join(FEATURE_SETS)}"
        )
    return names


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 1,5,10, got {text!r}"
        )
    return values


def _clamp_value(text: str):
    """``on`` / ``off`` or a finite number."""
    if text in ("on", "off"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(
            f"expected 'on', 'off' or a number such as 1.0, got {text!r}"
        )
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default, once: not for flags, nor where the help says it."""

    def _get_help_string(self, action):
        if (
            action.default is None
            or isinstance(action.default, bool)
            or "default:" in (action.help or "")
        ):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skdni", description="Deep Neural Inspection of character RNN models."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a whole study and write an HTML report",
        description=(
            "Train (or load) a character language model, find the hidden units that "
            "encode grammar features, check by ablation that the model uses them, and "
            "write a report. With no options: the built-in parentheses study."
        ),
        formatter_class=_HelpFormatter,
    )
    run.add_argument(
        "--grammar",
        default=None,
        help="bundled grammar name or PATH.lark (default: parentheses without "
        "--corpus, none with --corpus)",
    )
    run.add_argument(
        "--corpus",
        help="file or folder of real text to read (default: sample the grammar)",
    )
    run.add_argument(
        "--language",
        default=None,
        help="with --corpus: label source code with this tree-sitter grammar (c, "
        "python, or any installed tree-sitter-<name> package) instead of --grammar; "
        "a folder is read for that language's files (*.c/*.h, *.py)",
    )
    run.add_argument(
        "--model",
        help="inspect this .keras model instead of training one (default: train "
        "one on the corpus)",
    )
    run.add_argument(
        "--vocabulary",
        help="JSON file with the --model's {char: input id} table or its characters "
        "in id order (needed for a .keras file skdni did not write)",
    )
    run.add_argument(
        "--n-chars",
        type=_positive_int,
        default=_DEFAULTS.n_chars,
        help="characters of corpus to sample, or to read from --corpus (whole "
        "files while they fit, then the lines of the next file that fit)",
    )
    run.add_argument(
        "--max-text-chars",
        type=_positive_int,
        default=_DEFAULTS.max_text_chars,
        help="longest text: longer files are cut into texts at line ends, "
        "between statements where possible",
    )
    run.add_argument(
        "--max-inspect-chars",
        type=_positive_int,
        default=_DEFAULTS.max_inspect_chars,
        help="characters of held-out text to inspect (exact cap: activations, "
        "features and probes cost grows with it)",
    )
    run.add_argument(
        "--inspect-fraction",
        type=_fraction,
        default=_DEFAULTS.inspect_fraction,
        help="hold out files until they hold this fraction of the corpus or "
        "--max-inspect-chars characters, whichever is smaller; train on the others",
    )
    run.add_argument(
        "--units",
        type=_study_option("units"),
        default=_DEFAULTS.units,
        help="hidden units of the trained language model",
    )
    run.add_argument(
        "--cell",
        choices=("lstm", "gru", "simple"),
        default=_DEFAULTS.cell,
        help="recurrent cell of the trained language model",
    )
    run.add_argument(
        "--epochs",
        type=_study_option("epochs"),
        default=_DEFAULTS.epochs,
        help="training epochs of the language model (at most)",
    )
    run.add_argument(
        "--cv",
        type=_study_option("cv"),
        default=_DEFAULTS.cv,
        help="cross-validation folds",
    )
    run.add_argument(
        "--top-k",
        type=_study_option("top_k"),
        default=_DEFAULTS.top_k,
        help="best units kept per feature",
    )
    run.add_argument(
        "--features",
        type=_feature_list,
        default=",".join(_DEFAULTS.features),
        help=f"comma-separated feature sets out of {','.join(FEATURE_SETS)}",
    )
    run.add_argument(
        "--ablation-features",
        type=_non_negative_int,
        default=_DEFAULTS.ablation_features,
        help="binary features whose top units are ablated (the best ones); "
        "each costs a pass over the inspected text per k and random draw",
    )
    run.add_argument(
        "--ks",
        type=_int_list,
        default=",".join(map(str, _DEFAULTS.ks)),
        help="numbers of units ablated / clamped, comma-separated",
    )
    run.add_argument(
        "--n-random",
        type=_non_negative_int,
        default=_DEFAULTS.n_random,
        help="random unit sets drawn per k, the baseline of an ablation",
    )
    run.add_argument(
        "--ablation-metric",
        choices=(
            "class_accuracy",
            "class_cross_entropy",
            "within_class_accuracy",
            "accuracy",
            "cross_entropy",
        ),
        default=_DEFAULTS.ablation_metric,
        help="what the ablations measure: the next character's class by class "
        "mass, its cross-entropy, the right character within its class, or the "
        "plain next-character accuracy / cross-entropy",
    )
    run.add_argument(
        "--ablation-positions",
        default=_DEFAULTS.ablation_positions,
        metavar="CHARS",
        help="score only the predictions made right after one of these characters "
        "(default: every character)",
    )
    run.add_argument(
        "--clamp-value",
        type=_clamp_value,
        default=_DEFAULTS.clamp_value,
        help="value the top units are held at while generating: 'on' / 'off' (each "
        "unit's own mean where the feature is on / off) or a number (1.0: the "
        "paper's)",
    )
    run.add_argument(
        "--no-ablation",
        action="store_true",
        help="skip ablations and clamped generation (same as --ablation-features 0)",
    )
    run.add_argument(
        "--n-jobs",
        type=_study_option("n_jobs"),
        default=None,
        help="parallel jobs (joblib; -1: all cores; default: 1)",
    )
    run.add_argument("--out", default=_DEFAULTS.out, help="report folder")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace skdni's files in a non-empty --out",
    )
    run.add_argument(
        "--seed",
        type=_study_option("seed"),
        default=_DEFAULTS.seed,
        help="random seed (corpus, split, model, probes), 0 to 2**32 - 1",
    )
    run.add_argument(
        "--cache-dir",
        default=None,
        help="joblib cache for models, activations and features "
        "(default: ~/.cache/skdni)",
    )
    run.add_argument(
        "--quiet", action="store_true", help="no stage lines, no progress bars"
    )
    run.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an unexpected error",
    )
    warm = commands.add_parser(
        "warm-up",
        help="compile the numba kernels into numba's cache (once, after install)",
        description=(
            "Compile every numba kernel of skdni into numba's on-disk cache, in "
            "parallel processes, so that the first fit of a new process loads them "
            "instead of compiling. Running it again only loads them."
        ),
        formatter_class=_HelpFormatter,
    )
    warm.add_argument(
        "--n-jobs",
        type=_positive_int,
        default=None,
        help="worker processes (default: one per CPU, at most one per task)",
    )
    return parser


def _warm_up(args) -> int:
    import time

    from ._warm_up import warm_up

    start = time.perf_counter()
    kernels = warm_up(n_jobs=args.n_jobs)
    compiled = sum(status == "compiled" for status in kernels.values())
    print(
        f"skdni: numba kernels compiled into the cache: {compiled}, loaded from it: "
        f"{len(kernels) - compiled} ({time.perf_counter() - start:.1f} s)"
    )
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "warm-up":
        return _warm_up(args)
    from ._study import current_stage, run_study

    current_stage.set("setup")
    try:
        result = run_study(**_study_options(args))
        _print_summary(result)
    except (SkdniError, OSError) as exc:
        if args.debug:
            raise
        print(f"skdni: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skdni: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(_unexpected(exc, current_stage.get()), file=sys.stderr)
        return 1
    return 0


def _study_options(args) -> dict:
    """The :func:`run_study` options of the parsed ``skdni run`` flags."""
    return dict(
        grammar=args.grammar,
        corpus=args.corpus,
        language=args.language,
        model=args.model,
        vocabulary=args.vocabulary,
        n_chars=args.n_chars,
        max_text_chars=args.max_text_chars,
        max_inspect_chars=args.max_inspect_chars,
        inspect_fraction=args.inspect_fraction,
        units=args.units,
        cell=args.cell,
        epochs=args.epochs,
        cv=args.cv,
        top_k=args.top_k,
        features=args.features,
        ablation_features=0 if args.no_ablation else args.ablation_features,
        ks=args.ks,
        n_random=args.n_random,
        ablation_metric=args.ablation_metric,
        ablation_positions=args.ablation_positions,
        clamp_value=args.clamp_value,
        n_jobs=args.n_jobs,
        out=args.out,
        overwrite=args.overwrite,
        seed=args.seed,
        cache_dir=args.cache_dir,
        verbose=0 if args.quiet else 1,
    )


def _unexpected(exc: BaseException, stage: str) -> str:
    """One line naming the failed stage and the file holding the traceback."""
    import tempfile
    import traceback

    lines = str(exc).splitlines()
    what = f"unexpected {type(exc).__name__} in stage '{stage}'"
    if lines:
        what += f": {lines[0]}"
    try:
        fd, path = tempfile.mkstemp(prefix="skdni-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            traceback.print_exception(exc, file=file)
        where = f"full traceback in {path}; rerun with --debug to see it"
    except OSError:
        where = "rerun with --debug to see the traceback"
    return f"skdni: error: {what} ({where})"


def _majority_rate(texts) -> float:
    """Share of the most frequent next character among the characters ``score``
    counts (all but each text's first): the accuracy of always predicting it, the
    chance level of next-character accuracy. Computed on the scored texts, it is
    known for any model (a loaded one has no training texts: ``majority_rate_`` is
    NaN)."""
    counts = Counter(char for text in texts for char in text[1:])
    return max(counts.values()) / counts.total() if counts else float("nan")


def _print_summary(result, rows: int = 10) -> None:
    """Model accuracy, the top ``rows`` findings by skill, and where the rest is."""
    model = result.model
    search, summary = result.search, result.summary
    print(
        f"model: next-character accuracy {model.score(result.inspect_texts):.3f} on "
        f"{sum(map(len, result.inspect_texts)):,} "
        + ("inspected" if result.config.model is not None else "held-out")
        + " characters "
        f"(majority-class rate {_majority_rate(result.inspect_texts):.3f})"
    )
    n_features = len(search.target_names_)
    print(
        f"findings: {len(summary)} of {n_features} features have a unit above chance "
        "(binary: balanced accuracy, chance 0.5; continuous: R²; skill = (score - "
        "chance) / (1 - chance), for R² the R² itself; 1 is perfect)"
    )
    if len(summary):
        table = summary.head(rows).copy()
        for column in ("best_score", "chance", "skill"):
            table[column] = table[column].map("{:.3f}".format)
        print(table.to_string(index=False))
    at_chance = list(search.features_at_chance_)
    if at_chance:
        shown = ", ".join(at_chance[:8]) + (", ..." if len(at_chance) > 8 else "")
        print(f"no unit above chance for {len(at_chance)} features: {shown}")
    for line in result.causal_findings:
        print(f"causal: {line}")
    if result.parse_failures:
        print(
            parse_failure_line(
                result.parse_failures,
                result.inspect_texts,
                result.labels,
                result.config.language,
            )
        )
    if result.out is not None:
        tables = result.out / "tables"
        if len(summary) > rows:
            print(f"top {rows} of {len(summary)} findings shown; all of them:")
        print(f"summary table: {tables / 'summary.csv'}")
        print(f"report: {result.out / 'report.html'}")


if __name__ == "__main__":
    sys.exit(main())
