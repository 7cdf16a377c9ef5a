"""The paper's §5.3: a character LSTM on real source code — which units follow the
code's structure?

The paper trained on the Linux kernel with a C99 parser. This script reads real source
files from disk:

* by default the Python standard library of the running interpreter
  (:func:`~skdni.datasets.load_python_source`), labelled with lark's Python grammar;
* with ``--c-dir DIR``, the ``*.c`` files under ``DIR`` (e.g. a Linux kernel
  checkout), labelled with skdni's bundled C99-subset grammar;
* with ``--py-dir DIR``, the ``*.py`` files under ``DIR``;
* with ``--c-source``, the hand-written ``.c`` / ``.h`` files shipped inside the
  installed packages (:func:`~skdni.datasets.load_c_source`: numpy, scikit-learn,
  numba, markupsafe, ...): real C on every machine, labelled with tree-sitter.

``--tree-sitter`` labels any of these with tree-sitter
(:class:`~skdni.features.TreeSitterFeaturizer`) instead of lark: tree-sitter parses
real code with error recovery (macros, extensions), so most of a file gets labels and
only the characters of its ERROR / MISSING nodes are NaN. With tree-sitter the script
also measures the paper's Figure 6: text generated with the top-1 and top-10 units of
the parentheses feature clamped to 1, against random units, scored by the share of
generated characters that are *matched* parentheses, with 95% intervals.

Whole files are drawn at random (seeded) up to ``--max-chars`` characters. The script
trains a 1-layer LSTM character language model on some of them, labels held-out
files with range and impulse features of ten parse-tree rules (function definitions,
calls and their brackets, blocks, statements and their terminators, strings) plus
character-level features (brackets, bracket depth, quotations, newlines or
semicolons), probes every (feature, unit) pair, and generates code with the top-k units
of the bracket features clamped to 1, counting the brackets produced (the paper's
Figure 6). Files the grammar cannot parse get NaN labels and are counted.

Run ``python examples/source_code.py --help`` for the options.
"""

import os

# Pin threads before numpy / jax are imported: on a shared 2-core machine the default
# thread pools collapse (ENVIRONMENT.md).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import (  # noqa: E402
    base_parser,
    feature_summary,
    print_settings,
    print_table,
    save_outputs,
    step,
    units_by_score,
)

from skdni.activations import LSTMActivationTransformer  # noqa: E402
from skdni.datasets import (  # noqa: E402
    load_c_source,
    load_python_source,
    load_text_files,
)
from skdni.features import (  # noqa: E402
    ParseTreeFeaturizer,
    RegexFeaturizer,
    TreeSitterFeaturizer,
    character_features,
)
from skdni.intervention import (  # noqa: E402
    Intervention,
    count_class_in_generations,
    generate_with_interventions,
)
from skdni.models import CharLanguageModel  # noqa: E402
from skdni.probing import NeuronProbeSearch  # noqa: E402

KS = [1, 5, 10]
BRACKETS = "()"
# Cross-validation groups: source files are few and long, so folds are made of
# contiguous blocks of this many characters (a block is never split across folds).
BLOCK_CHARS = 1000

# Ten parse-tree nodes of varying complexity per language, as in the paper's §5.3:
# function definitions, calls with their parentheses and arguments, blocks,
# statements (whose impulse marks where they end), strings.
LANGUAGES = {
    "python": {
        "grammar": "python",
        "rules": [
            "funcdef",
            "parameters",
            "suite",
            "funccall",
            "arguments",
            "string",
            "assign",
            "return_stmt",
            "if_stmt",
            "dict",
        ],
        "bracket_rule": "range:funccall",
        "terminator": {"newline": r"\n"},
        "gen_seed": "\ndef ",
    },
    "c": {
        "grammar": "c",
        "rules": [
            "function_definition",
            "compound_statement",
            "call",
            "arguments",
            "paren",
            "string",
            "declaration",
            "expression_statement",
            "return_statement",
            "if_statement",
        ],
        "bracket_rule": "range:call",
        "terminator": {"semicolon": ";"},
        "gen_seed": "\nint ",
    },
}
# The same study labelled by tree-sitter: ten node types per language, from
# statement terminators (";" is an anonymous node: named_only=False) and number
# literals to function definitions, with the parentheses feature of Figure 6.
TREE_SITTER = {
    "python": {
        "node_types": [
            "function_definition",
            "parameters",
            "block",
            "call",
            "argument_list",
            "parenthesized_expression",
            "string",
            "integer",
            "return_statement",
            "if_statement",
        ],
        "bracket_rule": "range:parenthesized_expression",
    },
    "c": {
        "node_types": [
            ";",
            "function_definition",
            "compound_statement",
            "parenthesized_expression",
            "call_expression",
            "argument_list",
            "number_literal",
            "string_literal",
            "return_statement",
            "if_statement",
        ],
        "bracket_rule": "range:parenthesized_expression",
    },
}
FIGURE6_KS = [1, 10]
CHARACTER_FEATURES = ["bracket", "bracket_depth", "in_quotes"]

