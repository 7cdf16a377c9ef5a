"""Generation with clamped units, and how often a character class then appears."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed

from .._errors import InputError
from ..models._interventions import Intervention, check_values, top_and_random_units
from ..models._runtime import ModelRuntime
from ..models._sampling import check_generation_args, generate_texts

__all__ = [
    "check_generation_args",
    "clamped_generation",
    "count_class_in_generations",
    "generate_with_interventions",
]


def _prepare(lm, seeds, vocabulary, n_chars, temperature):
    """The model's runtime and the input ids of every seed."""
    for seed in seeds:
        check_generation_args(seed, n_chars, temperature)
    runtime = ModelRuntime.for_model(lm, vocabulary)
    runtime.require_stack()
    return runtime, runtime.encode(list(seeds))


def _check_comparison_args(value, n_random, n_jobs) -> None:
    """Raise :class:`InputError` naming a bad argument of a top-k vs random-k run."""
    check_values(value, "clamp", "value")
    if not isinstance(n_random, Integral) or n_random < 0:
        raise InputError(f"n_random must be an int >= 0, got {n_random!r}.")
    if n_jobs is not None and (not isinstance(n_jobs, Integral) or n_jobs == 0):
        raise InputError(f"n_jobs must be a non-zero int or None, got {n_jobs!r}.")


def _ranked_units(runtime, layer, units, ks):
    """The layer index, the ranked units and the list of k, checked."""
    index = runtime.layer_index(layer)
    n_units = runtime.layer_units[index]
    ranked = np.asarray(units, dtype=np.int64).reshape(-1)
    bad = ranked[(ranked < 0) | (ranked >= n_units)]
    if bad.size:
        raise InputError(
            f"Unit {int(bad[0])} is out of range for layer "
            f"{runtime.layer_names[index]!r} with {n_units} units "
            f"(valid: 0..{n_units - 1})."
        )
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


