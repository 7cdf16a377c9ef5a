"""InterchangeScorer: do the units carry the *value* the model uses?

An interchange intervention runs a source text, copies the chosen units' states at
one position into the run of a base text at an aligned position, and lets the base
run continue. If the units carry what the model uses (say, the nesting depth), the
model's next prediction should follow the *source* (the source's depth digit), not
the base. Unlike ablation, this checks that the units hold the variable, not merely
that removing them hurts. skdni's NumPy recurrence makes this possible for RNNs
without teacher-forcing tricks; every condition (top-k, random-k draws, all units)
runs in one batched recurrence.
"""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from .._compat import Interval, StrOptions
from .._errors import InputError
from .._texts import check_texts
from ..models._compiled import scan_probs
from ..models._compiled import supports as supports_compiled
from ..models._conditions import ConditionSet, scan_conditions
from ..models._interventions import (
    condition_rows,
    random_summary,
    top_and_random_units,
)
from ..models._keras_inspect import clone_sharing
from ..models._runtime import ModelRuntime

__all__ = ["InterchangeScorer"]


def _condition_probs(stack, ids, lengths, item, n_conditions, compiled=True):
    """``(t, probs)`` of every step, probs of shape (n_conditions, n_texts, n_vocab):
    the compiled scan (float32) when it supports the site, else the NumPy one."""
    if compiled and supports_compiled(stack, [item]):
        for start, probs in scan_probs(stack, ids, lengths, [item], n_conditions):
            for offset, step in enumerate(probs):
                yield start + offset, step
        return
    for t, h in scan_conditions(stack, ids, lengths, [item], n_conditions):
        yield t, stack._output(h)


def _share_interval(hits):
    """Share of True and its 95% Wilson interval."""
    hits = np.asarray(hits, dtype=bool)
    n = hits.size
    if n == 0:
        return np.nan, np.nan, np.nan
    p, z = hits.mean(), 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # at p = 0 or 1 one end equals p up to rounding: keep p inside, ends in [0, 1]
    low, high = max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))
    return float(p), float(low), float(high)


