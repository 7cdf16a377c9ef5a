"""Generation with clamped units, and how often a character class then appears.

Generation is *free-running*: the model reads its own samples, so a clamp changes
what it reads next (scoring, :class:`NeuronAblationScorer`, is teacher-forced: the
model reads the true text). Every generated sample has its own random stream
(``SeedSequence(seed).spawn``), the same stream for the same sample index in every
condition: conditions are compared sample by sample (common random numbers), and
samples differ from each other.
"""

from math import ceil
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed

from .._errors import InputError
from ..models._compiled import CompiledStepper
from ..models._compiled import supports as supports_compiled
from ..models._conditions import ConditionSet, step_conditions
from ..models._interventions import (
    check_units,
    condition_rows,
    random_summary,
    top_and_random_units,
)
from ..models._runtime import ModelRuntime
from ..models._sampling import check_generation_args, generate_texts, sample_classes
from ._values import describe_value, search_levels, state_range, unit_values

__all__ = [
    "check_generation_args",
    "clamped_generation",
    "count_class_in_generations",
    "generate_with_interventions",
]

#: samples per condition when ``n_samples`` is not given (all seeds together)
MIN_SAMPLES = 40


def _prepare(lm, seeds, vocabulary, n_chars, temperature):
    """The model's runtime and the input ids of every seed."""
    for seed in seeds:
        check_generation_args(seed, n_chars, temperature)
    runtime = ModelRuntime.for_model(lm, vocabulary)
    runtime.require_stack()
    return runtime, runtime.encode(list(seeds))


def _check_comparison_args(n_random, n_jobs) -> None:
    """Raise :class:`InputError` naming a bad argument of a top-k vs random-k run
    (values are checked by :func:`unit_values`)."""
    if not isinstance(n_random, Integral) or n_random < 0:
        raise InputError(f"n_random must be an int >= 0, got {n_random!r}.")
    if n_jobs is not None and (not isinstance(n_jobs, Integral) or n_jobs == 0):
        raise InputError(f"n_jobs must be a non-zero int or None, got {n_jobs!r}.")


def _ranked_units(runtime, layer, units, ks):
    """The layer index, the ranked units and the list of k, checked."""
    index = runtime.layer_index(layer)
    n_units = runtime.layer_units[index]
    ranked = check_units(units, n_units, runtime.layer_names[index])
    ks = [ks] if np.isscalar(ks) else list(ks)
    for k in ks:
        if not isinstance(k, Integral) or k < 1:
            raise InputError(f"k must be a positive int, got {k!r} in ks={ks}.")
        if k > min(n_units, len(ranked)):
            raise InputError(
                f"k={k} is larger than the {min(n_units, len(ranked))} units available."
            )
    return index, ranked, ks


def generate_with_interventions(
    lm,
    seed: str,
    n_chars: int,
    *,
    interventions=None,
    temperature: float = 1.0,
    random_state=None,
    n_samples: int | None = None,
    vocabulary=None,
):
    """Generate text while units are overwritten at every step (paper's Figure 4).

    The model reads ``seed``, then samples ``n_chars`` characters one at a time with
    skdni's NumPy recurrence; ``interventions`` apply at every step, the seed's
    included.

    Parameters
    ----------
    lm : CharLanguageModel or keras.Model
        A fitted language model (or a Keras model with ``vocabulary``).
    seed : str
        Non-empty start text.
    n_chars : int
        Characters to generate.
    interventions : Intervention or list of Intervention, optional
        ``"zero"``, ``"clamp"`` or ``"mean"`` interventions (an oracle pattern needs
        labels of text that does not exist yet).
    temperature : float, default=1.0
        Softmax temperature; 0 takes the most likely character.
    random_state : int, RandomState or None
        Seeds the sampling.
    n_samples : int, optional
        Generate that many texts at once (a batch) and return a list.
    vocabulary : dict or list, optional
        For a bare Keras model.

    Returns
    -------
    str or list of str
        ``seed`` followed by the generated characters (a list when ``n_samples`` is
        given).

    Examples
    --------
    >>> from skdni._backend import import_keras
    >>> keras = import_keras()
    >>> model = keras.Sequential([
    ...     keras.Input(shape=(None,), dtype="int32"),
    ...     keras.layers.Embedding(4, 3),
    ...     keras.layers.LSTM(6, return_sequences=True),
    ...     keras.layers.Dense(3, activation="softmax")])
    >>> from skdni.intervention import Intervention
    >>> clamp = Intervention(units=[0, 1], mode="clamp", values=1.0)
    >>> text = generate_with_interventions(model, "ab", 5, interventions=clamp,
    ...                                    vocabulary="abc", random_state=0)
    >>> len(text)
    7
    """
    runtime, (seed_ids,) = _prepare(lm, [seed], vocabulary, n_chars, temperature)
    texts = generate_texts(
        runtime,
        seed_ids,
        n_chars,
        1 if n_samples is None else n_samples,
        interventions,
        temperature,
        random_state,
    )
    texts = [seed + text for text in texts]
    return texts[0] if n_samples is None else texts


