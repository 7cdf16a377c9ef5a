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
4. generates text with the top-k ``next:digit`` units clamped (the paper's 1; each
   unit's own "on" / "off" level; and ``+sign`` / ``-sign``, the paper's magnitude 1
   with each unit's sign; k up to 40), against random-k units clamped the same way,
   and counts digits in the output (Figure 4). Issue 12's "+4.0 / +5.6 pp at
   k = 5 / 10" comes back with ``+sign`` clamps on the issue's model (seed 0), not
   with the units' "on" levels (``benchmarks/figure4_diagnosis.py``): those levels
   (mean |on| of the top 10: 0.13-0.35) are what the units do on real text and
   move generation too little at k = 5 or 10; a push to 1 goes past them;
5. sweeps the clamp of the top-40 ``next:digit`` units from their "off" level
   (dose 0) through their "on" level (dose 1) and beyond: digit share, valid
   grammar prefixes and held-out cross-entropy (dose-response with damage),
   against random-k units dosed the same way at their own levels.

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

import warnings  # noqa: E402

import numpy as np  # noqa: E402
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
    dose_response,
)
from skdni.models import CharLanguageModel  # noqa: E402
from skdni.probing import NeuronProbeSearch  # noqa: E402

RULES = ["digit", "paren", "add", "sub", "mul", "div"]
DIGITS = "0123456789"
KS = [1, 5, 10]
# Figure 4 also at k = 20 and 40 (as far as the layer allows): "the next character
# is a digit" is spread over many units, and setting 5 or 10 of them to their own
# "on" levels is not enough to move generation (+sign clamps, beyond those levels,
# are; examples/arithmetic_figure4.py tries other rankings)
FIGURE4_KS = [1, 5, 10, 20, 40]
NEXT_DIGIT = "next:digit"
DEPTH = "depth:paren"
# (feature, mode, oracle_range, metric): Figure 5 with class-mass metrics; the
# oracle both paper-literal ((-1, 1)) and calibrated (each unit's own levels)
FIGURE5 = [
    ("range:paren", "zero", (-1, 1), "class_accuracy"),
    (DEPTH, "zero", (-1, 1), "class_accuracy"),
    (DEPTH, "zero", (-1, 1), "class_cross_entropy"),
    ("range:digit", "zero", (-1, 1), "class_accuracy"),
    (NEXT_DIGIT, "zero", (-1, 1), "class_accuracy"),
    ("range:paren", "oracle", (-1, 1), "class_accuracy"),
    ("range:paren", "oracle", "calibrated", "class_accuracy"),
]
# (feature, clamp value): Figure 4, the paper's +1, sign-aware levels ("on" /
# "off": each unit's own mean activation where the feature is on / off) and
# sign-aware magnitude 1 ("+sign" / "-sign": +1 / -1 for a unit higher where the
# feature is on, -1 / +1 for one lower: the value of issue 12's measurement)
FIGURE4 = [
    (NEXT_DIGIT, 1.0),
    (NEXT_DIGIT, "on"),
    (NEXT_DIGIT, "off"),
    (NEXT_DIGIT, "+sign"),
    (NEXT_DIGIT, "-sign"),
]
# the clamp values that should give more digits (the others: fewer)
TOWARDS_DIGITS = ("1", "on", "+sign")
# the dose-response sweep: unit value = off + dose * (on - off), clipped to [-1, 1]
DOSES = (0.0, 0.5, 1.0, 1.5, 2.0)

SIZES = {
    "full": {
        "n_chars": 160_000,
        "units": 128,
        "epochs": 10,
        "cv": 20,
        "n_random": 10,
        "gen_chars": 100,
        "gen_samples": 40,
        "dose_texts": 500,
    },
    "quick": {
        "n_chars": 4_000,
        "units": 16,
        "epochs": 2,
        "cv": 3,
        "n_random": 3,
        "gen_chars": 20,
        "gen_samples": 4,
        "dose_texts": 20,
    },
}

ABLATION_COLUMNS = [
    "k",
    "baseline",
    "top",
    "random_mean",
    "random_low",
    "random_high",
    "random_min",
    "random_max",
]
GENERATION_COLUMNS = [
    "k",
    "negative_top10",
    "baseline_rate",
    "top_rate",
    "top_low",
    "top_high",
    "random_mean",
    "random_low",
    "random_high",
    "random_max",
    "top_minus_random",
    "diff_low",
    "diff_high",
    "vs_none_low",
]