SIZES = {
    "full": {
        "max_chars": 450_000,
        "units": 128,
        "epochs": 20,
        "cv": 20,
        "n_random": 10,
        "gen_chars": 300,
        "gen_samples": 4,
    },
    "quick": {
        "max_chars": 20_000,
        "units": 16,
        "epochs": 1,
        "cv": 3,
        "n_random": 3,
        "gen_chars": 40,
        "gen_samples": 2,
    },
}

GENERATION_COLUMNS = [
    "k",
    "baseline_rate",
    "top_rate",
    "random_mean",
    "random_low",
    "random_high",
]


def draw_files(lengths, max_chars: int, random_state: int):
    """Indices of whole files drawn at random until they hold ``max_chars`` chars.

    Files longer than an eighth of ``max_chars`` are skipped, so no single file
    dominates the corpus or the held-out set (the standard library's first files in
    path order include a 230,000-character one).
    """
    longest = max(max_chars // 8, 1)
    order = np.random.default_rng(random_state).permutation(len(lengths))
    drawn, total = [], 0
    for i in order:
        if total >= max_chars:
            break
        if lengths[i] <= longest:
            drawn.append(int(i))
            total += lengths[i]
    return sorted(drawn), longest


def read_corpus(args, max_chars: int):
    """The files to study, their language, and where they come from."""
    if args.c_source:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            every = load_c_source()
        drawn, longest = draw_files([len(t) for t in every], max_chars, args.seed)
        origin = f"installed packages ({len(every)} hand-written C files"
        return "c", [every[i] for i in drawn], f"{origin}, <= {longest} chars)"
    if args.c_dir is None and args.py_dir is None:
        with warnings.catch_warnings():
            # a few test files of the standard library are undecodable on purpose
            warnings.simplefilter("ignore", UserWarning)
            every = load_python_source()
        drawn, longest = draw_files([len(t) for t in every], max_chars, args.seed)
        origin = f"the Python standard library ({len(every)} files"
        return "python", [every[i] for i in drawn], f"{origin}, <= {longest} chars)"
    if args.c_dir is not None:
        folder, pattern, language = args.c_dir, "*.c", "c"
    else:
        folder, pattern, language = args.py_dir, "*.py", "python"
    # Paths are listed first and only the drawn files are read: a tree such as the
    # Linux kernel holds far more text than a study needs. File sizes (bytes) stand
    # in for lengths (characters) in the draw.
    paths = [p for p in sorted(Path(folder).rglob(pattern)) if p.is_file()]
    if not paths:  # load_text_files names the problem (missing folder, no match)
        load_text_files(folder, pattern=pattern)
    drawn, longest = draw_files([p.stat().st_size for p in paths], max_chars, args.seed)
    if not drawn:
        raise SystemExit(
            f"every {pattern} file under {folder} is longer than {longest} bytes; "
            "raise --max-chars"
        )
    texts = load_text_files([paths[i] for i in drawn])
    return language, texts, f"{folder} ({len(paths)} files, <= {longest} bytes)"


def split_files(texts, fraction: float, random_state: int):
    """Held-out files (whole, in random order) until they hold ``fraction`` of the
    characters; at least one file on each side."""
    order = np.random.default_rng(random_state).permutation(len(texts))
    target, held, total = fraction * sum(map(len, texts)), [], 0
    for i in order[:-1]:
        if total >= target:
            break
        held.append(i)
        total += len(texts[i])
    held = set(held)
    train = [t for i, t in enumerate(texts) if i not in held]
    return train, [t for i, t in enumerate(texts) if i in held]


def block_groups(texts, block: int = BLOCK_CHARS) -> np.ndarray:
    """A group id per character: its file and its ``block``-character slice of it."""
    groups, first = [], 0
    for text in texts:
        ids = np.arange(len(text)) // block
        groups.append(first + ids)
        first += int(ids[-1]) + 1
    return np.concatenate(groups)


def main(argv=None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--c-dir", default=None, help="study the *.c files under this folder"
    )
    source.add_argument(
        "--py-dir",
        default=None,
        help="study the *.py files under this folder (default: the standard library)",
    )
    source.add_argument(
        "--c-source",
        action="store_true",
        help="study the C files shipped inside the installed packages (tree-sitter)",
    )
    parser.add_argument(
        "--tree-sitter",
        action="store_true",
        help="label with tree-sitter instead of lark (implied by --c-source)",
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=None,
        help="characters to study: whole files drawn at random (seeded), each at "
        "most an eighth of this; default 450,000 (20,000 with --quick)",
    )
    parser.add_argument(
        "--min-skill",
        type=float,
        default=0.5,
        help="a unit is 'strong' for a feature when its score closes this fraction "
        "of the gap between chance and a perfect score",
    )
    args = parser.parse_args(argv)
    args.tree_sitter = args.tree_sitter or args.c_source
    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.max_chars is not None:
        sizes["max_chars"] = args.max_chars
    print_settings("Source code (paper §5.3)", args, sizes)

    with step("reading source files"):
        language, texts, origin = read_corpus(args, sizes["max_chars"])
        spec = LANGUAGES[language]
        train, probe = split_files(texts, 0.3, args.seed)
    print(
        f"   {len(texts)} {language} files from {origin}: training on {len(train)} "
        f"({sum(map(len, train))} chars), inspecting {len(probe)} held-out files "
        f"({sum(map(len, probe))} chars)"
    )

    with step(f"training the LSTM ({sizes['units']} units)"):
        lm = CharLanguageModel(
            units=sizes["units"],
            epochs=sizes["epochs"],
            window=100,
            # the recipe this example's README numbers were measured with (the
            # estimator's defaults since changed to 0.005, dropout 0.1 and batch 32)
            learning_rate=0.01,
            dropout=0.0,
            batch_size=64,
            random_state=args.seed,
            verbose=args.verbose,
        ).fit(train)
    # The model reads only characters it knows: in what it reads, a character that no
    # training file contains (e.g. non-ASCII in a docstring) becomes a space. The
    # labels still come from the files as they are (same length, same positions).
    known = set(lm.vocabulary_)
    n_unseen = sum(char not in known for text in probe for char in text)
    read = ["".join(c if c in known else " " for c in text) for text in probe]
    if n_unseen:
        print(
            f"   the model reads {n_unseen} held-out character(s) it never saw in "
            "training as spaces"
        )
    print(
        f"   {len(lm.history_['loss'])} epochs; next-char accuracy on held-out "
        f"files {lm.score(read):.3f} "
        f"(majority char {lm.majority_rate_:.3f})"
    )

    labeller = "tree-sitter" if args.tree_sitter else f"lark {spec['grammar']} grammar"
    with step(f"activations and features ({labeller})"):
        H = LSTMActivationTransformer(lm).set_output(transform="pandas")
        H = H.fit_transform(read)
        tree = make_tree_featurizer(language, spec, args.tree_sitter)
        with warnings.catch_warnings():
            # the failures are counted and printed below
            warnings.simplefilter("ignore", UserWarning)
            Y_tree = tree.fit_transform(probe)
        chars = character_features().set_output(transform="pandas")
        Y_chars = chars.fit_transform(probe)[CHARACTER_FEATURES]
        terminator = RegexFeaturizer(spec["terminator"]).set_output(transform="pandas")
        Y = pd.concat([Y_tree, Y_chars, terminator.fit_transform(probe)], axis=1)
        # A rule that never occurs in the held-out files has no positive label.
        Y = Y.loc[:, Y.max() > 0]
    failed = tree.failed_texts_
    if args.tree_sitter:
        n_nan = float(np.dot(tree.unlabelled_fraction_, [len(t) for t in probe]))
        print(
            f"   {len(failed)} of {len(probe)} held-out files have syntax errors; "
            f"{1 - n_nan / sum(map(len, probe)):.1%} of the held-out characters "
            "are labelled (the rest, inside ERROR / MISSING nodes, is NaN)"
        )
        bracket_rule = TREE_SITTER[language]["bracket_rule"]
    else:
        print(
            f"   {len(failed)} of {len(probe)} held-out files did not parse (labelled "
            f"NaN, left out of the parse-tree features)"
            + (f": files {failed[:10]}" if failed else "")
        )
        bracket_rule = spec["bracket_rule"]
    if len(failed) == len(probe) and not args.tree_sitter:
        print("   no file parsed: only the character features are probed")
        Y = Y.drop(columns=[c for c in Y.columns if c in Y_tree.columns])

    n_blocks = len(np.unique(block_groups(probe)))
    with step(
        f"probing {Y.shape[1]} features x {H.shape[1]} units, cv={sizes['cv']} "
        f"(folds of {BLOCK_CHARS}-char blocks, {n_blocks} blocks)"
    ):
        search = NeuronProbeSearch(
            args.probe, cv=sizes["cv"], top_k=max(KS), verbose=args.verbose
        )
        search.fit(H, Y, groups=block_groups(probe))

    summary = feature_summary(search, min_skill=args.min_skill)
    print_table(
        "Per feature (probe accuracy; R^2 for bracket_depth): chance, best unit, "
        f"skill = (best - chance) / (1 - chance), n_strong = units with skill >= "
        f"{args.min_skill}",
        summary,
    )

    generations = []
    # a rule that no parsed held-out file contains has no ranked units to clamp
    clamped = [
        f
        for f in (bracket_rule, "bracket")
        if f in search.scores_.index and search.scores_.loc[f].notna().sum() >= max(KS)
    ]
    with step("clamped generation (units set to 1)"):
        for feature in clamped:
            frame = count_class_in_generations(
                lm,
                # the paper's top-k by score (top_units_: only units above chance)
                units_by_score(search, feature),
                BRACKETS,
                seed=spec["gen_seed"],
                n_chars=sizes["gen_chars"],
                k=KS,
                n_random=sizes["n_random"],
                n_samples=sizes["gen_samples"],
                random_state=args.seed,
            )
            frame.insert(0, "feature", feature)
            generations.append(frame)
    generation = pd.concat(generations, ignore_index=True)
    print_table(
        f"Fraction of '(' and ')' in generated code, top-k units clamped to 1 vs "
        f"random-k ({sizes['gen_samples']} x {sizes['gen_chars']} chars per condition, "
        f"seed text {spec['gen_seed']!r})",
        generation.set_index("feature")[GENERATION_COLUMNS],
    )
    first = generation[generation["feature"] == clamped[0]]
    print(f"\nsamples with the top-k {clamped[0]} units clamped:")
    for k, text in zip(first["k"], first["top_example"], strict=True):
        print(f"  k={k:>2}: {text[:100]!r}")

    best = summary["skill"].dropna().sort_values(ascending=False)
    best_skills = ", ".join(f"{s:.2f}" for s in best.iloc[:3])
    worst_skills = ", ".join(f"{s:.2f}" for s in best.iloc[-2:])
    top10 = first[first["k"] == max(KS)].iloc[0]
    print(
        f"\nheadline: best-learned features {', '.join(best.index[:3])} (skill "
        f"{best_skills}); least {', '.join(best.index[-2:])} ({worst_skills}); "
        f"clamping the top-{max(KS)} {clamped[0]} units: brackets "
        f"{top10['baseline_rate']:.3f} -> {top10['top_rate']:.3f} of the generated "
        f"text (random-{max(KS)} {top10['random_mean']:.3f})"
    )

    tables = {
        "source code summary": summary,
        "source code scores": search.scores_,
        "source code generation": generation,
    }
    # the parentheses feature; in a small held-out set it may not occur: then the
    # call parentheses, then the character-level bracket feature
    parens = [
        f
        for f in (bracket_rule, "range:argument_list", "bracket")
        if f in search.scores_.index
        and search.scores_.loc[f].notna().sum() >= max(FIGURE6_KS)
    ]
    if args.tree_sitter and parens:
        bracket_rule = parens[0]
        with step(f"Figure 6: matched parentheses in generated code ({bracket_rule})"):
            figure6 = matched_parentheses_table(
                lm,
                units_by_score(search, bracket_rule),
                spec["gen_seed"],
                sizes,
                args.seed,
            )
        print_table(
            f"Figure 6: share of generated characters that are matched parentheses, "
            f"top-k {bracket_rule} units clamped to 1 vs random-k "
            f"({sizes['gen_samples']} x {sizes['gen_chars']} chars per condition; "
            "top: Wilson 95% interval over characters, random: 2.5-97.5 "
            "percentiles over draws)",
            figure6,
            digits=4,
        )
        report_figure6(figure6, bracket_rule)
        tables["source code figure 6"] = figure6

    figures = {}
    if args.out is not None:
        from skdni.report import plot_unit_scores

        figures["source code unit scores"] = plot_unit_scores(
            search.scores_, chance=search.chance_scores_
        )
    save_outputs(args.out, tables, figures)
    return 0


def make_tree_featurizer(language, spec, tree_sitter):
    """Range and impulse features of ten syntax-tree node types."""
    if tree_sitter:
        return TreeSitterFeaturizer(
            language,
            node_types=TREE_SITTER[language]["node_types"],
            representations=("range", "impulse"),
            named_only=False,  # ";" is an anonymous node
            on_error="nan",
        ).set_output(transform="pandas")
    return ParseTreeFeaturizer(
        spec["grammar"],
        representations=("range", "impulse"),
        rules=spec["rules"],
        on_error="nan",
    ).set_output(transform="pandas")


def matched_parentheses(text: str) -> int:
    """Characters of ``text`` that are a parenthesis with its partner."""
    open_, matched = 0, 0
    for char in text:
        if char == "(":
            open_ += 1
        elif char == ")" and open_:
            open_ -= 1
            matched += 2
    return matched


def wilson(hits: int, n: int, z: float = 1.96):
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return np.nan, np.nan
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def matched_parentheses_table(lm, ranked, seed, sizes, random_state):
    """The paper's Figure 6 as numbers: matched-parenthesis share of generated text
    with no clamp, the top-k units clamped to 1, and random-k units clamped to 1
    (the same sampling seed everywhere, so differences come from the clamp)."""
    rng = np.random.default_rng(random_state)
    n_units = lm.units
    n_chars, n_samples = sizes["gen_chars"], sizes["gen_samples"]

    def share(units):
        clamp = None
        if units is not None:
            clamp = Intervention(units=np.sort(units), mode="clamp", values=1.0)
        texts = generate_with_interventions(
            lm,
            seed,
            n_chars,
            interventions=clamp,
            n_samples=n_samples,
            random_state=random_state,
        )
        generated = [t[len(seed) :] for t in texts]
        hits = sum(map(matched_parentheses, generated))
        return hits, sum(map(len, generated))

    rows = []
    hits, n = share(None)
    low, high = wilson(hits, n)
    rows.append({"k": 0, "units": "none", "share": hits / n, "low": low, "high": high})
    for k in FIGURE6_KS:
        top = np.asarray(ranked[:k])
        hits, n = share(top)
        low, high = wilson(hits, n)
        rows.append(
            {"k": k, "units": "top", "share": hits / n, "low": low, "high": high}
        )
        others = np.setdiff1d(np.arange(n_units), top)
        pool = others if len(others) >= k else np.arange(n_units)
        draws = [
            share(rng.choice(pool, size=k, replace=False))
            for _ in range(sizes["n_random"])
        ]
        rates = np.array([h / m for h, m in draws])
        rows.append(
            {
                "k": k,
                "units": "random",
                "share": rates.mean(),
                "low": np.percentile(rates, 2.5),
                "high": np.percentile(rates, 97.5),
            }
        )
    return pd.DataFrame(rows).set_index(["k", "units"])


def report_figure6(table, feature):
    """Say which of the paper's Figure 6 claims this run reproduces."""
    none = table.loc[(0, "none"), "share"]
    for k in FIGURE6_KS:
        top, rand = table.loc[(k, "top")], table.loc[(k, "random")]
        more = top["low"] > rand["high"] and top["share"] > none
        verdict = "reproduces" if more else "does not reproduce"
        print(
            f"Figure 6, k={k}: {verdict}: clamping the top-{k} {feature} units gives "
            f"{top['share']:.4f} matched parentheses per generated character "
            f"[{top['low']:.4f}, {top['high']:.4f}] vs random-{k} "
            f"{rand['share']:.4f} [{rand['low']:.4f}, {rand['high']:.4f}] and no "
            f"clamp {none:.4f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