def _class_rate(in_class, *generate_args):
    """One parallel task: the share of generated characters in the class (over the
    ``n_samples`` texts of :func:`generate_texts`) and the first generated text."""
    texts = generate_texts(*generate_args)
    n_generated = sum(map(len, texts))
    hits = sum(in_class(c) for text in texts for c in text)
    return hits / max(n_generated, 1), texts[0]


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
    value: float = 1.0,
    n_random: int = 10,
    n_samples: int = 4,
    temperature: float = 1.0,
    random_state=None,
    n_jobs=None,
    vocabulary=None,
) -> pd.DataFrame:
    """How often a character class appears in text generated with units clamped.

    For each ``k``: generation with the top-``k`` ``units`` clamped to ``value`` versus
    ``n_random`` draws of ``k`` other units — the paper's "setting digit units to 1
    produces more digits" (Figure 4) as numbers. Every condition samples with the same
    sampling seed (common random numbers), so differences come from the clamp.

    Parameters
    ----------
    lm : CharLanguageModel or keras.Model
    units : array-like of int
        Units of ``layer``, best first (e.g. ``search.top_units_["digit"]``).
    chars : str, set of str or callable
        The character class: the characters, or a predicate ``char -> bool``.
    seed : str
        Start text.
    n_chars : int, default=200
        Characters generated per sample.
    k : int or tuple of int, default=(1, 5, 10)
    layer, state : see :class:`Intervention`
    value : float, default=1.0
        The clamp value.
    n_random : int, default=10
        Random unit draws per k (from the units outside the top-k).
    n_samples : int, default=4
        Texts generated per condition (one batch).
    temperature : float, default=1.0
    random_state : int, RandomState or None
        Seeds the random unit draws and the sampling.
    n_jobs : int, optional
        Conditions in parallel.
    vocabulary : dict or list, optional
        For a bare Keras model.

    Returns
    -------
    DataFrame
        One row per k: ``k``, ``baseline_rate`` (no clamp), ``top_rate``,
        ``random_mean``, ``random_std``, ``random_low``, ``random_high`` (2.5 / 97.5
        percentiles over draws), ``top_example`` and ``random_example`` (one generated
        text each, without the seed).
    """
    runtime, (seed_ids,) = _prepare(lm, [seed], vocabulary, n_chars, temperature)
    index, ranked, ks = _ranked_units(runtime, layer, units, k)
    in_class = chars if callable(chars) else frozenset(chars).__contains__
    _check_comparison_args(value, n_random, n_jobs)
    rng = check_random_state(random_state)
    sampling_seed = int(rng.randint(np.iinfo(np.int32).max))
    n_units = runtime.layer_units[index]
    conditions = [(0, -1, None)]
    conditions += top_and_random_units(ranked, ks, n_units, n_random, rng)

    def interventions(chosen):
        if chosen is None:
            return None
        return Intervention(
            layer=index, units=chosen, state=state, mode="clamp", values=value
        )

    results = Parallel(n_jobs=n_jobs)(
        delayed(_class_rate)(
            in_class,
            runtime,
            seed_ids,
            n_chars,
            n_samples,
            interventions(chosen),
            temperature,
            sampling_seed,
        )
        for _, _, chosen in conditions
    )
    baseline = results[0][0]
    tops, by_k = {}, {kk: [] for kk in ks}
    for (kk, draw, _), result in zip(conditions[1:], results[1:], strict=True):
        if draw < 0:
            tops[kk] = result
        else:
            by_k[kk].append(result)
    records = []
    for kk in ks:
        top, draws = tops[kk], by_k[kk]
        rates = np.array([r[0] for r in draws])
        records.append(
            {
                "k": kk,
                "baseline_rate": baseline,
                "top_rate": top[0],
                "random_mean": rates.mean() if rates.size else np.nan,
                "random_std": rates.std(ddof=1) if rates.size > 1 else np.nan,
                "random_low": np.percentile(rates, 2.5) if rates.size else np.nan,
                "random_high": np.percentile(rates, 97.5) if rates.size else np.nan,
                "top_example": top[1],
                "random_example": draws[0][1] if draws else None,
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
    value: float = 1.0,
    class_map=None,
    layer=0,
    state: str = "hidden",
    temperature: float = 1.0,
    random_state=None,
    n_jobs=None,
    vocabulary=None,
):
    """Character-class shares of text generated with top-k / random-k units clamped.

    The paper's Figure 4 for every character class at once: from each seed, generate
    ``n_chars`` characters with no clamp, with the top-``k`` ``units`` clamped to
    ``value``, and with ``n_random`` draws of ``k`` other units clamped, all with the
    same sampling seed; then count each class (default :func:`char_class`: digit,
    paren, operator, letter, space) among the generated characters.

    Parameters
    ----------
    lm : CharLanguageModel or keras.Model
    units : array-like of int
        Units of ``layer``, best first.
    seeds : list of str
        Non-empty start texts (one generation per seed and condition).
    n_chars, ks, n_random, value, layer, state, temperature, random_state, n_jobs,
    vocabulary :
        As in :func:`count_class_in_generations`.
    class_map : dict or callable, optional
        Character -> class (a dict leaves unlisted characters in their own class).

    Returns
    -------
    frame : DataFrame
        One row per (k, units, class): ``k`` (0 for no clamp), ``units``
        ("none" | "top" | "random"), ``class``, ``rate`` (share of generated
        characters; the mean over draws for "random") and ``rate_std`` (std over
        draws, NaN otherwise).
    samples : dict of str to list of str
        Generated texts (with their seeds) for "none", "top-k" and "random-k" (the
        first draw).
    """
    from ._scorer import char_class

    if isinstance(seeds, str) or not len(seeds):
        raise InputError("seeds must be a non-empty list of start texts.")
    mapping = class_map if class_map is not None else char_class
    classify = mapping if callable(mapping) else (lambda c: mapping.get(c, c))
    runtime, seeds_ids = _prepare(lm, seeds, vocabulary, n_chars, temperature)
    index, ranked, ks = _ranked_units(runtime, layer, units, ks)
    _check_comparison_args(value, n_random, n_jobs)
    rng = check_random_state(random_state)
    sampling_seed = int(rng.randint(np.iinfo(np.int32).max))
    n_units = runtime.layer_units[index]
    conditions = [(0, "none", -1, None)] + [
        (k, "top" if draw < 0 else "random", draw, chosen)
        for k, draw, chosen in top_and_random_units(ranked, ks, n_units, n_random, rng)
    ]

    def run(chosen):
        clamp = None
        if chosen is not None:
            clamp = Intervention(
                layer=index, units=chosen, state=state, mode="clamp", values=value
            )
        return [
            generate_texts(
                runtime,
                seed_ids,
                n_chars,
                1,
                clamp,
                temperature,
                sampling_seed,
            )[0]
            for seed_ids in seeds_ids
        ]

    texts = Parallel(n_jobs=n_jobs)(delayed(run)(c[3]) for c in conditions)
    shares = []
    for generated in texts:
        chars = "".join(generated)
        counts = pd.Series([classify(c) for c in chars], dtype=object).value_counts()
        shares.append(counts / max(len(chars), 1))
    classes = sorted({str(c) for s in shares for c in s.index})
    records, samples = [], {}
    groups = [(0, "none")] + [(k, kind) for k in ks for kind in ("top", "random")]
    for k, kind in groups:
        picked = [i for i, c in enumerate(conditions) if c[0] == k and c[1] == kind]
        if not picked:
            continue
        table = pd.DataFrame([shares[i] for i in picked]).fillna(0.0)
        table.columns = [str(c) for c in table.columns]
        for name in classes:
            column = table[name] if name in table else pd.Series([0.0] * len(picked))
            records.append(
                {
                    "k": k,
                    "units": kind,
                    "class": name,
                    "rate": float(column.mean()),
                    "rate_std": float(column.std(ddof=1))
                    if len(picked) > 1
                    else np.nan,
                }
            )
        label = "none" if kind == "none" else f"{kind}-{k}"
        samples[label] = [s + t for s, t in zip(seeds, texts[picked[0]], strict=True)]
    return pd.DataFrame.from_records(records), samples
