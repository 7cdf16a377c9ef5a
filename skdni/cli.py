"""The ``skdni`` command: ``skdni run`` runs a whole Deep Neural Inspection study."""

import argparse
import sys

from ._errors import SkdniError
from ._study import FEATURE_SETS, StudyConfig

_DEFAULTS = StudyConfig()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


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
        "--n-chars",
        type=_positive_int,
        default=_DEFAULTS.n_chars,
        help="characters of corpus to sample or read",
    )
    run.add_argument("--units", type=_positive_int, default=_DEFAULTS.units)
    run.add_argument(
        "--cell", choices=("lstm", "gru", "simple"), default=_DEFAULTS.cell
    )
    run.add_argument("--epochs", type=_positive_int, default=_DEFAULTS.epochs)
    run.add_argument(
        "--cv", type=_positive_int, default=_DEFAULTS.cv, help="cross-validation folds"
    )
    run.add_argument("--top-k", type=_positive_int, default=_DEFAULTS.top_k)
    run.add_argument(
        "--features",
        type=_feature_list,
        default=_DEFAULTS.features,
        help=f"comma-separated feature sets out of {','.join(FEATURE_SETS)}",
    )
    run.add_argument("--n-jobs", type=int, default=None, help="parallel jobs (joblib)")
    run.add_argument("--out", default=_DEFAULTS.out, help="report folder")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace skdni's files in a non-empty --out",
    )
    run.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    run.add_argument(
        "--cache-dir",
        default=None,
        help="joblib cache for models, activations and features "
        "(default: ~/.cache/skdni)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ._study import run_study

    try:
        result = run_study(
            grammar=args.grammar,
            corpus=args.corpus,
            language=args.language,
            model=args.model,
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
    except (SkdniError, OSError) as exc:
        print(f"skdni: error: {exc}", file=sys.stderr)
        return 2
    _print_summary(result)
    return 0


def _print_summary(result) -> None:
    model = result.model
    print(
        f"model: next-character accuracy {model.score(result.inspect_texts):.3f} on "
        f"{sum(map(len, result.inspect_texts))} held-out characters "
        f"(majority-class rate {model.majority_rate_:.3f})"
    )
    table = result.summary.copy()
    for column in ("best_score", "chance", "lift"):
        table[column] = table[column].map("{:.3f}".format)
    print(table.to_string(index=False))
    if result.parse_failures:
        print(
            f"{len(result.parse_failures)} of {len(result.inspect_texts)} inspected "
            "texts did not parse (with --language: in part, tree-sitter's ERROR / "
            "MISSING nodes): their grammar features are NaN there (left out of the "
            "fits)"
        )
    if result.out is not None:
        print(f"report: {result.out / 'report.html'}")


if __name__ == "__main__":
    sys.exit(main())