def figure5_verdict(row, feature: str) -> str:
    """Zeroing the top-k units reproduces Figure 5 only when their class accuracy
    is below every random draw's (``random_min``, not the 2.5 percentile)."""
    k = int(row["k"])
    verdict = (
        "REPRODUCES (below every random draw)"
        if row["top"] < row["random_min"]
        else "DOES NOT REPRODUCE (not below every random draw)"
    )
    return (
        f"Figure 5, zeroing top-{k} {feature} units: class accuracy "
        f"{row['baseline']:.3f} -> {row['top']:.3f} vs random-{k} "
        f"{row['random_mean']:.3f} [{row['random_low']:.3f}, "
        f"{row['random_high']:.3f}] (lowest draw {row['random_min']:.3f}): {verdict}"
    )


def figure4_verdict(row, value: str) -> str:
    """A clamp towards digits reproduces Figure 4 only with more digits than the
    random mean (paired interval over samples above 0), than every random draw
    (``random_max``) and than no clamp (paired interval above 0); the line names
    each test that failed. An "off" clamp should give fewer digits than random."""
    kk = int(row["k"])
    up = row["diff_low"] > 0
    down = row["diff_high"] < 0
    if value in TOWARDS_DIGITS:
        why = []
        if not up:
            why.append("not above the random mean")
        if not row["top_rate"] > row["random_max"]:
            why.append("not above every random draw")
        if not row["vs_none_low"] > 0:
            why.append("not above no clamp")
        if not why:
            verdict = (
                "MORE digits: REPRODUCES the paper's Figure 4 (above every random "
                "draw and above no clamp)"
            )
        elif down:
            verdict = f"FEWER digits: DOES NOT REPRODUCE ({', '.join(why)})"
        else:
            verdict = f"DOES NOT REPRODUCE ({', '.join(why)})"
    else:
        verdict = (
            "FEWER digits (as an 'off' clamp should)"
            if down
            else "MORE digits (not what an 'off' clamp should do)"
            if up
            else "no clear change"
        )
    return (
        f"Figure 4, top-{kk} next:digit units clamped {value!r}: digits "
        f"{row['top_rate']:.3f} vs random {row['random_mean']:.3f} "
        f"[{row['random_low']:.3f}, {row['random_high']:.3f}] (highest draw "
        f"{row['random_max']:.3f}), top - random {row['top_minus_random']:+.3f} "
        f"[{row['diff_low']:+.3f}, {row['diff_high']:+.3f}], no clamp "
        f"{row['baseline_rate']:.3f} (top - none {row['vs_none']:+.3f} "
        f"[{row['vs_none_low']:+.3f}, {row['vs_none_high']:+.3f}]): {verdict}"
    )


def verdicts(ablation: pd.DataFrame, generation: pd.DataFrame) -> list[str]:
    """Plain statements of what reproduces the paper's Figures 4 and 5 and what
    does not, from the tables."""
    lines = []
    k = max(KS)
    for feature in ("range:paren", DEPTH, "range:digit", NEXT_DIGIT):
        row = ablation[
            (ablation["feature"] == feature)
            & (ablation["mode"] == "zero")
            & (ablation["metric"] == "class_accuracy")
            & (ablation["k"] == k)
        ].iloc[0]
        lines.append(figure5_verdict(row, feature))
    for oracle_range in ("labels->[-1, 1]", "labels->calibrated"):
        row = ablation[
            (ablation["mode"] == "oracle")
            & (ablation["value"] == oracle_range)
            & (ablation["k"] == k)
        ].iloc[0]
        lines.append(
            f"Oracle top-{k} range:paren ({oracle_range}): {row['top']:.3f} vs random "
            f"{row['random_mean']:.3f}, baseline {row['baseline']:.3f} (the paper: "
            "the oracle neither helps nor hurts)"
        )
    figure4_ks = sorted(
        {kk for kk in (5, k) if kk in set(generation["k"])} | {generation["k"].max()}
    )
    values = [str(value) if isinstance(value, str) else "1" for _, value in FIGURE4]
    for value, kk in ((v, int(kk)) for kk in figure4_ks for v in values):
        row = generation[(generation["value"] == value) & (generation["k"] == kk)].iloc[
            0
        ]
        lines.append(figure4_verdict(row, value))
    return lines


DOSE_COLUMNS = [
    "target_share",
    "share_low",
    "share_high",
    "valid_prefix",
    "valid_low",
    "valid_high",
    "held_out_cross_entropy",
]
RANDOM_DOSE_COLUMNS = [
    "random_target_share",
    "random_target_low",
    "random_target_high",
    "random_valid_prefix",
    "random_valid_low",
    "random_valid_high",
    "random_cross_entropy",
    "random_cross_entropy_low",
    "random_cross_entropy_high",
]


