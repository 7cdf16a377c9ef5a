"""Sampling characters from a character model, one step at a time.

Shared by :meth:`~skdni.models.CharLanguageModel.generate` and
:mod:`skdni.intervention` (generation with clamped units), so ``models`` needs no
import of ``intervention``.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._errors import InputError

__all__ = ["check_generation_args", "generate_texts", "sample_classes"]


def sample_classes(probs, temperature, rng, draws=None):
    """One output class per row of ``probs`` (temperature 0: argmax).

    ``draws``: one uniform number in [0, 1) per row, instead of drawing them from
    ``rng`` (generation with one random stream per sample).

    Examples
    --------
    >>> sample_classes(np.array([[0.1, 0.9], [0.8, 0.2]]), 0, None).tolist()
    [1, 0]
    """
    if temperature == 0:
        return np.argmax(probs, axis=1)
    logits = np.log(np.maximum(probs.astype(np.float64), 1e-30)) / temperature
    scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(scaled / scaled.sum(axis=1, keepdims=True), axis=1)
    if draws is None:
        draws = rng.random_sample(len(probs))
    draws = np.asarray(draws, dtype=np.float64).reshape(-1, 1)
    return np.minimum((cumulative < draws).sum(axis=1), probs.shape[1] - 1)


def check_generation_args(seed, n_chars, temperature) -> None:
    """Raise :class:`~skdni.InputError` naming the bad argument of a generation
    call."""
    if not isinstance(seed, str) or not seed:
        raise InputError(
            f"seed must be a non-empty string (the model reads it first), got {seed!r}."
        )
    if not isinstance(n_chars, Integral) or n_chars < 0:
        raise InputError(f"n_chars must be a non-negative int, got {n_chars!r}.")
    if not isinstance(temperature, Real) or not 0 <= temperature < np.inf:
        raise InputError(
            f"temperature must be a number >= 0 (finite), got {temperature!r}."
        )


def generate_texts(
    runtime,
    seed_ids,
    n_chars,
    n_samples,
    interventions,
    temperature,
    random_state,
) -> list[str]:
    """``n_samples`` continuations of one seed through the runtime's NumPy recurrence.

    The model reads ``seed_ids``, then each sampled character in turn;
    ``interventions`` apply at every step, the seed's included. Returns the generated
    characters only (without the seed).
    """
    listed = (
        interventions if isinstance(interventions, list | tuple) else [interventions]
    )
    if any(item is not None and item.mode == "oracle" for item in listed):
        raise InputError(
            "mode='oracle' needs labels per character: not for generation."
        )
    rng = check_random_state(random_state)
    state = runtime.initial_state(n_samples)
    probs = None
    for char_id in seed_ids:
        ids = np.full(n_samples, char_id, dtype=np.int32)
        probs, state = runtime.step(ids, state, interventions)
    generated = np.empty((n_samples, n_chars), dtype=np.int64)
    for t in range(n_chars):
        classes = sample_classes(probs, temperature, rng)
        generated[:, t] = classes
        feed = runtime.class_ids[classes].astype(np.int32)
        probs, state = runtime.step(feed, state, interventions)
    return [runtime.decode(row) for row in generated]
