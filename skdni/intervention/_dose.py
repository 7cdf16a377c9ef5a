"""Dose-response of a clamp: how much of the target, and at what damage."""

import lark
import numpy as np
import pandas as pd

from .._errors import InputError
from ._generation import _mean_interval, _run_conditions
from ._interchange import _share_interval
from ._scorer import NeuronAblationScorer
from ._values import describe_value

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


def dose_response(
    lm,
    units,
    *,
    values,
    chars,
    grammar,
    held_out,
    seeds=("(",),
    k: int = 10,
    n_chars: int = 100,
    n_samples: int | None = None,
    layer=0,
    state: str = "hidden",
    temperature: float = 1.0,
    random_state=None,
    search=None,
    feature=None,
    vocabulary=None,
) -> pd.DataFrame:
    """Clamp the top-``k`` units at each of ``values``: target share and damage.

    For every value, free-running generation (independent samples, the same streams
    for every value, see :func:`clamped_generation`) gives the share of generated
    characters in ``chars`` — the dose's effect — and two kinds of damage: the
    share of samples (seed + generated text) that are still valid prefixes of
    ``grammar`` (lark's interactive parser), and the teacher-forced cross-entropy
    of ``held_out`` texts under the same clamp.

    Parameters
    ----------
    lm : CharLanguageModel or keras.Model
        The model to generate with (a bare Keras model needs ``vocabulary``).
    units : array-like of int
        Ranked units of ``layer``; the first ``k`` are clamped.
    values : list
        Clamp values (numbers, one value per unit, or "on" / "off" with ``search``).
    chars : str
        The target class's characters.
    grammar : str or lark.Lark
        A bundled grammar name (compiled LALR) or a compiled LALR parser.
    held_out : list of str
        Texts for the cross-entropy.
    seeds : sequence of str, default=("(",)
        Non-empty start texts.
    k : int, default=10
        How many of ``units`` are clamped.
    n_chars, n_samples, layer, state, temperature : optional
        As in :func:`clamped_generation`.
    random_state, search, feature, vocabulary : optional
        As in :func:`clamped_generation`.

    Returns
    -------
    DataFrame
        One row for no clamp (``value`` "none") and one per value: ``value``,
        ``target_share`` with its 95% interval over samples (``share_low`` /
        ``share_high``), ``valid_prefix`` with its 95% Wilson interval (``valid_low`` /
        ``valid_high``), ``held_out_cross_entropy`` (nats per character,
        teacher-forced), ``k``, ``n_samples``.
    """
    if isinstance(grammar, str):
        from ..datasets import compile_grammar

        grammar = compile_grammar(grammar)
    if not isinstance(grammar, lark.Lark):
        raise InputError("grammar must be a bundled grammar name or a lark.Lark.")
    units = np.asarray(units)[:k]
    seeds = list(seeds)
    records = []
    wanted = frozenset(chars)
    for number, value in enumerate(list(values)):
        conditions, generated, runtime, per_seed = _run_conditions(
            lm,
            units,
            seeds=seeds,
            n_chars=n_chars,
            ks=[len(units)],
            n_random=0,
            value=value,
            layer=layer,
            state=state,
            temperature=temperature,
            random_state=random_state,
            n_jobs=None,
            vocabulary=vocabulary,
            n_samples=n_samples,
            search=search,
            feature=feature,
        )
        rows = [(0, None)] if number == 0 else []
        rows.append((1, value))
        for index, label in rows:
            texts = [
                seeds[i // per_seed] + runtime.decode(row)
                for i, row in enumerate(generated[index])
            ]
            share = [
                np.mean([c in wanted for c in t[len(seeds[i // per_seed]) :]])
                for i, t in enumerate(texts)
            ]
            valid = [is_valid_prefix(grammar, t) for t in texts]
            if label is None:
                loss = NeuronAblationScorer(
                    lm, [], metric="cross_entropy", vocabulary=vocabulary
                ).score(held_out)
            else:
                loss = NeuronAblationScorer(
                    lm,
                    units,
                    mode="clamp",
                    value=value,
                    search=search,
                    feature=feature,
                    layer=layer,
                    state=state,
                    metric="cross_entropy",
                    vocabulary=vocabulary,
                ).score(held_out)
            mean, low, high = _mean_interval(share)
            # a share of samples: Wilson's interval stays inside [0, 1]
            vmean, vlow, vhigh = _share_interval(valid)
            records.append(
                {
                    "value": "none" if label is None else describe_value(value),
                    "target_share": float(mean),
                    "share_low": float(low),
                    "share_high": float(high),
                    "valid_prefix": float(vmean),
                    "valid_low": float(vlow),
                    "valid_high": float(vhigh),
                    "held_out_cross_entropy": float(loss),
                    "k": len(units),
                    "n_samples": len(texts),
                    "generation": "free-running",
                }
            )
    return pd.DataFrame.from_records(records)