def dose_table(lm, search, probe, args, sizes) -> pd.DataFrame:
    """:func:`dose_response` over :data:`DOSES` (each unit at off + dose * (on - off)
    of its own levels, clipped to [-1, 1]), top-k against random-k units dosed the
    same way, a ``dose`` column first ("none": no clamp)."""
    frame = dose_response(
        lm,
        figure4_units(search),
        doses=list(DOSES),
        clip=(-1.0, 1.0),
        search=search,
        feature=NEXT_DIGIT,
        chars=DIGITS,
        grammar="arithmetic",
        held_out=probe[: sizes["dose_texts"]],
        seeds=(args.gen_seed,),
        k=figure4_ks(sizes)[-1],
        n_random=sizes["n_random"],
        n_chars=sizes["gen_chars"],
        n_samples=sizes["gen_samples"],
        random_state=args.seed,
    )
    frame.insert(0, "dose_label", ["none"] + [f"{dose:g}" for dose in DOSES])
    return frame


def dose_verdicts(frame: pd.DataFrame) -> list[str]:
    """Plain lines: does the top-k clamp do more damage than random-k units clamped
    the same way (outside the random draws' 2.5-97.5 percentile band)?"""
    dosed = frame.iloc[1:]
    k = int(dosed["k"].iloc[0])
    if not dosed["n_random"].iloc[0]:
        return ["no random units drawn (n_random=0): no comparison"]
    lines = []
    for what, more, less in (
        (
            "breaks the grammar (valid prefixes)",
            dosed["valid_prefix"] < dosed["random_valid_low"],
            dosed["valid_prefix"] > dosed["random_valid_high"],
        ),
        (
            "raises held-out cross-entropy",
            dosed["held_out_cross_entropy"] > dosed["random_cross_entropy_high"],
            dosed["held_out_cross_entropy"] < dosed["random_cross_entropy_low"],
        ),
    ):
        groups = {
            "MORE than": dosed["dose_label"][more].tolist(),
            "less than": dosed["dose_label"][less].tolist(),
            "no more than": dosed["dose_label"][~more & ~less].tolist(),
        }
        said = "; ".join(
            f"{name} random-{k} units clamped the same way at dose {', '.join(doses)}"
            for name, doses in groups.items()
            if doses
        )
        lines.append(
            f"the top-{k} clamp {what} {said} (MORE / less: outside the random "
            "draws' 2.5-97.5 percentiles)"
        )
    return lines


def figure4_ks(sizes) -> list[int]:
    """The k of the Figure 4 clamps that the layer has."""
    return [k for k in FIGURE4_KS if k <= sizes["units"]]


def sign_values(search, feature, magnitude=1.0) -> np.ndarray:
    """``magnitude`` times each unit's sign for ``feature`` (+1 where the unit is
    higher when the feature is on; a unit with no difference counts as +1): one
    clamp value per unit of the layer."""
    return magnitude * np.where(search.unit_levels_[feature]["sign"] < 0, -1.0, 1.0)


def clamp_value(search, feature, value):
    """The ``value=`` argument of a Figure 4 clamp ("+sign" / "-sign": per unit)."""
    if value == "+sign":
        return sign_values(search, feature)
    if value == "-sign":
        return sign_values(search, feature, -1.0)
    return value


