"""The paper's §5.2: arithmetic expressions — which units learn which grammar rule,
and does the model use them?

The language: single digits, parentheses and ``+ - * /`` (the bundled ``arithmetic``
grammar, rules ``add sub mul div paren digit``), e.g. ``(3*(4+1))/7``. The script

1. samples the corpus and trains a 1-layer LSTM character language model;
2. labels held-out texts with every rule's range and impulse features and probes
   every (feature, unit) pair (20 folds grouped by text): digits and parentheses vs
   ``*`` and ``/``, range vs impulse (the paper's Figure 3);
3. ablates the top-k units of the digit feature (``zero``, Rm-Neuron_k) or forces
   them to the feature's labels mapped to [-1, 1] (``oracle``, Oracle_k) and measures
   how well the model still predicts the *class* of the next character, against
   random-k units (Figure 5);
4. generates text with the top-k digit (and ``+``) units clamped to 1, against
   random-k units, and counts digits (and ``+``) in the output (Figure 4).

Run ``python examples/arithmetic.py --help`` for the options.
"""

import os

# Pin threads before numpy / jax are imported: on a shared 2-core machine the default
# thread pools collapse (ENVIRONMENT.md).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import pandas as pd  # noqa: E402
from _common import (  # noqa: E402
    base_parser,
    feature_summary,
    print_settings,
    print_table,
    save_outputs,
    split_texts,
    step,
    units_by_score,
)

import skdni  # noqa: E402
from skdni.activations import LSTMActivationTransformer  # noqa: E402
from skdni.datasets import make_arithmetic_corpus  # noqa: E402
from skdni.features import ParseTreeFeaturizer  # noqa: E402
from skdni.intervention import (  # noqa: E402
    NeuronAblationScorer,
    count_class_in_generations,
    next_char_in,
)
from skdni.models import CharLanguageModel  # noqa: E402
from skdni.probing import NeuronProbeSearch  # noqa: E402

RULES = ["digit", "paren", "add", "sub", "mul", "div"]
DIGITS = "0123456789"
KS = [1, 5, 10]
NEXT_DIGIT = "next:digit"
ABLATED = ["range:digit", NEXT_DIGIT]

SIZES = {
    "full": {
        "n_chars": 160_000,
        "units": 128,
        "epochs": 10,
        "cv": 20,
        "n_random": 10,
        "gen_chars": 200,
        "gen_samples": 8,
    },
    "quick": {
        "n_chars": 4_000,
        "units": 16,
        "epochs": 2,
        "cv": 3,
        "n_random": 3,
        "gen_chars": 40,
        "gen_samples": 2,
    },
}

ABLATION_COLUMNS = ["k", "baseline", "top", "random_mean", "random_low", "random_high"]
GENERATION_COLUMNS = [
    "k",
    "baseline_rate",
    "top_rate",
    "random_mean",
    "random_low",
    "random_high",
]


