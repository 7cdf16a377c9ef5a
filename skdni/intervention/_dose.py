"""Dose-response of a clamp: how much of the target, and at what damage."""

from numbers import Integral, Real

import lark
import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._errors import InputError
from ..models._interventions import random_summary
from ._generation import _mean_interval, _run_conditions
from ._interchange import _share_interval
from ._scorer import NeuronAblationScorer, _score_conditions
from ._values import describe_value, search_levels

__all__ = ["dose_response", "is_valid_prefix"]


def is_valid_prefix(parser: lark.Lark, text: str) -> bool:
    """Whether ``text`` can be continued into a sentence of ``parser``'s grammar
    (an LALR ``lark.Lark``): every token is accepted by its interactive parser.

    Parameters
    ----------
    parser : lark.Lark
        A compiled LALR parser (:func:`~skdni.datasets.compile_grammar`).
    text : str
        The prefix to check.

    Returns
    -------
    valid : bool
        False when the lexer or the parser rejects a token of ``text``.

    Examples
    --------
    >>> from skdni.datasets import compile_grammar
    >>> parser = compile_grammar("arithmetic")
    >>> is_valid_prefix(parser, "(1+"), is_valid_prefix(parser, "(1+)")
    (True, False)
    """
    try:
        parser.parse_interactive(text).exhaust_lexer()
    except lark.exceptions.UnexpectedInput:
        return False
    return True


def _dose_values(doses, clip, search, feature):
    """Checked doses and ``dose -> one value per unit`` (off + dose * (on - off) of
    each unit's own levels of ``feature``, clipped to ``clip``)."""
    if search is None or feature is None:
        raise InputError(
            "doses= sets each unit to off + dose * (on - off) of its own levels: pass "
            "search= (a fitted NeuronProbeSearch) and feature=."
        )
    if isinstance(doses, str | Real) or not len(doses):
        raise InputError(f"doses must be a non-empty list of numbers, got {doses!r}.")
    checked = []
    for dose in doses:
        if (
            not isinstance(dose, Real)
            or isinstance(dose, bool)
            or not np.isfinite(dose)
        ):
            raise InputError(f"Every dose must be a finite number; got {dose!r}.")
        checked.append(float(dose))
    if clip is not None:
        if len(clip) != 2 or not all(np.isfinite(c) for c in clip) or clip[0] > clip[1]:
            raise InputError(
                f"clip must be None or (low, high), low <= high; got {clip!r}."
            )
    levels = search_levels(search, feature)
    off = np.asarray(levels["off"], dtype=np.float64).reshape(-1)
    on = np.asarray(levels["on"], dtype=np.float64).reshape(-1)
    # a unit with no "on" (or "off") level keeps the other one
    on, off = np.where(np.isnan(on), off, on), np.where(np.isnan(off), on, off)
    missing = np.flatnonzero(np.isnan(on))
    if missing.size:
        raise InputError(
            f"Unit {int(missing[0])} has no level for feature {feature!r} (neither "
            "on nor off): a dose cannot be placed."
        )

    def values(dose):
        # = off + dose * (on - off), exactly off at 0 and on at 1
        out = (1.0 - dose) * off + dose * on
        return out if clip is None else np.clip(out, clip[0], clip[1])

    return checked, values