def figure4_units(search) -> np.ndarray:
    """The ranked units of the Figure 4 clamps."""
    return units_by_score(search, NEXT_DIGIT)


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
        depth = ParseTreeFeaturizer(
            "arithmetic", representations=("depth",), rules=["paren"]
        ).set_output(transform="pandas")
        Y[DEPTH] = depth.fit_transform(probe)[DEPTH]

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
    with step("Figure 5: ablation curves (top-k vs random-k, teacher-forced)"):
        for feature, mode, oracle_range, metric in FIGURE5:
            scorer = NeuronAblationScorer(
                lm,
                # the paper's top-k by score (top_units_ holds only units above
                # chance, which may be fewer than max(KS)); the search gives the
                # units' levels for the calibrated oracle
                units_by_score(search, feature),
                search=search,
                feature=feature,
                k=KS,
                mode=mode,
                oracle_range=oracle_range,
                metric=metric,
                n_random=sizes["n_random"],
                random_state=args.seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # look-ahead oracles
                frame = scorer.evaluate(probe, Y if mode == "oracle" else None)
            ablations.append(frame)
    ablation = pd.concat(ablations, ignore_index=True)
    print_table(
        "Next-character CLASS metrics (class probability mass: digit / paren / "
        "operator) with the feature's top-k units overwritten vs "
        f"{sizes['n_random']} random-k draws (low/high: 2.5/97.5 percentiles, "
        "min/max: lowest/highest draw); "
        "teacher-forced scoring on held-out texts",
        ablation.set_index(["feature", "mode", "value", "metric"])[ABLATION_COLUMNS],
    )

    generations = []
    with step("Figure 4: clamped generation (free-running, independent samples)"):
        for feature, value in FIGURE4:
            frame = count_class_in_generations(
                lm,
                figure4_units(search),
                DIGITS,
                seed=args.gen_seed,
                n_chars=sizes["gen_chars"],
                k=figure4_ks(sizes),
                value=clamp_value(search, feature, value),
                n_random=sizes["n_random"],
                n_samples=sizes["gen_samples"],
                random_state=args.seed,
                search=search,
                feature=feature,
            )
            frame.insert(0, "feature", feature)
            if value in ("+sign", "-sign"):
                frame["value"] = value  # not "per-unit"
            signs = search.unit_levels_[feature]["sign"][figure4_units(search)]
            frame.insert(1, "negative_top10", int(np.sum(signs[: max(KS)] < 0)))
            generations.append(frame)
    generation = pd.concat(generations, ignore_index=True)
    print_table(
        "Digit share of generated characters, top-k units clamped vs random-k "
        f"({sizes['gen_samples']} samples x {sizes['gen_chars']} chars per condition, "
        f"one random stream per sample, seed text {args.gen_seed!r}; value: 1 the "
        "paper's, on/off each unit's own mean activation where the feature is "
        "on/off, +sign/-sign +1/-1 times each unit's sign (random units: their own "
        "levels / signs); top_low/high: 95% interval over samples; random_low/high: "
        "2.5/97.5 percentiles over the random draws, random_max the highest draw; "
        "diff = top - random mean, paired per sample, 95% interval over samples; "
        "vs_none_low: lower end of the paired 95% interval of top - no clamp)",
        generation.set_index(["feature", "value"])[GENERATION_COLUMNS],
    )
    print("\nsamples (top-k next:digit units clamped 'on'):")
    on_rows = generation[
        (generation["feature"] == NEXT_DIGIT) & (generation["value"] == "on")
    ]
    for k, text in zip(on_rows["k"], on_rows["top_example"], strict=True):
        print(f"  k={k:>2}: {text[:70]!r}")

    top_k = figure4_ks(sizes)[-1]
    with step(f"dose-response of the top-{top_k} next:digit clamp (with damage)"):
        dose = dose_table(lm, search, probe, args, sizes)
    print_table(
        f"Dose-response: top-{top_k} next:digit units set to off + dose * (on - off) "
        "(dose 0 = each unit's 'off' level, 1 = its 'on' level; clipped to [-1, 1]); "
        "digit share of generated characters, share of samples that are valid "
        "prefixes of the grammar, held-out cross-entropy (teacher-forced, "
        f"{sizes['dose_texts']} texts) under the same clamp",
        dose.set_index("dose_label").rename_axis("dose")[DOSE_COLUMNS],
    )
    print_table(
        f"The same doses for {int(dose['n_random'].iloc[1])} draws of {top_k} random "
        "units (outside the top) at their own levels: mean over draws and 2.5/97.5 "
        "percentiles of digit share, valid prefixes and held-out cross-entropy",
        dose.iloc[1:].set_index("dose_label").rename_axis("dose")[RANDOM_DOSE_COLUMNS],
    )
    print("\nDose-response damage, top vs random units:")
    for line in dose_verdicts(dose):
        print("  " + line)

    print(f"\nWhat reproduces (seed {args.seed}):")
    lines = verdicts(ablation, generation)
    for line in lines:
        print("  " + line)
    reproduced = sum("REPRODUCES" in line for line in lines)
    print(
        f"\nheadline: best range:digit {rules.loc['digit', 'range_best']:.3f} and "
        f"range:paren {rules.loc['paren', 'range_best']:.3f} vs range:mul "
        f"{rules.loc['mul', 'range_best']:.3f} and range:div "
        f"{rules.loc['div', 'range_best']:.3f} (accuracy); {reproduced} of the "
        "Figure 4/5 checks above reproduce the paper"
    )

    figures = {}
    if args.out is not None:
        from skdni.report import plot_ablation_curves, plot_unit_scores

        figures["arithmetic unit scores"] = plot_unit_scores(
            search.scores_, chance=search.chance_scores_
        )
        zero = ablation[
            (ablation["mode"] == "zero") & (ablation["metric"] == "class_accuracy")
        ]
        figures["arithmetic ablation"] = plot_ablation_curves(
            zero, ylabel="next-char class accuracy (class mass)"
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
