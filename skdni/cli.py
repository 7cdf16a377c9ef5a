"""The ``skdni`` command: ``skdni run`` runs a whole Deep Neural Inspection study."""

import argparse
import os
import sys

from ._errors import SkdniError
from ._study import FEATURE_SETS, StudyConfig, check_study_options

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skdni", description="Deep Neural Inspection of character RNN models."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a whole study and write an HTML report",
        description=(
            "Train (or load) a character language model, find the hidden units that "
            "encode grammar features, check by ablation that the model uses them, and "
            "write a report. With no options: the built-in arithmetic study."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument(
        "--grammar",
        default=None,
        help="bundled grammar name or PATH.lark (default: arithmetic without --corpus, "
        "none with --corpus)",
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
        "--model", help="inspect this .keras model instead of training one"
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
        help="characters of corpus to sample or read",
    )
    run.add_argument("--units", type=_study_option("units"), default=_DEFAULTS.units)
    run.add_argument(
        "--cell", choices=("lstm", "gru", "simple"), default=_DEFAULTS.cell
    )
    run.add_argument("--epochs", type=_study_option("epochs"), default=_DEFAULTS.epochs)
    run.add_argument(
        "--cv",
        type=_study_option("cv"),
        default=_DEFAULTS.cv,
        help="cross-validation folds",
    )
    run.add_argument("--top-k", type=_study_option("top_k"), default=_DEFAULTS.top_k)
    run.add_argument(
        "--features",
        type=_feature_list,
        default=_DEFAULTS.features,
        help=f"comma-separated feature sets out of {','.join(FEATURE_SETS)}",
    )
    run.add_argument(
        "--n-jobs",
        type=_study_option("n_jobs"),
        default=None,
        help="parallel jobs (joblib)",
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
        help="random seed, 0 to 2**32 - 1",
    )
    run.add_argument(
        "--cache-dir",
        default=None,
        help="joblib cache for models, activations and features "
        "(default: ~/.cache/skdni)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an unexpected error",
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ._study import current_stage, run_study

    current_stage.set("setup")
    try:
        result = run_study(
            grammar=args.grammar,
            corpus=args.corpus,
            language=args.language,
            model=args.model,
            vocabulary=args.vocabulary,
            n_chars=args.n_chars,
            units=args.units,
            cell=args.cell,
            epochs=args.epochs,
            cv=args.cv,
            top_k=args.top_k,
            features=args.features,
            n_jobs=args.n_jobs,
            out=args.out,
            overwrite=args.overwrite,
            seed=args.seed,
            cache_dir=args.cache_dir,
            verbose=0 if args.quiet else 1,
        )
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


def _print_summary(result, rows: int = 10) -> None:
    """Model accuracy, the top ``rows`` findings by skill, and where the rest is."""
    model = result.model
    search, summary = result.search, result.summary
    print(
        f"model: next-character accuracy {model.score(result.inspect_texts):.3f} on "
        f"{sum(map(len, result.inspect_texts))} held-out characters "
        f"(majority-class rate {model.majority_rate_:.3f})"
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
    if result.parse_failures:
        print(
            f"{len(result.parse_failures)} of {len(result.inspect_texts)} inspected "
            "texts did not parse: their grammar features are NaN (left out of the fits)"
        )
    if result.out is not None:
        tables = result.out / "tables"
        if len(summary) > rows:
            print(f"top {rows} of {len(summary)} findings shown; all of them:")
        print(f"summary table: {tables / 'summary.csv'}")
        print(f"report: {result.out / 'report.html'}")


if __name__ == "__main__":
    sys.exit(main())
