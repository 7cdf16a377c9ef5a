"""Interchange interventions on the parentheses language: do the depth units carry
the depth the model uses to predict the next digit?

Every digit of the language equals its nesting level. The script trains an LSTM
character model, finds the units that encode the depth (``depth:paren``, OLS R²,
NeuronProbeSearch), then patches the top-k depth units (and k random other units,
and all units) from a source text at another nesting level into a base text right
before a digit: does the predicted digit become the source's level?
(:class:`skdni.intervention.InterchangeScorer`, pairs from
``skdni.datasets.make_interchange_pairs``.) Scoring is teacher-forced.

Run ``python examples/interchange_parentheses.py --help`` for the options.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import base_parser, print_settings, print_table, step  # noqa: E402

import skdni  # noqa: E402
from skdni.activations import LSTMActivationTransformer  # noqa: E402
from skdni.datasets import (  # noqa: E402
    make_interchange_pairs,
    make_parentheses_corpus,
)
from skdni.features import ParseTreeFeaturizer  # noqa: E402
from skdni.intervention import InterchangeScorer  # noqa: E402
from skdni.models import CharLanguageModel  # noqa: E402
from skdni.probing import NeuronProbeSearch  # noqa: E402

FEATURE = "depth:paren"
KS = [1, 5, 10, 25, 50]
SIZES = {
    "full": {"n_chars": 60_000, "units": 128, "epochs": 10, "n_pairs": 500},
    "quick": {"n_chars": 5_000, "units": 16, "epochs": 2, "n_pairs": 40},
}


def interleaved_level_units(search) -> np.ndarray:
    """Every unit once: each nesting level's best unit (range features, by score),
    then each level's second best, and so on."""
    levels = [name for name in search.scores_.index if name.startswith("range:")]
    orders = [
        np.argsort(-search.scores_.loc[name].to_numpy(), kind="stable")
        for name in levels
    ]
    ranked = []
    for rank in range(len(orders[0])):
        for order in orders:
            if int(order[rank]) not in ranked:
                ranked.append(int(order[rank]))
    return np.array(ranked)


def main(argv=None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--ranking",
        choices=["depth", "levels"],
        default="depth",
        help="units to patch: the best depth:paren units (OLS), or the best units of "
        "each nesting level's range feature, interleaved (level 1's best, level 2's "
        "best, ..., then each level's second best, ...)",
    )
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    print_settings("Interchange on parentheses", args, sizes)
    ks = [k for k in KS if k <= sizes["units"]]
    with step(f"training the LSTM ({sizes['units']} units)"):
        texts = make_parentheses_corpus(
            n_chars=sizes["n_chars"], random_state=args.seed
        )
        lm = CharLanguageModel(
            units=sizes["units"],
            epochs=sizes["epochs"],
            learning_rate=0.01,
            batch_size=64,  # the batch its numbers were measured with
            random_state=args.seed,
        ).fit(texts)
    held_out = make_parentheses_corpus(n_chars=10_000, random_state=args.seed + 1000)
    with step("depth units (NeuronProbeSearch, OLS)"):
        featurizer = ParseTreeFeaturizer(
            "parentheses", representations=("depth", "range")
        )
        Y = pd.DataFrame(
            np.asarray(featurizer.fit_transform(held_out)),
            columns=featurizer.get_feature_names_out(),
        )
        H = LSTMActivationTransformer(lm).fit_transform(held_out)
        search = NeuronProbeSearch(cv=5, top_k=max(ks)).fit(
            H, Y, groups=skdni.sequence_ids(held_out)
        )
    print(f"   top depth units: {search.top_units_[FEATURE].tolist()}")
    units = None
    if args.ranking == "levels":
        units = interleaved_level_units(search)
        print(f"   interleaved per-level range units: {units[:10].tolist()} ...")
    pairs = make_interchange_pairs(
        "parentheses", sizes["n_pairs"], random_state=args.seed + 2000
    )
    with step(f"interchange: {sizes['n_pairs']} pairs, k={ks}, 10 random draws"):
        scorer = InterchangeScorer(
            lm,
            units,
            search=None if units is not None else search,
            feature=FEATURE,
            k=ks,
            n_random=10,
            random_state=args.seed,
            candidates="01234",
        )
        frame = scorer.evaluate(**pairs)
    print_table(
        "Share of cases whose predicted digit follows the SOURCE's level "
        "(top-k depth units vs random-k, all units; 95% Wilson interval for top; "
        "random low/high = 2.5/97.5 percentiles over draws; off_target = mean "
        "change in cross-entropy at the base's other positions, nats)",
        frame.set_index("k")[
            [
                "baseline",
                "top",
                "top_low",
                "top_high",
                "random_mean",
                "random_low",
                "random_high",
                "all",
                "off_target_top",
                "off_target_random",
                "off_target_all",
            ]
        ],
    )
    row = frame.set_index("k").loc[max(ks)]
    print(
        f"\nheadline: patching the top-{max(ks)} units ({args.ranking} ranking) "
        f"makes the predicted digit follow the source in {row['top']:.3f} of cases "
        f"[{row['top_low']:.3f}, {row['top_high']:.3f}] vs {row['random_mean']:.3f} "
        f"for {max(ks)} random units (no patch: {row['baseline']:.3f}; all "
        f"{sizes['units']} units: {row['all']:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