class InterchangeScorer(BaseEstimator):
    """Interchange interventions: patch units from a source run into a base run.

    For every case ``i``: run ``source_texts[i]`` and read the units' states after
    character ``source_positions[i]``; run ``base_texts[i]``, overwrite the same units
    with those values after character ``base_positions[i]`` (that step only), and
    continue. The case *follows the source* when the model's prediction of the next
    character (the most likely of ``candidates``) is in ``targets[i]`` (the
    counterfactual next character, or a string of characters for a class).
    :meth:`evaluate` compares the top-k units (for every k), ``n_random`` random
    draws of k other units and all units of the layer.

    Parameters
    ----------
    model : CharLanguageModel or keras.Model
        The model to patch (a bare Keras model needs ``vocabulary``).
    units : array-like of int, default=None
        Units of ``layer``, best first; or ``search`` + ``feature``.
    search : fitted NeuronProbeSearch, default=None
        Units are ``search.top_units_[feature]`` (best first).
    feature : str, default=None
        The feature of ``search`` whose top units are patched.
    k : int or list of int, default=None
        Top-k sizes (``None``: all given units).
    layer : None, int or str, default=None
        Recurrent layer (``None``: the first).
    state : {"hidden", "cell"}, default="hidden"
        ``"cell"`` patches an LSTM's cell state, which shapes ``h`` from the next
        step on: patch one character earlier than the prediction you score.
    n_random : int, default=10
        Random draws of k units per k.
    random_state : int, RandomState or None
        Seeds the random draws.
    candidates : str, default=None
        The characters the prediction is taken among (e.g. ``"01234"``: "the
        predicted digit"); ``None``: every character.
    vocabulary : dict or list, default=None
        For a bare Keras model.
    batch_size : int, default=64
        Base texts per batch (times the number of conditions).

    Examples
    --------
    >>> from skdni._backend import import_keras
    >>> keras = import_keras()
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([
    ...     keras.Input(shape=(None,), dtype="int32"),
    ...     keras.layers.Embedding(4, 3),
    ...     keras.layers.LSTM(6, return_sequences=True),
    ...     keras.layers.Dense(3, activation="softmax")])
    >>> scorer = InterchangeScorer(model, [0, 1, 2], k=[1, 3], n_random=2,
    ...                            vocabulary="abc", random_state=0)
    >>> frame = scorer.evaluate(["abca", "cab"], ["bbca", "aac"], [1, 0], [2, 1],
    ...                         ["a", "c"])
    >>> frame[["k", "top", "all"]].shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        "model": "no_validation",
        "units": [None, "array-like"],
        "search": "no_validation",
        "feature": [None, str],
        "k": [None, Interval(Integral, 0, None, closed="left"), list, tuple],
        "layer": [None, Integral, str],
        "state": [StrOptions({"hidden", "cell"})],
        "n_random": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "candidates": [None, str],
        "vocabulary": [None, dict, list, str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        model=None,
        units=None,
        *,
        search=None,
        feature=None,
        k=None,
        layer=None,
        state="hidden",
        n_random=10,
        random_state=None,
        candidates=None,
        vocabulary=None,
        batch_size=64,
    ):
        self.model = model
        self.units = units
        self.search = search
        self.feature = feature
        self.k = k
        self.layer = layer
        self.state = state
        self.n_random = n_random
        self.random_state = random_state
        self.candidates = candidates
        self.vocabulary = vocabulary
        self.batch_size = batch_size

    def __sklearn_clone__(self):
        return clone_sharing(self, ("model", "search"))

    def _ranked(self, runtime, layer):
        from ._scorer import NeuronAblationScorer

        # the ablation scorer's checks of units / search / k, shared
        helper = NeuronAblationScorer(
            self.model, self.units, search=self.search, feature=self.feature, k=self.k
        )
        helper.state = self.state
        n_units, name = runtime.layer_units[layer], runtime.layer_names[layer]
        ranked = helper._ranked_units(n_units, name)
        return ranked, helper._ks(ranked, n_units, name)

    @staticmethod
    def _positions(positions, texts, what):
        positions = np.asarray(positions)
        if positions.shape != (len(texts),) or not np.issubdtype(
            positions.dtype, np.integer
        ):
            raise InputError(
                f"{what} must be one int per text ({len(texts)}), got shape "
                f"{positions.shape} of {positions.dtype}."
            )
        for i, (pos, text) in enumerate(zip(positions, texts, strict=True)):
            if not 0 <= pos < len(text):
                raise InputError(
                    f"{what}[{i}] = {int(pos)} is outside text {i} "
                    f"({len(text)} characters)."
                )
        return positions.astype(np.int64)

    def _target_mask(self, runtime, targets, n_cases):
        chars = runtime.output_chars
        if len(targets) != n_cases:
            raise InputError(
                f"targets has {len(targets)} entries for {n_cases} cases: one per case."
            )
        mask = np.zeros((n_cases, len(chars)), dtype=bool)
        for i, target in enumerate(targets):
            if not isinstance(target, str) or not target:
                raise InputError(
                    f"targets[{i}] must be a character (or a string of characters for "
                    f"a class), got {target!r}."
                )
            for char in target:
                if char not in chars:
                    raise InputError(
                        f"targets[{i}] has {char!r}, which the model never predicts."
                    )
                mask[i, chars.index(char)] = True
        allowed = np.ones(len(chars), dtype=bool)
        if self.candidates is not None:
            allowed = np.array([c is not None and c in self.candidates for c in chars])
            if not allowed.any():
                raise InputError(
                    f"candidates={self.candidates!r} has no character of the model."
                )
        return mask, allowed

    def evaluate(
        self, base_texts, source_texts, base_positions, source_positions, targets
    ) -> pd.DataFrame:
        """Share of cases whose prediction follows the source, per unit set.

        Parameters
        ----------
        base_texts, source_texts : list of str
            One base and one source text per case.
        base_positions, source_positions : array-like of int
            The character after which the units are patched (base) and read
            (source); the prediction scored is the base's next character after
            ``base_positions[i]``.
        targets : list of str
            The counterfactual next character of each case (or several characters:
            any of them counts).

        Returns
        -------
        DataFrame
            One row per k: ``k``, ``baseline`` (share following the source with no
            patch), ``top`` with its 95% Wilson interval ``top_low`` / ``top_high``,
            ``random_mean``, ``random_low`` / ``random_high`` (2.5 / 97.5
            percentiles over draws), ``random_min`` / ``random_max`` (lowest /
            highest draw), ``all`` (every unit of the layer patched),
            the specificity ``off_target_top`` / ``off_target_random`` /
            ``off_target_all`` (mean change in cross-entropy of the base's true
            next characters at every *other* position, nats: a unit set that
            changes everything is not specific), ``n_cases``, ``state``,
            ``layer``, ``feature``, ``scoring`` ("teacher-forced").
        """
        self._validate_params()
        base_texts = check_texts(base_texts)
        source_texts = check_texts(source_texts)
        if len(base_texts) != len(source_texts):
            raise InputError(
                f"{len(base_texts)} base texts but {len(source_texts)} source texts: "
                "one of each per case."
            )
        runtime = ModelRuntime.for_model(self.model, self.vocabulary)
        stack = runtime.require_stack()
        layer = runtime.layer_index(self.layer)
        if self.state == "cell" and runtime.layer_kinds[layer] != "lstm":
            raise InputError(
                f"state='cell' needs an LSTM layer; {runtime.layer_names[layer]!r} is "
                f"a {runtime.layer_kinds[layer]} layer."
            )
        ranked, ks = self._ranked(runtime, layer)
        base_pos = self._positions(base_positions, base_texts, "base_positions")
        source_pos = self._positions(source_positions, source_texts, "source_positions")
        target_mask, allowed = self._target_mask(
            runtime, list(targets), len(base_texts)
        )
        n_units = runtime.layer_units[layer]
        source_states = self._source_states(runtime, layer, source_texts, source_pos)
        rng = check_random_state(self.random_state)
        tasks = top_and_random_units(ranked, ks, n_units, self.n_random, rng)
        masks = np.zeros((len(tasks) + 2, n_units), dtype=bool)
        for row, (_, _, units) in enumerate(tasks, start=1):
            masks[row, units] = True
        masks[-1] = True  # all units
        follows, loss = self._run(
            runtime,
            stack,
            layer,
            base_texts,
            base_pos,
            source_states,
            masks,
            target_mask,
            allowed,
        )
        off_target = loss - loss[0]
        records = []
        for k in ks:
            top, draws = condition_rows(tasks, k)
            share, low, high = _share_interval(follows[top])
            summary = random_summary(follows[draws].mean(axis=1))
            records.append(
                {
                    "k": k,
                    "baseline": float(follows[0].mean()),
                    "top": share,
                    "top_low": low,
                    "top_high": high,
                    "random_mean": summary["random_mean"],
                    "random_std": summary["random_std"],
                    "random_low": summary["random_low"],
                    "random_high": summary["random_high"],
                    "random_min": summary["random_min"],
                    "random_max": summary["random_max"],
                    "all": float(follows[-1].mean()),
                    "off_target_top": float(off_target[top]),
                    "off_target_random": float(off_target[draws].mean())
                    if draws
                    else np.nan,
                    "off_target_all": float(off_target[-1]),
                    "n_cases": len(base_texts),
                    "state": self.state,
                    "layer": runtime.layer_names[layer],
                    "feature": self.feature,
                    "scoring": "teacher-forced",
                }
            )
        return pd.DataFrame.from_records(records)

    def _source_states(self, runtime, layer, texts, positions):
        """The layer's state after character ``positions[i]`` of source text i."""
        ids_list = runtime.encode(texts)
        out = np.empty((len(texts), runtime.layer_units[layer]))
        for chunk, ids, lengths, _ in runtime.batches(ids_list, self.batch_size):
            run = runtime.run(
                ids,
                lengths,
                return_states=(self.state,),
                layers=[layer],
                return_probs=False,
            )
            states = run[self.state][layer]
            out[chunk] = states[np.arange(len(chunk)), positions[chunk]]
        return out

    def _run(
        self,
        runtime,
        stack,
        layer,
        texts,
        positions,
        source_states,
        masks,
        target_mask,
        allowed,
        compiled=True,
    ):
        """Every condition over every case, batched: ``follows`` (n_conditions,
        n_cases) and the mean cross-entropy at the other positions per condition.
        Through the compiled scan when the model allows it, else (or with
        ``compiled=False``, the reference) the NumPy one."""
        n_cond = len(masks)
        ids_list = runtime.encode(texts)
        targets, has_next = runtime.next_classes(ids_list)
        all_starts = np.concatenate([[0], np.cumsum([len(i) for i in ids_list])[:-1]])
        follows = np.zeros((n_cond, len(texts)), dtype=bool)
        loss, count = np.zeros(n_cond), 0
        tiny = np.finfo(np.float64).tiny
        for chunk, ids, lengths, _ in runtime.batches(ids_list, self.batch_size):
            n_texts, time = ids.shape
            valid = np.arange(time)[None, :] < lengths[:, None]
            at = np.arange(time)[None, :] == positions[chunk][:, None]
            pattern = np.where(at[valid][:, None], 1.0, np.nan) * np.repeat(
                source_states[chunk], lengths, axis=0
            )
            item = ConditionSet(
                layer=layer,
                state=self.state,
                mask=masks,
                offset=np.zeros(masks.shape[1]),
                scale=np.ones(masks.shape[1]),
                pattern=pattern,
            )
            starts = all_starts[chunk]
            next_grid = np.full((n_texts, time), -1, dtype=np.int64)
            scored = np.zeros((n_texts, time), dtype=bool)
            for row in range(len(chunk)):
                span = slice(starts[row], starts[row] + lengths[row])
                next_grid[row, : lengths[row]] = targets[span]
                scored[row, : lengths[row]] = has_next[span] & (targets[span] >= 0)
            scored &= ~at
            steps = _condition_probs(stack, ids, lengths, item, n_cond, compiled)
            for t, probs in steps:
                probs = probs.astype(np.float64)  # (C, n_texts, V)
                hit = at[:, t]
                if hit.any():
                    choice = np.argmax(np.where(allowed, probs[:, hit], -1.0), axis=-1)
                    cases = chunk[hit]
                    follows[:, cases] = target_mask[cases[None, :], choice]
                rows = scored[:, t]
                if rows.any():
                    p = np.take_along_axis(
                        probs[:, rows], next_grid[rows, t][None, :, None], axis=-1
                    )[..., 0]
                    loss -= np.log(np.maximum(p, tiny)).sum(axis=1)
                    count += int(rows.sum())
        return follows, loss / max(count, 1)
