"""The paper's §5.1: which LSTM units track the nesting level of parentheses?

The language: balanced parentheses nested up to 4 levels, where every digit equals
its nesting level, e.g. ``(1(22)((3(4)))1)0``. To predict a digit the model must
know the current level. The script

1. samples the corpus from the bundled ``parentheses`` grammar and trains a 1-layer
   LSTM character language model (128 units by default, as in the paper);
2. labels held-out texts with the per-level parse-tree rules ``e1`` .. ``e4`` (range
   and impulse representations), the nesting depth, and the digit value as a
   continuous feature (a :class:`~skdni.features.FunctionFeaturizer`);
3. cross-validates a 1-D probe for every (feature, unit) pair (20 folds grouped by
   text) and prints, per feature, the best units, the best score against chance,
   and how many units predict it well;
4. checks whether the top units of the different levels overlap.

The paper found many units predicting the first and the deepest levels, fewer the
intermediate ones, and different units for different levels and representations.

Run ``python examples/parentheses.py --help`` for the options.
"""

import os

# Pin threads before numpy / jax are imported: on a shared 2-core machine the default
# thread pools collapse (ENVIRONMENT.md).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import (  # noqa: E402
    base_parser,
    best_unit,
    best_unit_correlation,
    feature_summary,
    print_settings,
    print_table,
    save_outputs,
    skill_counts,
    split_texts,
    step,
    top_overlap,
)

import skdni  # noqa: E402
from skdni.activations import LSTMActivationTransformer  # noqa: E402
from skdni.datasets import make_parentheses_corpus  # noqa: E402
from skdni.features import FunctionFeaturizer, ParseTreeFeaturizer  # noqa: E402
from skdni.models import CharLanguageModel  # noqa: E402
from skdni.probing import NeuronProbeSearch  # noqa: E402

LEVELS = ["e1", "e2", "e3", "e4"]
DIGITS = "01234"

SIZES = {
    "full": {"n_chars": 110_000, "units": 128, "epochs": 10, "cv": 20},
    "quick": {"n_chars": 4_000, "units": 16, "epochs": 2, "cv": 3},
}


def digit_value(text: str) -> np.ndarray:
    """The value of each digit divided by 4 (its nesting level); NaN on parentheses."""
    labels = np.full(len(text), np.nan)
    for i, char in enumerate(text):
        if char in DIGITS:
            labels[i] = int(char) / 4
    return labels


digit_value.names = ["digit_value"]


def digit_accuracy(lm, texts) -> float:
    """How often the model, where the next character is a digit, ranks the right
    digit above the other digits: does it know the nesting level?"""
    probs = lm.predict_proba(texts)
    digit_cols = [lm.vocabulary_.index(d) for d in DIGITS if d in lm.vocabulary_]
    digits = "".join(lm.vocabulary_[c] for c in digit_cols)
    hits = total = 0
    row = 0
    for text in texts:
        for t in range(len(text) - 1):
            if text[t + 1] in digits:
                guess = digits[int(np.argmax(probs[row + t, digit_cols]))]
                hits += guess == text[t + 1]
                total += 1
        row += len(text)
    return hits / max(total, 1)


