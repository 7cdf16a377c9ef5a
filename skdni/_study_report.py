"""The study report's reading aids: findings as sentences, unit pages, text view.

Everything here reads a finished :class:`~skdni._study.StudyResult` (no model is
trained or re-run, except one pass of the model over the inspected texts for its
accuracy and bits per character) and hands plain data to the templates of
:mod:`skdni.report`.
"""

import math

import numpy as np
import pandas as pd

#: Unit pages written (the findings' units, best first); the rest are in the tables.
MAX_UNIT_PAGES = 100
#: Units named in a finding's sentence besides its best unit.
MAX_OTHER_UNITS = 4
#: Features whose units get an activation histogram on a unit page.
MAX_HISTOGRAMS = 3
_SCORING_NAMES = {
    "balanced_accuracy": "balanced accuracy",
    "accuracy": "accuracy",
    "r2": "R²",
    "roc_auc": "ROC AUC",
}


def _g(value) -> str:
    """A number as the sentences print it (3 significant digits)."""
    return "NaN" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _change(before, after) -> str:
    """``before → after``, with more digits when 3 would print a change as none."""
    digits = 3
    while (
        digits < 6
        and before != after
        and math.isfinite(before)
        and math.isfinite(after)
        and f"{before:.{digits}g}" == f"{after:.{digits}g}"
    ):
        digits += 1
    if digits == 3:
        return f"{_g(before)} → {_g(after)}"
    return f"{before:.{digits}g} → {after:.{digits}g}"


def _qtext(q) -> str:
    if q is None or not math.isfinite(q):
        return ""
    return "q < 0.001" if q < 0.001 else f"q = {q:.2g}"


def unit_file_names(names) -> dict:
    """Unit name -> ``units/<safe name>.html`` (``lstm_0/h3`` -> ``lstm_0-h3``)."""
    from .report._html import _unique_slugs

    names = list(names)
    return {
        name: f"units/{slug}.html"
        for name, slug in zip(names, _unique_slugs(names), strict=True)
    }


def model_sentence(model, texts, held_out=True) -> str:
    """Next-character accuracy vs the majority-class rate, and bits per character
    (``held_out``: the texts were never trained on; False for a given model)."""
    proba, targets = model._targets(texts)
    known = targets >= 0
    accuracy = float(np.mean(np.argmax(proba, axis=1) == targets))
    majority = (
        float(np.bincount(targets[known]).max() / targets.size) if known.any() else 0
    )
    p = proba[np.flatnonzero(known), targets[known]]
    bits = float(-np.mean(np.log2(np.maximum(p, np.finfo(np.float64).tiny))))
    return (
        f"The model predicts the next character of the {len(texts):,} inspected "
        + "held-out " * held_out
        + f"texts with accuracy {accuracy:.3f} (always guessing the most "
        f"common character: {majority:.3f}) at {bits:.2f} bits per character."
    )


_METRIC_NAMES = {
    "accuracy": "next-character accuracy",
    "class_accuracy": "next-character class accuracy",
    "within_class_accuracy": "within-class next-character accuracy",
    "cross_entropy": "cross-entropy (nats, lower is better)",
    "class_cross_entropy": "class cross-entropy (nats, lower is better)",
}


def _metric(row) -> tuple[str, bool]:
    """``(name a reader understands, higher is better)`` of an ablation row."""
    metric = row.get("metric")
    metric = metric if isinstance(metric, str) else ""
    label = row.get("metric_label")
    if not (isinstance(label, str) and label):
        label = _METRIC_NAMES.get(metric, metric.replace("_", " ") or "the metric")
    return label, "cross_entropy" not in metric


def ablation_sentences(ablation: pd.DataFrame, feature: str) -> list[dict]:
    """One sentence per intervention mode (and metric) of ``feature``, at its
    largest k.

    These rules, with :func:`generation_sentence`, are the study's only causal
    verdicts: the report's findings and unit pages show them and
    :func:`causal_findings` prints them. Read defensively: only ``feature``,
    ``k``, ``baseline`` and ``top`` are required; ``mode``, ``metric``,
    ``positions``, ``random_mean``/``random_low``/``random_high`` and ``n_random``
    are used when present.
    """
    needed = {"feature", "k", "baseline", "top"}
    if ablation is None or ablation.empty or not needed <= set(ablation.columns):
        return []
    rows = ablation[ablation["feature"] == feature]
    if rows.empty:
        return []
    modes = rows["mode"] if "mode" in rows else pd.Series("zero", index=rows.index)
    out = []
    for mode in dict.fromkeys(modes):
        of_mode = rows[modes == mode]
        if "metric" in of_mode:  # one sentence per metric of the mode
            groups = [g for _, g in of_mode.groupby("metric", sort=False)]
        else:
            groups = [of_mode]
        for group in groups:
            row = group.sort_values("k").iloc[-1].to_dict()
            out.append(_ablation_sentence(row, str(mode)))
    return out


