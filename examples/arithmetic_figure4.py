"""Figure 4 variants on the arithmetic model: which clamps of next-digit units give
more digits?

``examples/arithmetic.py`` clamps the top-k ``next:digit`` units (the digit rule one
character ahead) ranked by probe score. This script trains the same model (or
loads one with ``--model``) and tries the other plausible choices: three unit
rankings (probe score, |correlation| with the label, |on - off| level difference),
the paper's value 1, each unit's own "on" / "off" level and ``+sign`` (+1 / -1 by
each unit's sign, hidden state only), hidden and cell state,
k up to 40. Each row: digit share of generated characters, top-k minus random-k
(paired per sample, 95% interval over 40 samples x 100 characters, seed text
``(``).

Run ``python examples/arithmetic_figure4.py --help`` for the options.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import (  # noqa: E402
    base_parser,
    print_settings,
    print_table,
    split_texts,
    step,
    units_by_score,
)

import skdni  # noqa: E402
from skdni.activations import LSTMActivationTransformer  # noqa: E402
from skdni.datasets import make_arithmetic_corpus  # noqa: E402
from skdni.features import ParseTreeFeaturizer  # noqa: E402
from skdni.intervention import count_class_in_generations  # noqa: E402
from skdni.models import CharLanguageModel  # noqa: E402
from skdni.probing import NeuronProbeSearch  # noqa: E402

FEATURE = "next:digit"
DIGITS = "0123456789"
SIZES = {
    "full": {"n_chars": 160_000, "units": 128, "epochs": 10, "cv": 20, "samples": 40},
    "quick": {"n_chars": 4_000, "units": 16, "epochs": 2, "cv": 3, "samples": 4},
}


def rankings(H, y, search) -> dict:
    """Units best first under three rules."""
    X, ok = np.asarray(H), ~np.isnan(y)
    corr = np.nan_to_num(
        [np.corrcoef(X[ok, u], y[ok])[0, 1] for u in range(X.shape[1])]
    )
    levels = search.unit_levels_[FEATURE]
    gap = np.nan_to_num(levels["on"] - levels["off"])
    return {
        "probe score": units_by_score(search, FEATURE),
        "|corr|": np.argsort(-np.abs(corr), kind="stable"),
        "|on - off|": np.argsort(-np.abs(gap), kind="stable"),
    }


def sign_values(search) -> np.ndarray:
    """+1 / -1 per unit: the sign of its association with the feature (+1 when
    higher where the next character is a digit, or equal)."""
    return np.where(search.unit_levels_[FEATURE]["sign"] < 0, -1.0, 1.0)


def main(argv=None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a saved .keras model to load")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    print_settings("Figure 4 variants (arithmetic)", args, sizes)
    texts = make_arithmetic_corpus(n_chars=sizes["n_chars"], random_state=args.seed)
    train, probe = split_texts(texts, 0.25, args.seed)
    with step("the model (arithmetic.py's settings)"):
        if args.model:
            lm = CharLanguageModel.load(args.model)
        else:
            lm = CharLanguageModel(
                units=sizes["units"],
                epochs=sizes["epochs"],
                window=64,
                batch_size=64,  # the batch its numbers were measured with
                random_state=args.seed,
            ).fit(train)
    ahead = ParseTreeFeaturizer(
        "arithmetic", representations=("range",), rules=["digit"], shift=1
    ).set_output(transform="pandas")
    Y = pd.DataFrame({FEATURE: ahead.fit_transform(probe)["range:digit"]})
    ks = [k for k in (5, 10, 20, 40) if k <= sizes["units"] // 2]
    rows = []
    for state in ("hidden", "cell"):
        with step(f"{state} state: probe search and clamped generation"):
            H = LSTMActivationTransformer(lm, state=state).fit_transform(probe)
            search = NeuronProbeSearch(cv=sizes["cv"], top_k=10).fit(
                H, Y, groups=skdni.sequence_ids(probe)
            )
            ranks = rankings(H, Y[FEATURE].to_numpy(), search)
            for rule, units in ranks.items():
                for value in ("on", "off", 1.0, "+sign"):
                    if state == "cell" and value in (1.0, "+sign"):
                        continue  # no natural "1" for an unbounded cell state
                    frame = count_class_in_generations(
                        lm,
                        units,
                        DIGITS,
                        seed="(",
                        n_chars=100,
                        k=ks,
                        # +sign: +1 / -1 by each unit's sign (issue 12's value)
                        value=sign_values(search) if value == "+sign" else value,
                        state=state,
                        n_random=10,
                        n_samples=sizes["samples"],
                        random_state=args.seed,
                        search=search,
                        feature=FEATURE,
                    )
                    if value == "+sign":
                        frame["value"] = value  # not "per-unit"
                    frame.insert(0, "state", state)
                    frame.insert(1, "ranking", rule)
                    rows.append(frame)
    table = pd.concat(rows, ignore_index=True)
    print_table(
        "Digit share with the top-k next:digit units clamped vs random-k; diff = top "
        "- random, paired per sample, 95% interval",
        table.set_index(["state", "ranking", "value", "k"])[
            ["baseline_rate", "top_rate", "random_mean"]
            + ["top_minus_random", "diff_low", "diff_high"]
        ],
    )
    more = table[(table["diff_low"] > 0)]
    print(
        f"\n{len(more)} of {len(table)} settings give MORE digits than random units "
        "(95% interval above 0):"
    )
    for _, row in more.iterrows():
        print(
            f"  {row['state']}, {row['ranking']}, value {row['value']}, k={row['k']}: "
            f"{row['top_minus_random']:+.3f} [{row['diff_low']:+.3f}, "
            f"{row['diff_high']:+.3f}]"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