def _generate_block(
    runtime, seed_ids, n_chars, item, temperature, streams, compiled=True
):
    """Free-running generation from one seed under every condition at once.

    The batch holds ``n_conditions x len(streams)`` sequences, condition-major; the
    sample ``s`` of every condition draws its characters from stream ``s``. Each
    step runs compiled (:class:`~skdni.models._compiled.CompiledStepper`) when the
    model allows it, else (or with ``compiled=False``, the reference) through
    :func:`~skdni.models._conditions.step_conditions`; sampling stays in NumPy
    (float64) on the step's probabilities, so both paths draw the same characters
    unless a draw falls within float32 rounding (~1e-7) of a class boundary.
    Returns the generated output classes, shape (n_conditions, n_samples, n_chars).
    """
    stack = runtime.require_stack()
    n_cond, n = item.n_conditions, len(streams)
    generators = [np.random.default_rng(stream) for stream in streams]
    if compiled and supports_compiled(stack, [item]):
        stepper = CompiledStepper(stack, [item], n_cond, n)

        def step(ids):
            return stepper.step(ids)

    else:
        state = stack.initial_state(n_cond * n)

        def step(ids):
            nonlocal state
            probs, state = step_conditions(stack, ids, state, [item], n_cond)
            return probs

    probs = None
    for char_id in seed_ids:
        probs = step(np.full(n_cond * n, char_id, dtype=np.int32))
    generated = np.empty((n_cond * n, n_chars), dtype=np.int64)
    for t in range(n_chars):
        draws = None
        if temperature != 0:
            draws = np.tile([g.random() for g in generators], n_cond)
        classes = sample_classes(probs, temperature, None, draws)
        generated[:, t] = classes
        probs = step(runtime.class_ids[classes].astype(np.int32))
    return generated.reshape(n_cond, n, n_chars)


def _mean_interval(values, axis=-1):
    """Mean and its 95% normal interval (mean +- 1.96 standard errors) along
    ``axis``; NaN interval with fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    half = 1.96 * values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def _run_conditions(
    lm,
    units,
    *,
    seeds,
    n_chars,
    ks,
    n_random,
    value,
    layer,
    state,
    temperature,
    random_state,
    n_jobs,
    vocabulary,
    n_samples,
    search,
    feature,
    with_units=False,
):
    """Generate every (condition, seed, sample); the shared work of both helpers.

    Returns ``conditions`` (list of ``(k, kind, draw)``), ``generated`` (int array
    (n_conditions, n_seeds * n_samples, n_chars) of output classes, seed-major),
    the runtime and the number of samples per seed; with ``with_units`` also the
    units of every condition after the first (``(k, draw, units)`` of
    :func:`top_and_random_units`).
    """
    if isinstance(seeds, str) or not len(seeds):
        raise InputError("seeds must be a non-empty list of start texts.")
    if n_samples is None:
        n_samples = ceil(MIN_SAMPLES / len(seeds))
    if not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise InputError(f"n_samples must be a positive int, got {n_samples!r}.")
    _check_comparison_args(n_random, n_jobs)
    runtime, seeds_ids = _prepare(lm, seeds, vocabulary, n_chars, temperature)
    index, ranked, ks = _ranked_units(runtime, layer, units, ks)
    stack_layer = runtime.stack.layers[index]
    if state == "cell" and stack_layer.kind != "lstm":
        raise InputError(
            f"state='cell' needs an LSTM layer; {stack_layer.name!r} is a "
            f"{stack_layer.kind} layer."
        )
    n_units = runtime.layer_units[index]
    values = unit_values(
        value,
        n_units,
        levels=search_levels(search, feature) if isinstance(value, str) else None,
        bounds=state_range(stack_layer, state),
    )
    rng = check_random_state(random_state)
    # one stream per generated sample, drawn in the parent: the same texts for any
    # n_jobs, and the same stream for a sample index in every condition
    entropy = int(rng.randint(np.iinfo(np.int32).max))
    streams = np.random.SeedSequence(entropy).spawn(len(seeds) * n_samples)
    sets = top_and_random_units(ranked, ks, n_units, n_random, rng)
    conditions = [(0, "none", -1)] + [
        (k, "top" if draw < 0 else "random", draw) for k, draw, _ in sets
    ]
    mask = np.zeros((len(conditions), n_units), dtype=bool)
    for row, (_, _, chosen) in enumerate(sets, start=1):
        mask[row, chosen] = True
    item = ConditionSet(layer=index, state=state, mask=mask, offset=values)
    blocks = Parallel(n_jobs=n_jobs)(
        delayed(_generate_block)(
            runtime,
            seed_ids,
            n_chars,
            item,
            temperature,
            streams[i * n_samples : (i + 1) * n_samples],
        )
        for i, seed_ids in enumerate(seeds_ids)
    )
    result = conditions, np.concatenate(blocks, axis=1), runtime, n_samples
    return (*result, sets) if with_units else result


#: the arguments both public helpers pass on to :func:`_run_conditions` as given
_SHARED = (
    "n_chars",
    "n_random",
    "value",
    "layer",
    "state",
    "temperature",
    "random_state",
    "n_jobs",
    "vocabulary",
    "n_samples",
    "search",
    "feature",
)


def _shared(arguments: dict) -> dict:
    """The :data:`_SHARED` entries of a helper's ``locals()``."""
    return {name: arguments[name] for name in _SHARED}