def dose_response(
    lm,
    units,
    *,
    chars,
    grammar,
    held_out,
    values=None,
    doses=None,
    clip=None,
    seeds=("(",),
    k: int = 10,
    n_random: int = 10,
    n_chars: int = 100,
    n_samples: int | None = None,
    layer=0,
    state: str = "hidden",
    temperature: float = 1.0,
    random_state=None,
    n_jobs=None,
    search=None,
    feature=None,
    vocabulary=None,
) -> pd.DataFrame:
    """Clamp the top-``k`` units at each dose: target share and damage, against
    ``n_random`` draws of ``k`` random units clamped the same way.

    For every clamp value, free-running generation (independent samples, the same
    streams for every value and condition, see :func:`clamped_generation`) gives the
    share of generated characters in ``chars`` — the dose's effect — and two kinds
    of damage: the share of samples (seed + generated text) that are still valid
    prefixes of ``grammar`` (lark's interactive parser), and the teacher-forced
    cross-entropy of ``held_out`` texts under the same clamp. The same three numbers
    for ``n_random`` draws of ``k`` units outside the top-``k`` (drawn once, the
    same draws at every value) say whether the damage is specific to the top units
    or what clamping any ``k`` units does. Each value's conditions (no clamp, top-k,
    every draw) run as one batched recurrence.

    Parameters
    ----------
    lm : CharLanguageModel or keras.Model
        The model to generate with (a bare Keras model needs ``vocabulary``).
    units : array-like of int
        Ranked units of ``layer``; the first ``k`` are clamped.
    chars : str
        The target class's characters.
    grammar : str or lark.Lark
        A bundled grammar name (compiled LALR) or a compiled LALR parser.
    held_out : list of str
        Texts for the cross-entropy.
    values : list, optional
        Clamp values (numbers, one value per unit of the layer, or "on" / "off"
        with ``search``); random units read their own entry. Either this or
        ``doses``.
    doses : list of float, optional
        Each clamped unit (top or random) is set to ``off + dose * (on - off)`` of
        its own levels of ``feature`` (``search.unit_levels_``): 0 is the unit's
        "off" level, 1 its "on" level, 2 as far again. Needs ``search`` and
        ``feature``; a unit missing one level keeps the other.
    clip : (float, float), optional
        Clip the dosed values to this range (e.g. (-1, 1) for a tanh hidden state;
        without it a value the unit cannot take is an error).
    seeds : sequence of str, default=("(",)
        Non-empty start texts.
    k : int, default=10
        How many of ``units`` are clamped.
    n_random : int, default=10
        Random draws of ``k`` units (from the units outside the top-``k``,
        deterministic from ``random_state``).
    n_chars, n_samples, layer, state, temperature : optional
        As in :func:`clamped_generation`.
    random_state : int, RandomState or None
        Seeds the random unit draws and the sampling streams (drawn once: the same
        draws and streams at every value).
    n_jobs : int, optional
        Seeds and held-out batches in parallel (the result does not depend on it).
    search, feature : optional
        Where "on" / "off" levels and the doses' levels come from.
    vocabulary : dict or list, optional
        For a bare Keras model.

    Returns
    -------
    DataFrame
        One row for no clamp (``value`` "none") and one per value or dose:
        ``value``, ``dose`` (NaN without doses), ``target_share`` with its 95%
        interval over samples (``share_low`` / ``share_high``), ``valid_prefix``
        with its 95% Wilson interval (``valid_low`` / ``valid_high``),
        ``held_out_cross_entropy`` (nats per character, teacher-forced); for the
        random draws the mean over draws and the 2.5 / 97.5 percentiles of each
        draw's number: ``random_target_share`` (``random_target_low`` /
        ``random_target_high``), ``random_valid_prefix`` (``random_valid_low`` /
        ``random_valid_high``), ``random_cross_entropy``
        (``random_cross_entropy_low`` / ``random_cross_entropy_high``), and each
        number's lowest / highest draw (``random_target_min`` / ``_max``,
        ``random_valid_min`` / ``_max``, ``random_cross_entropy_min`` / ``_max``),
        NaN for no clamp; then ``k``, ``n_random``, ``n_samples`` and ``generation``.
    """
    if isinstance(grammar, str):
        from ..datasets import compile_grammar

        grammar = compile_grammar(grammar)
    if not isinstance(grammar, lark.Lark):
        raise InputError("grammar must be a bundled grammar name or a lark.Lark.")
    if (values is None) == (doses is None):
        raise InputError(
            "Pass exactly one of values= (clamp values) and doses= (off + dose * "
            "(on - off) of each unit's levels)."
        )
    if doses is not None:
        doses, dosed = _dose_values(doses, clip, search, feature)
        sweep = [(dose, dosed(dose)) for dose in doses]
    else:
        if clip is not None:
            raise InputError("clip= applies to doses=; clip values= yourself.")
        sweep = [(np.nan, value) for value in list(values)]
    if not isinstance(k, Integral) or k < 1:
        raise InputError(f"k must be a positive int, got {k!r}.")
    units = np.asarray(units)[:k]
    seeds = list(seeds)
    # drawn once: the same random units and sampling streams at every value
    # (an int is passed on as is: the streams of clamped_generation with that int)
    seed = (
        random_state
        if isinstance(random_state, Integral)
        else int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    )
    wanted = frozenset(chars)
    records = []
    for number, (dose, value) in enumerate(sweep):
        conditions, generated, runtime, per_seed, sets = _run_conditions(
            lm,
            units,
            seeds=seeds,
            n_chars=n_chars,
            ks=[len(units)],
            n_random=n_random,
            value=value,
            layer=layer,
            state=state,
            temperature=temperature,
            random_state=seed,
            n_jobs=n_jobs,
            vocabulary=vocabulary,
            n_samples=n_samples,
            search=search,
            feature=feature,
            with_units=True,
        )
        # share and validity of every (condition, sample)
        share = np.empty(generated.shape[:2])
        valid = np.empty(generated.shape[:2], dtype=bool)
        for row in range(len(conditions)):
            for i, ids in enumerate(generated[row]):
                text = runtime.decode(ids)
                share[row, i] = np.mean([c in wanted for c in text])
                valid[row, i] = is_valid_prefix(grammar, seeds[i // per_seed] + text)
        loss = _held_out_losses(
            lm,
            [chosen for _, _, chosen in sets],
            value,
            held_out,
            layer,
            state,
            search,
            feature,
            vocabulary,
            n_jobs,
        )  # no clamp, top-k, then every draw
        draws = [row for row, c in enumerate(conditions) if c[1] == "random"]
        # row 0 of the conditions is no clamp (reported once), row 1 the top-k
        for index in [0, 1] if number == 0 else [1]:
            mean, low, high = _mean_interval(share[index])
            # a share of samples: Wilson's interval stays inside [0, 1]
            vmean, vlow, vhigh = _share_interval(valid[index])
            record = {
                "value": "none" if index == 0 else _label(dose, value),
                "dose": np.nan if index == 0 else dose,
                "target_share": float(mean),
                "share_low": float(low),
                "share_high": float(high),
                "valid_prefix": float(vmean),
                "valid_low": float(vlow),
                "valid_high": float(vhigh),
                "held_out_cross_entropy": float(loss[index]),
            }
            for name, per_draw in (
                ("target", share[draws].mean(axis=1)),
                ("valid", valid[draws].mean(axis=1)),
                ("cross_entropy", loss[draws]),
            ):
                summary = random_summary(per_draw if index else [])
                column = {
                    "target": "random_target_share",
                    "valid": "random_valid_prefix",
                    "cross_entropy": "random_cross_entropy",
                }[name]
                record[column] = summary["random_mean"]
                record[f"random_{name}_low"] = summary["random_low"]
                record[f"random_{name}_high"] = summary["random_high"]
                record[f"random_{name}_min"] = summary["random_min"]
                record[f"random_{name}_max"] = summary["random_max"]
            record.update(
                {
                    "k": len(units),
                    "n_random": len(draws),
                    "n_samples": generated.shape[1],
                    "generation": "free-running",
                }
            )
            records.append(record)
    return pd.DataFrame.from_records(records)


def _label(dose, value) -> str:
    """The ``value`` column: the clamp value, or the dose's formula."""
    if np.isnan(dose):
        return describe_value(value)
    return f"off+{dose:g}*(on-off)"


def _held_out_losses(
    lm, unit_sets, value, held_out, layer, state, search, feature, vocabulary, n_jobs
) -> np.ndarray:
    """Teacher-forced cross-entropy of ``held_out`` with no clamp, then with each of
    ``unit_sets`` clamped to ``value``: every condition in one batched recurrence."""
    scorer = NeuronAblationScorer(
        lm,
        unit_sets[0],
        mode="clamp",
        value=value,
        search=search if isinstance(value, str) else None,
        feature=feature if isinstance(value, str) else None,
        layer=layer,
        state=state,
        metric="cross_entropy",
        vocabulary=vocabulary,
    )
    ctx = scorer._prepare(lm, held_out, None)
    unit_sets = [np.empty(0, dtype=np.int64), *unit_sets]
    item, _ = scorer._conditions(ctx, unit_sets, None)
    return _score_conditions(ctx["stack"], ctx["batches"], item, ctx["scoring"], n_jobs)