def rule_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Rules as rows, range and impulse side by side (the paper's Figure 3)."""
    rows = []
    for rule in RULES:
        rng, imp = summary.loc[f"range:{rule}"], summary.loc[f"impulse:{rule}"]
        rows.append(
            {
                "rule": rule,
                "range_chance": rng["chance"],
                "range_best": rng["best"],
                "range_skill": rng["skill"],
                "range_strong": rng["n_strong"],
                "impulse_chance": imp["chance"],
                "impulse_best": imp["best"],
                "impulse_skill": imp["skill"],
                "impulse_strong": imp["n_strong"],
                "best_range_units": rng["best_units"],
            }
        )
    return pd.DataFrame(rows).set_index("rule")


def main(argv=None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--min-skill",
        type=float,
        default=0.5,
        help="a unit is 'strong' for a feature when its score closes this fraction "
        "of the gap between chance and a perfect score",
    )
    parser.add_argument(
        "--gen-seed", default="(", help="text the model reads before generating"
    )
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    print_settings("Arithmetic (paper §5.2)", args, sizes)

    with step("sampling the corpus"):
        texts = make_arithmetic_corpus(n_chars=sizes["n_chars"], random_state=args.seed)
        train, probe = split_texts(texts, 0.25, args.seed)
    print(
        f"   {len(texts)} texts; training {sum(map(len, train))} chars, "
        f"inspecting {sum(map(len, probe))} held-out chars; e.g. {probe[0]!r}"
    )

    with step(f"training the LSTM ({sizes['units']} units)"):
        lm = CharLanguageModel(
            units=sizes["units"],
            epochs=sizes["epochs"],
            window=64,  # longer than every text (<= 60 chars)
            random_state=args.seed,
            verbose=args.verbose,
        ).fit(train)
    print(
        f"   {len(lm.history_['loss'])} epochs; next-char accuracy on held-out "
        f"texts {lm.score(probe):.3f} "
        f"(majority char {lm.majority_rate_:.3f})"
    )

    with step("activations and features"):
        H = LSTMActivationTransformer(lm).set_output(transform="pandas")
        H = H.fit_transform(probe)
        tree = ParseTreeFeaturizer(
            "arithmetic", representations=("range", "impulse"), rules=RULES
        ).set_output(transform="pandas")
        Y = tree.fit_transform(probe)
        # The same digit rule one character ahead (shift=1): units that announce a
        # digit *next* are the ones a language model needs to predict digits.
        ahead = ParseTreeFeaturizer(
            "arithmetic", representations=("range",), rules=["digit"], shift=1
        ).set_output(transform="pandas")
        Y[NEXT_DIGIT] = ahead.fit_transform(probe)["range:digit"]

    with step(f"probing {Y.shape[1]} features x {H.shape[1]} units, cv={sizes['cv']}"):
        search = NeuronProbeSearch(
            args.probe, cv=sizes["cv"], top_k=max(KS), verbose=args.verbose
        )
        search.fit(H, Y, groups=skdni.sequence_ids(probe))

    summary = feature_summary(search, min_skill=args.min_skill)
    rules = rule_table(summary)
    print_table(
        "Per rule (probe accuracy): chance, best unit, skill = (best - chance) / "
        f"(1 - chance), strong = units with skill >= {args.min_skill}",
        rules,
    )
    learned = rules.loc[["digit", "paren"], "range_skill"].mean()
    hard = rules.loc[["mul", "div"], "range_skill"].mean()
    print(
        f"\nmean best range skill: digit & paren {learned:.3f} vs mul & div "
        f"{hard:.3f}; "
        f"range {rules['range_skill'].mean():.3f} vs impulse "
        f"{rules['impulse_skill'].mean():.3f} (all rules)"
    )

    nxt = summary.loc[NEXT_DIGIT]
    print(
        f"{NEXT_DIGIT} (the next character is a digit): chance {nxt['chance']:.3f}, "
        f"best {nxt['best']:.3f} (units {nxt['best_units']}), "
        f"{nxt['n_strong']} strong units"
    )

    ablations = []
    with step("ablation curves (zero and oracle, top-k vs random-k)"):
        for feature in ABLATED:
            for mode in ("zero", "oracle"):
                for where, positions in (
                    ("all", None),
                    ("next is digit", next_char_in(DIGITS)),
                ):
                    scorer = NeuronAblationScorer(
                        lm,
                        # the paper's top-k by score (top_units_ holds only units
                        # above chance, which may be fewer than max(KS))
                        units=units_by_score(search, feature),
                        feature=feature,
                        k=KS,
                        mode=mode,
                        metric="class_accuracy",
                        positions=positions,
                        n_random=sizes["n_random"],
                        random_state=args.seed,
                    )
                    frame = scorer.evaluate(probe, Y)
                    frame["scored"] = where
                    ablations.append(frame)
    ablation = pd.concat(ablations, ignore_index=True)
    print_table(
        "Class accuracy of the next character (digit / paren / operator) with the "
        f"feature's top-k units overwritten vs {sizes['n_random']} random-k draws "
        "(low/high: 2.5/97.5 percentiles)",
        ablation.set_index(["feature", "mode", "scored"])[ABLATION_COLUMNS],
    )

    generations = []
    with step("clamped generation"):
        for feature, chars, value in (
            ("range:digit", DIGITS, 1.0),
            ("range:digit", DIGITS, -1.0),
            (NEXT_DIGIT, DIGITS, 1.0),
            (NEXT_DIGIT, DIGITS, -1.0),
            ("range:add", "+", 1.0),
        ):
            frame = count_class_in_generations(
                lm,
                units_by_score(search, feature),
                chars,
                seed=args.gen_seed,
                n_chars=sizes["gen_chars"],
                k=KS,
                value=value,
                n_random=sizes["n_random"],
                n_samples=sizes["gen_samples"],
                random_state=args.seed,
            )
            frame.insert(0, "feature", feature)
            frame.insert(1, "counted", chars if len(chars) == 1 else "digits")
            frame.insert(2, "clamp", f"{value:+.0f}")
            generations.append(frame)
    generation = pd.concat(generations, ignore_index=True)
    print_table(
        "Fraction of generated characters in the class, top-k units clamped to the "
        f"value (the paper: +1) vs random-k ({sizes['gen_samples']} x "
        f"{sizes['gen_chars']} chars per condition, seed text {args.gen_seed!r})",
        generation.set_index(["feature", "counted", "clamp"])[GENERATION_COLUMNS],
    )
    print("\nsamples (top-k range:digit units clamped to +1):")
    digit_rows = generation[
        (generation["feature"] == "range:digit") & (generation["clamp"] == "+1")
    ]
    for k, text in zip(digit_rows["k"], digit_rows["top_example"], strict=True):
        print(f"  k={k:>2}: {text[:70]!r}")
    print(f"  random-1: {digit_rows['random_example'].iloc[0][:70]!r}")

    def ablation_row(feature):
        return ablation[
            (ablation["feature"] == feature)
            & (ablation["mode"] == "zero")
            & (ablation["scored"] == "all")
            & (ablation["k"] == max(KS))
        ].iloc[0]

    def clamp_row(feature, value):
        return generation[
            (generation["feature"] == feature)
            & (generation["clamp"] == value)
            & (generation["k"] == max(KS))
        ].iloc[0]

    zero_cur, zero_next = ablation_row("range:digit"), ablation_row(NEXT_DIGIT)
    clamp_cur, clamp_next = clamp_row("range:digit", "+1"), clamp_row(NEXT_DIGIT, "+1")
    print(
        f"\nheadline: best range:digit {rules.loc['digit', 'range_best']:.3f} and "
        f"range:paren {rules.loc['paren', 'range_best']:.3f} vs range:mul "
        f"{rules.loc['mul', 'range_best']:.3f} and range:div "
        f"{rules.loc['div', 'range_best']:.3f} (accuracy). Zeroing the top-10 units, "
        f"next-char class accuracy {zero_cur['baseline']:.3f} -> "
        f"{zero_cur['top']:.3f} for range:digit, {zero_next['top']:.3f} for "
        f"{NEXT_DIGIT} (random-10 {zero_cur['random_mean']:.3f} / "
        f"{zero_next['random_mean']:.3f}). Clamping the top-10 units to +1, digits "
        f"{clamp_cur['baseline_rate']:.2f} -> {clamp_cur['top_rate']:.2f} "
        f"(range:digit), {clamp_next['top_rate']:.2f} ({NEXT_DIGIT}) of the "
        f"generated text (random-10 {clamp_cur['random_mean']:.2f} / "
        f"{clamp_next['random_mean']:.2f})"
    )

    figures = {}
    if args.out is not None:
        from skdni.report import plot_ablation_curves, plot_unit_scores

        figures["arithmetic unit scores"] = plot_unit_scores(
            search.scores_, chance=search.chance_scores_
        )
        everywhere = ablation[ablation["scored"] == "all"]
        figures["arithmetic ablation digit"] = plot_ablation_curves(
            everywhere.drop(columns="scored"), ylabel="next-char class accuracy"
        )
    save_outputs(
        args.out,
        {
            "arithmetic rules": rules,
            "arithmetic scores": search.scores_,
            "arithmetic ablation": ablation,
            "arithmetic generation": generation,
        },
        figures,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