def _class_test(chars):
    """``char -> bool`` of a class given as characters or a predicate."""
    if callable(chars):
        return chars
    if isinstance(chars, str | set | frozenset | list | tuple):
        members = frozenset(chars)
        if members and all(isinstance(c, str) and len(c) == 1 for c in members):
            return members.__contains__
    raise InputError(
        f"chars must be a non-empty string (or set) of single characters, or a "
        f"predicate char -> bool; got {chars!r}."
    )


def _class_codes(runtime, classify):
    """The class label of every output class of the model."""
    return [
        str(classify(char)) if char is not None else "\ufffd"
        for char in runtime.output_chars
    ]


def _shares(generated, codes, label):
    """Per (condition, sample) share of generated characters in class ``label``."""
    hits = np.isin(generated, [i for i, c in enumerate(codes) if c == label])
    if generated.shape[-1] == 0:
        return np.full(generated.shape[:2], np.nan)
    return hits.mean(axis=-1)


def _texts(runtime, seeds, generated, n_samples):
    """Seed + generated text of every sample of one condition, seed-major."""
    return [
        seeds[i // n_samples] + runtime.decode(row) for i, row in enumerate(generated)
    ]


def count_class_in_generations(
    lm,
    units,
    chars,
    *,
    seed: str,
    n_chars: int = 200,
    k=(1, 5, 10),
    layer=0,
    state: str = "hidden",
    value=1.0,
    n_random: int = 10,
    n_samples: int = MIN_SAMPLES,
    temperature: float = 1.0,
    random_state=None,
    n_jobs=None,
    vocabulary=None,
    search=None,
    feature=None,
) -> pd.DataFrame:
    """How often a character class appears in text generated with units clamped.

    One seed and one class of :func:`clamped_generation` (which it runs): for each
    ``k``, free-running generation with the top-``k`` ``units`` clamped to ``value``
    versus ``n_random`` draws of ``k`` other units — the paper's "setting digit units
    to 1 produces more digits" (Figure 4) as numbers. Each of the ``n_samples``
    texts has its own random stream, the same one in every condition.

    Parameters
    ----------
    lm : CharLanguageModel or keras.Model
        The model to generate with (a bare Keras model needs ``vocabulary``).
    units : array-like of int
        Units of ``layer``, best first (e.g. ``search.top_units_["digit"]``).
    chars : str, set of str or callable
        The character class: the characters, or a predicate ``char -> bool``.
    seed : str
        Start text.
    n_chars : int, default=200
        Characters generated per sample.
    k : int or tuple of int, default=(1, 5, 10)
        Numbers of top units clamped, one condition each.
    layer : int or str, default=0
        Recurrent layer of the units (see :class:`Intervention`).
    state : str, default="hidden"
        The state clamped: ``"hidden"``, ``"cell"`` or a gate (see
        :class:`Intervention`).
    value : float, array-like of shape (n_units,), "on" or "off", default=1.0
        The clamp value: a number (1.0 is the paper's, blind to a unit's sign), one
        value per unit of the layer, or each unit's own mean activation where the
        feature is on / off (``search`` and ``feature``; sign-aware).
    n_random : int, default=10
        Random unit draws per k (from the units outside the top-k).
    n_samples : int, default=40
        Texts generated per condition.
    temperature : float, default=1.0
        Sampling temperature (1: the model's own distribution).
    random_state : int, RandomState or None
        Seeds the random unit draws and the sampling streams.
    n_jobs : int, optional
        Conditions in parallel (the result does not depend on it).
    vocabulary : dict or list, optional
        For a bare Keras model.
    search : fitted NeuronProbeSearch, optional
        Where ``"on"`` / ``"off"`` levels come from.
    feature : str, optional
        The feature of ``search`` whose levels give ``"on"`` / ``"off"``.

    Returns
    -------
    DataFrame
        One row per k: ``k``, ``baseline_rate`` (no clamp), ``top_rate`` with its
        95% sampling interval ``top_low`` / ``top_high`` (over samples),
        ``random_mean``, ``random_std``, ``random_low``, ``random_high`` (2.5 / 97.5
        percentiles over draws), ``random_min`` / ``random_max`` (lowest / highest
        draw), ``top_minus_random`` with its paired 95% interval
        (``diff_low`` / ``diff_high``, over samples), ``vs_none`` = top - no
        clamp with its paired 95% interval (``vs_none_low`` / ``vs_none_high``,
        over samples), ``n_samples``, ``value``,
        ``top_example`` and ``random_example`` (one generated text each, without
        the seed).
    """
    in_class = _class_test(chars)
    conditions, generated, runtime, n_samples = _run_conditions(
        lm, units, seeds=[seed], ks=k, **_shared(locals())
    )
    codes = _class_codes(runtime, lambda c: "in" if in_class(c) else "out")
    shares = _shares(generated, codes, "in")  # (n_conditions, n_samples)
    records = []
    tasks = [(kk, draw) for kk, _, draw in conditions[1:]]
    for kk in [c[0] for c in conditions if c[1] == "top"]:
        top, draws = condition_rows(tasks, kk)
        top_rate, top_low, top_high = _mean_interval(shares[top])
        if draws:
            diff, diff_low, diff_high = _mean_interval(
                shares[top] - shares[draws].mean(axis=0)
            )
        else:
            diff = diff_low = diff_high = np.nan
        summary = random_summary(shares[draws].mean(axis=1))
        vs_none, vs_none_low, vs_none_high = _mean_interval(shares[top] - shares[0])
        records.append(
            {
                "k": kk,
                "baseline_rate": float(shares[0].mean()),
                "top_rate": float(top_rate),
                "top_low": float(top_low),
                "top_high": float(top_high),
                "random_mean": summary["random_mean"],
                "random_std": summary["random_std"],
                "random_low": summary["random_low"],
                "random_high": summary["random_high"],
                "random_min": summary["random_min"],
                "random_max": summary["random_max"],
                "top_minus_random": float(diff),
                "diff_low": float(diff_low),
                "diff_high": float(diff_high),
                "vs_none": float(vs_none),
                "vs_none_low": float(vs_none_low),
                "vs_none_high": float(vs_none_high),
                "n_samples": n_samples,
                "value": describe_value(value),
                "top_example": runtime.decode(generated[top, 0]),
                "random_example": runtime.decode(generated[draws[0], 0])
                if draws
                else None,
            }
        )
    return pd.DataFrame.from_records(records)


def clamped_generation(
    lm,
    units,
    *,
    seeds,
    n_chars: int = 100,
    ks=(1, 5, 10),
    n_random: int = 10,
    value=1.0,
    class_map=None,
    layer=0,
    state: str = "hidden",
    temperature: float = 1.0,
    random_state=None,
    n_jobs=None,
    vocabulary=None,
    n_samples: int | None = None,
    search=None,
    feature=None,
):
    """Character-class shares of text generated with top-k / random-k units clamped.

    The paper's Figure 4 for every character class at once: from each seed, generate
    (free-running) ``n_samples`` texts of ``n_chars`` characters with no clamp, with
    the top-``k`` ``units`` clamped to ``value``, and with ``n_random`` draws of
    ``k`` other units clamped; then count each class (default :func:`char_class`:
    digit, paren, operator, letter, space) among the generated characters of each
    sample. Every sample has its own random stream (``SeedSequence.spawn``), the
    same for that sample in every condition, so conditions are compared sample by
    sample; all conditions run as one batch through the NumPy recurrence.

    Parameters
    ----------
    lm : CharLanguageModel or keras.Model
        The model to generate with (a bare Keras model needs ``vocabulary``).
    units : array-like of int
        Units of ``layer``, best first.
    seeds : list of str
        Non-empty start texts.
    n_chars : int, default=100
        Characters generated per sample.
    ks : int or tuple of int, default=(1, 5, 10)
        Numbers of top units clamped, one condition each.
    n_random : int, default=10
        Random draws of k units per k.
    value : float, array-like of shape (n_units,), "on" or "off", default=1.0
        The clamp value (see :func:`count_class_in_generations`): 1.0 is the
        paper's literal value; ``"on"`` / ``"off"`` is each unit's own level from
        ``search`` (sign-aware). NaN, infinite and out-of-range values (outside
        [-1, 1] for a tanh hidden state) are errors.
    class_map : dict or callable, optional
        Character -> class (a dict leaves unlisted characters in their own class).
    layer, state, temperature, vocabulary :
        As in :func:`count_class_in_generations`.
    random_state : int, RandomState or None
        Seeds the unit draws and the sampling streams.
    n_jobs : int, optional
        Seeds in parallel (the result does not depend on it).
    n_samples : int, optional
        Samples per seed; default: enough for 40 samples over all seeds.
    search, feature : optional
        Where ``"on"`` / ``"off"`` levels come from.

    Returns
    -------
    frame : DataFrame
        One row per (k, units, class): ``k`` (0 for no clamp), ``units``
        ("none" | "top" | "random"), ``class``, ``rate`` (mean per-sample share of
        generated characters; for "random" also averaged over draws), ``rate_low``
        / ``rate_high`` (its 95% sampling interval over samples), ``rate_std`` (std
        over random draws, NaN otherwise), ``vs_none`` with ``vs_none_low`` /
        ``vs_none_high`` (paired difference to no clamp, sample by sample),
        ``n_samples``, ``value`` and ``generation`` ("free-running").
    samples : dict of str to list of str
        Generated texts (with their seeds; seed-major) for "none", "top-k" and
        "random-k" (the first draw).

    Examples
    --------
    >>> from skdni._backend import import_keras
    >>> keras = import_keras()
    >>> model = keras.Sequential([
    ...     keras.Input(shape=(None,), dtype="int32"),
    ...     keras.layers.Embedding(4, 3),
    ...     keras.layers.LSTM(6, return_sequences=True),
    ...     keras.layers.Dense(3, activation="softmax")])
    >>> frame, samples = clamped_generation(
    ...     model, [0, 1, 2], seeds=["a"], n_chars=5, ks=[1], n_random=2,
    ...     n_samples=3, vocabulary="abc", random_state=0)
    >>> len(samples["none"]), len(samples["top-1"][0])
    (3, 6)
    """
    from ._scorer import char_class

    mapping = class_map if class_map is not None else char_class
    classify = mapping if callable(mapping) else (lambda c: mapping.get(c, c))
    conditions, generated, runtime, n_samples = _run_conditions(
        lm, units, seeds=seeds, ks=ks, **_shared(locals())
    )
    codes = _class_codes(runtime, classify)
    observed = sorted({codes[c] for c in np.unique(generated)})
    ks = [c[0] for c in conditions if c[1] == "top"]
    records, samples = [], {}
    groups = [(0, "none")] + [(k, kind) for k in ks for kind in ("top", "random")]
    for name in observed:
        shares = _shares(generated, codes, name)
        for k, kind in groups:
            picked = [i for i, c in enumerate(conditions) if c[:2] == (k, kind)]
            if not picked:
                continue
            per_sample = shares[picked].mean(axis=0)
            rate, low, high = _mean_interval(per_sample)
            diff, diff_low, diff_high = _mean_interval(per_sample - shares[0])
            by_draw = shares[picked].mean(axis=1)
            records.append(
                {
                    "k": k,
                    "units": kind,
                    "class": name,
                    "rate": float(rate),
                    # a share lies in [0, 1]; the normal interval may not
                    "rate_low": float(max(low, 0.0)),
                    "rate_high": float(min(high, 1.0)),
                    "rate_std": float(by_draw.std(ddof=1))
                    if len(picked) > 1
                    else np.nan,
                    "vs_none": float(diff),
                    "vs_none_low": float(diff_low),
                    "vs_none_high": float(diff_high),
                    "n_samples": generated.shape[1],
                    "value": describe_value(value),
                    "generation": "free-running",
                }
            )
    for k, kind in groups:
        picked = [i for i, c in enumerate(conditions) if c[:2] == (k, kind)]
        if picked:
            label = "none" if kind == "none" else f"{kind}-{k}"
            samples[label] = _texts(runtime, seeds, generated[picked[0]], n_samples)
    return pd.DataFrame.from_records(records), samples