def _finite(row, name) -> float:
    value = row.get(name, np.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _ablation_sentence(row, mode) -> dict:
    """One intervention at one k, judged against random units (the 2.5-97.5
    percentiles of the random draws) or, with no random draws, against no
    intervention: ``effect`` is ``found``, ``none`` or ``opposite``."""
    k, top, baseline = int(row["k"]), float(row["top"]), float(row["baseline"])
    low, high = _finite(row, "random_low"), _finite(row, "random_high")
    mean = _finite(row, "random_mean")
    metric, higher_is_better = _metric(row)
    # removing units should make the model worse; the oracle should not
    expect_worse = mode != "oracle"

    def worse(a, b):
        return a < b if higher_is_better else a > b

    units = "unit" if k == 1 else f"{k} units"
    action = {
        "zero": f"zeroing the top {units}",
        "oracle": f"setting the top {units} to the feature's labels (oracle)",
        "mean": f"setting the top {units} to their mean",
        "resample": f"resampling the top {units}",
    }.get(mode, f"intervening ({mode}) on the top {units}")
    verb = "lowers" if top < baseline else "raises" if top > baseline else "leaves"
    text = f"{action} {verb} {metric} {_change(baseline, top)}"
    positions = row.get("positions")
    if isinstance(positions, str) and positions and positions != "all":
        text += f" (positions: {positions})"
    if math.isfinite(mean):
        draws = _finite(row, "n_random")
        draws = f", {int(draws)} draws" if math.isfinite(draws) else ""
        text += f" (random {k}: {_g(mean)} [{_g(low)}, {_g(high)}]{draws})"
    band = math.isfinite(low) and math.isfinite(high)
    if band and low <= top <= high:
        effect, words = "none", "no more than random units do"
    elif band and worse(top, low if higher_is_better else high) == expect_worse:
        effect = "found"
        words = "more than random units do" + (
            ": the model uses these units" if expect_worse else ""
        )
    elif band and not worse(top, baseline) and top != baseline and expect_worse:
        effect, words = "opposite", "the opposite of the expected effect"
    elif band:
        effect, words = "none", "less than random units do"
    elif top == baseline:
        effect, words = "none", "no change"
    elif not expect_worse:  # the oracle, compared with no intervention
        if worse(top, baseline):
            effect = "none"
            words = "the feature's labels do not replace what they carry"
        else:
            effect, words = "found", "the feature's labels stand in for them"
    else:
        no_draws = "no random draws to compare with (--n-random 0)"
        if worse(top, baseline):
            effect, words = "found", no_draws
        else:
            effect, words = (
                "opposite",
                f"the opposite of the expected effect; {no_draws}",
            )
    text += f": {words}" if words else ""
    return {"effect": effect, "text": text, "k": k, "mode": mode}


def moved_classes(generation: pd.DataFrame, n: int = 3) -> list[str]:
    """The classes whose share top-k clamps moved most against random-k clamps (no
    clamp without random draws) at the largest k, largest move first."""
    if generation is None or generation.empty:
        return []
    k = generation["k"].max()
    rates = generation[generation["k"].isin([0, k])].pivot_table(
        index="class", columns="units", values="rate"
    )
    if "top" not in rates.columns:
        return []
    against = "random" if "random" in rates.columns else "none"
    moved = (rates["top"] - rates[against]).abs().fillna(-1.0)
    return [str(c) for c in moved.sort_values(ascending=False, kind="stable").index[:n]]


def _interval(row, name="rate") -> tuple[float, float]:
    """A share's 95% interval, the share itself when there is none."""
    value = float(row[name])
    low, high = _finite(row, f"{name}_low"), _finite(row, f"{name}_high")
    return (low, high) if math.isfinite(low) and math.isfinite(high) else (value, value)


def generation_sentence(generation: pd.DataFrame) -> dict | None:
    """The clamped generation's verdict at its largest k, on the class whose share
    the top-k clamp moved most against random-k clamps (:func:`moved_classes`):
    ``found`` when the 95% intervals of the top and random clamps do not overlap.
    """
    needed = {"k", "units", "class", "rate"}
    if generation is None or generation.empty or not needed <= set(generation.columns):
        return None
    classes = moved_classes(generation, 1)
    none = generation[generation["units"] == "none"].set_index("class")
    if not classes or none.empty:
        return None
    cls = classes[0]
    k = int(generation.loc[generation["units"] == "top", "k"].max())
    at_k = generation[(generation["k"] == k) & (generation["class"] == cls)]
    top = at_k[at_k["units"] == "top"].iloc[0]
    random = at_k[at_k["units"] == "random"]
    rate, base = float(top["rate"]), float(none["rate"].get(cls, np.nan))
    top_low, top_high = _interval(top)
    value = f" to {top['value']!r}" if "value" in top and pd.notna(top["value"]) else ""
    # a class of one character (every character its own class) is quoted
    name = repr(cls) if len(cls) == 1 else cls
    text = (
        f"clamping the top {k} units{value} changes the share of generated "
        f"{name} characters {_g(base)} → {_g(rate)}"
    )
    if (top_low, top_high) != (rate, rate):
        text += f" [{_g(top_low)}, {_g(top_high)}]"
    notes = []
    if "n_samples" in top and pd.notna(top["n_samples"]):
        notes.append(f"{int(top['n_samples'])} samples")
    if random.empty:
        effect = "none" if top_low <= base <= top_high else "found"
        words = "no random units to compare with (--n-random 0)"
    else:
        r = random.iloc[0]
        low, high = _interval(r)
        band = f" [{_g(low)}, {_g(high)}]" if low != high else ""
        notes.append(f"random {k}: {_g(float(r['rate']))}{band}")
        if top_low > high or top_high < low:
            direction = "more" if rate > float(r["rate"]) else "less"
            effect = "found"
            words = f"the top units make the model write {direction} {name}"
        else:
            effect, words = "none", "no more than random units do"
    if notes:
        text += f" ({'; '.join(notes)})"
    text += f": {words}"
    return {"effect": effect, "text": text, "k": k, "mode": "clamp"}


def causal_findings(
    ablation: pd.DataFrame, generation: pd.DataFrame, feature: str | None
) -> list[str]:
    """The causal verdicts as plain sentences (what ``skdni run`` prints): every
    ablated feature's :func:`ablation_sentences`, then :func:`generation_sentence`
    of the clamped ``feature``, each led by its feature's name."""
    lines = []
    if ablation is not None and not ablation.empty and "feature" in ablation:
        for name in dict.fromkeys(ablation["feature"]):
            for sentence in ablation_sentences(ablation, name):
                lines.append(f"{name}: {sentence['text']}.")
    gen = generation_sentence(generation) if feature is not None else None
    if gen is not None:
        lines.append(f"{feature}: {gen['text']}.")
    return lines


def _generation_feature(result):
    if getattr(result, "generation_feature", None) is not None:
        return str(result.generation_feature)
    if "feature" in result.generation:
        return str(result.generation["feature"].iloc[0])
    if not result.ablation.empty and "feature" in result.ablation:
        return str(result.ablation["feature"].iloc[0])
    return None


def finding_units(search, summary) -> list[int]:
    """Columns of the units that are findings, best feature first, at most
    ``MAX_UNIT_PAGES``."""
    units = []
    for feature in summary["feature"]:
        units += [int(u) for u in search.top_units_[feature]]
    return list(dict.fromkeys(units))[:MAX_UNIT_PAGES]


def findings_context(result, pages: dict) -> dict:
    """The findings section: the model, one sentence per feature with a unit above
    chance (its best unit, the causal checks), the features at chance."""
    search, summary = result.search, result.summary
    names = search.scores_.columns
    qvalues = getattr(search, "qvalues_", None)
    gen_feature = _generation_feature(result)
    gen = generation_sentence(result.generation) if gen_feature else None
    items = []
    for row in summary.itertuples(index=False):
        feature = row.feature
        units = [int(u) for u in search.top_units_[feature]]
        best = str(names[units[0]])
        scoring = str(getattr(row, "scoring", "score"))
        stats = (
            f"CV {_SCORING_NAMES.get(scoring, scoring)} {_g(row.best_score)}, "
            f"chance {_g(row.chance)}, skill {_g(row.skill)}"
        )
        if qvalues is not None:
            q = _qtext(float(qvalues.loc[feature].iloc[units[0]]))
            stats += f", {q}" if q else ""
        others = [
            {"name": str(names[u]), "href": pages.get(str(names[u]))}
            for u in units[1 : 1 + MAX_OTHER_UNITS]
        ]
        causal = ablation_sentences(result.ablation, feature)
        if gen is not None and feature == gen_feature:
            causal.append(gen)
        items.append(
            {
                "feature": feature,
                "unit": best,
                "href": pages.get(best),
                "stats": stats,
                "others": others,
                "more": max(0, len(units) - 1 - MAX_OTHER_UNITS),
                "causal": causal,
            }
        )
    n_units = len(names)
    cv = getattr(search, "n_splits_", "")
    return {
        "model": model_sentence(
            result.model, result.inspect_texts, held_out=result.config.model is None
        ),
        "lead": (
            f"{len(items)} of {len(search.scores_.index)} features have a unit whose "
            f"{cv}-fold cross-validated probe scores above chance ({n_units} units "
            "probed one at a time). Best feature first; the causal checks are at "
            "the largest k."
        ),
        "items": items,
        "at_chance": [str(f) for f in search.features_at_chance_],
        "notes": [],
    }


def _unit_effects(result, unit: int) -> tuple[list, str]:
    """The causal checks whose top-k units include ``unit``."""
    search, ablation = result.search, result.ablation
    effects = []
    features = (
        list(dict.fromkeys(ablation["feature"]))
        if not ablation.empty and "feature" in ablation
        else []
    )
    for feature in features:
        ranked = [int(u) for u in search.top_units_[feature]]
        for sentence in ablation_sentences(ablation, feature):
            if unit in ranked[: sentence["k"]]:
                position = ranked.index(unit) + 1
                effects.append(
                    dict(
                        sentence,
                        text=f"As unit {position} of the top {sentence['k']} of "
                        f"{feature}: {sentence['text']}.",
                    )
                )
    if features:
        none = (
            "This unit is not among the ablated top-k units of "
            f"{', '.join(features)}; its own effect was not measured."
        )
    else:
        none = "No ablation was run in this study."
    return effects, none


def write_unit_pages(result, out, pages: dict) -> list[str]:
    """A page per finding unit (``units/<name>.html``); returns the written files."""
    from .report._html import write_unit_page
    from .report._unit_figures import top_contexts, unit_histogram_svg

    search = result.search
    names = search.scores_.columns
    frame = search.to_frame()
    H = result.activations
    written = []
    for unit in finding_units(search, result.summary):
        name = str(names[unit])
        rows = frame[(frame["unit"] == name) & frame["above_chance"].astype(bool)]
        rows = rows.sort_values("skill", ascending=False, kind="stable")
        columns = [
            c
            for c in ("feature", "kind", "score", "chance", "skill", "rank", "qvalue")
            if c in rows and not (c == "qvalue" and rows[c].isna().all())
        ]
        column = np.asarray(H[:, unit], dtype=np.float64)
        figures, captions = {}, {}
        for feature in rows["feature"][:MAX_HISTOGRAMS]:
            title = f"{name} by {feature}"
            figures[title] = unit_histogram_svg(
                column,
                result.labels[feature].to_numpy(),
                unit_name=name,
                feature_name=feature,
                kind=str(search.feature_kinds_[feature]),
            )
            captions[title] = (
                f"Histogram of {name}'s activation over the inspected characters, "
                f"one colour per value of {feature} (each normalised to its own "
                "count). Separated histograms mean the unit tells the values apart."
            )
        effects, none = _unit_effects(result, unit)
        write_unit_page(
            out / pages[name],
            title=f"Unit {name}",
            back="../report.html",
            features=rows[columns].reset_index(drop=True),
            figures=figures,
            captions=captions,
            contexts=top_contexts(result.inspect_texts, column),
            effects=effects,
            no_effect=none,
        )
        written.append(pages[name])
    return written


def text_view_context(result) -> dict | None:
    """The interactive text view: the findings' units over the inspected texts."""
    from .report._textview import (
        MAX_TEXT_VIEW_FEATURES,
        MAX_TEXT_VIEW_UNITS,
        text_view_data,
    )

    search, summary = result.search, result.summary
    units = finding_units(search, summary)[:MAX_TEXT_VIEW_UNITS]
    if not units:
        return None
    names = search.scores_.columns
    column_of = {u: j for j, u in enumerate(units)}
    features = {}
    for feature in list(summary["feature"])[:MAX_TEXT_VIEW_FEATURES]:
        ranked = [column_of.get(int(u)) for u in search.top_units_[feature]]
        ranked = [c for c in ranked if c is not None]
        features[feature] = (result.labels[feature].to_numpy(), ranked)
    encodes = {
        u: [f for f in summary["feature"] if u in set(map(int, search.top_units_[f]))]
        for u in units
    }
    data = text_view_data(
        result.inspect_texts,
        np.asarray(result.activations[:, units]),
        [str(names[u]) for u in units],
        features,
        unit_features=[
            "encodes "
            + ", ".join(encodes[u][:5])
            + (" …" if len(encodes[u]) > 5 else "")
            for u in units
        ],
    )
    n_texts = len(data["starts"])
    return {
        "intro": (
            f"The first {len(data['text']):,} characters ({n_texts:,} texts) of the "
            "inspected "
            + "held-out "
            * (result.config.model is None)
            + f"texts, with the {len(units)} units that are findings. "
            "Choose a feature to underline its characters and shade its best unit, "
            "or click a unit."
        ),
        "data": data,
    }