def main(argv=None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--min-skill",
        type=float,
        default=0.5,
        help="a unit is 'strong' for a feature when its score closes this fraction "
        "of the gap between chance and a perfect score",
    )
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    print_settings("Parentheses (paper §5.1)", args, sizes)

    with step("sampling the corpus"):
        texts = make_parentheses_corpus(
            n_chars=sizes["n_chars"], random_state=args.seed
        )
        train, probe = split_texts(texts, 0.25, args.seed)
    print(
        f"   {len(texts)} texts; training {sum(map(len, train))} chars, "
        f"inspecting {sum(map(len, probe))} held-out chars; e.g. {probe[0]!r}"
    )

    with step(f"training the LSTM ({sizes['units']} units)"):
        # window >= the longest text (100): the state must run through a whole text
        # to learn its nesting.
        lm = CharLanguageModel(
            units=sizes["units"],
            epochs=sizes["epochs"],
            window=128,
            # the recipe this example's README numbers were measured with (the
            # estimator's defaults since changed to 0.005, dropout 0.1 and batch 32)
            learning_rate=0.01,
            dropout=0.0,
            batch_size=64,
            random_state=args.seed,
            verbose=args.verbose,
        ).fit(train)
    print(
        f"   {len(lm.history_['loss'])} epochs; next-char accuracy on held-out "
        f"texts {lm.score(probe):.3f} "
        f"(majority char {lm.majority_rate_:.3f}); right digit where a digit comes "
        f"next {digit_accuracy(lm, probe):.3f} (uniform guess 0.2)"
    )

    with step("activations and features"):
        H = LSTMActivationTransformer(lm).set_output(transform="pandas")
        H = H.fit_transform(probe)
        tree = ParseTreeFeaturizer(
            "parentheses",
            representations=("range", "impulse", "depth"),
            rules=LEVELS + ["paren"],
        ).set_output(transform="pandas")
        Y = tree.fit_transform(probe)
        # depth:e1..e4 repeat range:e1..e4 (a level never nests in itself);
        # depth:paren is the nesting level, range:paren == range:e1.
        Y = Y[
            [f"range:{e}" for e in LEVELS]
            + [f"impulse:{e}" for e in LEVELS]
            + ["depth:paren"]
        ]
        value = FunctionFeaturizer(digit_value, kind="continuous")
        Y = pd.concat(
            [Y, value.set_output(transform="pandas").fit_transform(probe)], axis=1
        )

    with step(f"probing {Y.shape[1]} features x {H.shape[1]} units, cv={sizes['cv']}"):
        search = NeuronProbeSearch(
            args.probe, cv=sizes["cv"], top_k=10, verbose=args.verbose
        )
        search.fit(H, Y, groups=skdni.sequence_ids(probe))

    summary = feature_summary(search, min_skill=args.min_skill)
    print_table(
        "Per feature: chance, best probe score (accuracy; R^2 for depth and digit "
        f"value), skill = (best - chance) / (1 - chance), best units, n_strong = "
        f"units with skill >= {args.min_skill}",
        summary,
    )

    print_table(
        "Units per feature whose skill reaches each level",
        skill_counts(search, summary.index),
    )

    paper_features = [f"range:{e}" for e in LEVELS] + [f"impulse:{e}" for e in LEVELS]
    overlap = top_overlap(search, paper_features, k=10)
    print_table("Units shared by the top-10 lists of two features", overlap)
    corr = best_unit_correlation(H, search, paper_features)
    off_diagonal = corr.to_numpy()[~np.eye(len(corr), dtype=bool)]
    print(
        "\n|correlation| between the best units of two different features: "
        f"median {np.median(off_diagonal):.2f}, max {off_diagonal.max():.2f}"
    )
    distinct = len({best_unit(search, f) for f in paper_features})
    print(
        f"distinct best units among the {len(paper_features)} level features: "
        f"{distinct}"
    )

    strong = {
        rep: ", ".join(f"{e}={summary.loc[f'{rep}:{e}', 'n_strong']}" for e in LEVELS)
        for rep in ("range", "impulse")
    }
    print(
        f"\nheadline: units with skill >= {args.min_skill} per level: range "
        f"{strong['range']}; impulse {strong['impulse']}; best R^2 digit value "
        f"{summary.loc['digit_value', 'best']:.3f}, depth "
        f"{summary.loc['depth:paren', 'best']:.3f}"
    )

    figures = {}
    if args.out is not None:
        from skdni.report import plot_unit_scores

        figures["parentheses unit scores"] = plot_unit_scores(
            search.scores_, chance=search.chance_scores_
        )
    save_outputs(
        args.out,
        {"parentheses summary": summary, "parentheses scores": search.scores_},
        figures,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
