"""Helpers shared by the example scripts: settings banner, result tables, output files.

The scripts import this module after pinning threads, so importing numpy here is safe.
"""

import argparse
import os
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def base_parser(description: str) -> argparse.ArgumentParser:
    """Options of every example: ``--seed``, ``--quick``, ``--out``, ``--verbose``."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random step")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny corpus and model (seconds; for tests, not for conclusions)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for CSV tables and PNG figures (nothing is written without it)",
    )
    parser.add_argument(
        "--verbose", type=int, default=0, help="progress bars of skdni's estimators"
    )
    parser.add_argument(
        "--probe",
        choices=["auto", "svm", "logistic", "threshold"],
        default="auto",
        help="1-D probe of binary features (auto = svm, LinearSVC as in the paper; "
        "continuous features always get OLS)",
    )
    return parser


def print_settings(name: str, args, sizes: dict) -> None:
    """Print what a reader needs to reproduce the numbers: seed, sizes, threads."""
    import keras  # skdni has chosen the backend by now

    import skdni

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count()
    threads = ", ".join(f"{var}={os.environ.get(var, 'unset')}" for var in _THREAD_VARS)
    print(f"== {name} ==")
    print(
        f"skdni {skdni.__version__}, Python {platform.python_version()}, "
        f"keras {keras.__version__} on {keras.backend.backend()}"
    )
    print(f"machine: {cores} usable core(s), {threads}")
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', 'unset')!r}")
    if hasattr(os, "getloadavg"):
        print(
            f"load average at start: {os.getloadavg()[0]:.2f} (machine may be shared)"
        )
    mode = "quick" if args.quick else "full"
    shown = ", ".join(f"{key}={value}" for key, value in sizes.items())
    print(f"seed={args.seed}, mode={mode}: {shown}")
    sys.stdout.flush()


@contextmanager
def step(label: str):
    """Print a step's name, then how long it took."""
    print(f"-- {label} ...", end="", flush=True)
    start = time.perf_counter()
    yield
    print(f" {time.perf_counter() - start:.1f} s", flush=True)


def split_texts(texts, test_fraction: float, random_state: int):
    """Split texts (whole texts, never cut) into training and inspection texts."""
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(texts))
    n_test = max(1, round(test_fraction * len(texts)))
    test = sorted(order[:n_test])
    train = sorted(order[n_test:])
    return [texts[i] for i in train], [texts[i] for i in test]


def skill(score, chance):
    """Fraction of the gap from chance to a perfect score (1) that ``score`` closes.

    Scores are accuracies (chance = majority class) or R² (chance ≈ 0), both at most
    1, so 0 means "no better than chance" and 1 "perfect", whatever the class balance.
    """
    gap = 1.0 - np.asarray(chance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 1e-12, (np.asarray(score) - chance) / gap, np.nan)


def feature_summary(search, features=None, *, min_skill: float = 0.5, show: int = 3):
    """One row per feature: chance, best score, its skill, best units, strong units.

    ``n_strong`` counts the units whose score closes at least ``min_skill`` of the
    gap between chance and a perfect score (the paper's "many / few neurons predict
    this feature").
    """
    scores = search.scores_
    names = list(scores.index) if features is None else list(features)
    rows = []
    for feature in names:
        row = scores.loc[feature]
        chance = float(search.chance_scores_[feature])
        unit_skill = skill(row.to_numpy(dtype=float), chance)
        # units that do not beat chance are not "best units" of anything
        top = [u for u in search.top_units_[feature][:show] if unit_skill[u] > 0]
        rows.append(
            {
                "feature": feature,
                "kind": search.feature_kinds_[feature],
                "chance": chance,
                "best": float(row.max()),
                "skill": float(np.nanmax(unit_skill))
                if np.isfinite(unit_skill).any()
                else np.nan,
                "best_units": " ".join(str(scores.columns[u]) for u in top) or "-",
                "n_strong": int(np.sum(unit_skill >= min_skill)),
            }
        )
    return pd.DataFrame(rows).set_index("feature")


def skill_counts(search, features, thresholds=(0.25, 0.5, 0.9, 0.99)):
    """Per feature, how many units reach each skill level (the sorted-score curves of
    the paper's Figures 2-3, read at a few heights)."""
    rows = {}
    for feature in features:
        chance = float(search.chance_scores_[feature])
        unit_skill = skill(search.scores_.loc[feature].to_numpy(dtype=float), chance)
        rows[feature] = {f">={t:g}": int(np.sum(unit_skill >= t)) for t in thresholds}
    return pd.DataFrame.from_dict(rows, orient="index")


def top_overlap(search, features, k: int) -> pd.DataFrame:
    """Number of units shared by the top-``k`` lists of every pair of features.

    Only units scoring above the feature's chance level count (when every unit sits
    at chance, the "top" units are an arbitrary tie order).
    """
    tops = {}
    for f in features:
        chance = search.chance_scores_[f]
        tops[f] = {
            int(u)
            for u in search.top_units_[f][:k]
            if search.scores_.loc[f].iloc[u] > chance
        }
    return pd.DataFrame(
        [[len(tops[a] & tops[b]) for b in features] for a in features],
        index=features,
        columns=features,
    )


def best_unit(search, feature) -> int:
    """The feature's highest-scoring unit, above chance or not (``best_units_``)."""
    return int(search.best_units_[list(search.target_names_).index(feature)])


def units_by_score(search, feature) -> np.ndarray:
    """Every unit of the feature, highest mean score first (stable on ties).

    The paper's top-k: unlike ``top_units_`` (units above chance only), this ranks
    every unit, so a top-k intervention can be run whatever the number of findings.
    """
    return np.argsort(-search.scores_.loc[feature].to_numpy(), kind="stable")


def best_unit_correlation(H, search, features) -> pd.DataFrame:
    """|Pearson correlation| between the activations of each feature's best unit."""
    H = np.asarray(H)
    best = [best_unit(search, f) for f in features]
    corr = np.corrcoef(H[:, best], rowvar=False)
    return pd.DataFrame(np.abs(np.atleast_2d(corr)), index=features, columns=features)


def print_table(title: str, frame: pd.DataFrame, *, digits: int = 3) -> None:
    print(f"\n{title}")
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(frame.to_string(float_format=lambda x: f"{x:.{digits}f}"))
    sys.stdout.flush()


def save_outputs(out, tables: dict, figures: dict) -> None:
    """Write CSV tables and PNG figures to ``out`` (if given) and say where."""
    if out is None:
        return
    from skdni.report import save_figures, save_tables

    out = Path(out)
    written = list(save_tables(tables, out).values())
    written += list(save_figures(figures, out).values())
    print(f"\nwrote {len(written)} file(s) to {out}/")
