"""NeuronAblationScorer: does the model *use* the units that encode a feature?"""

import re
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from tqdm.auto import tqdm

from .._chars import char_class
from .._compat import Interval, StrOptions, validate_params
from .._errors import InputError
from .._texts import check_texts, text_lengths
from ..models._compiled import scan_probs
from ..models._compiled import supports as supports_compiled
from ..models._conditions import ConditionSet, scan_conditions
from ..models._gates import GATES, check_state, run_gates, state_letter
from ..models._interventions import (
    Intervention,
    check_units,
    random_summary,
    top_and_random_units,
)
from ..models._keras_inspect import clone_sharing
from ..models._runtime import ModelRuntime
from ._values import describe_value, search_levels, state_range, unit_values

__all__ = ["NeuronAblationScorer", "after_char_in", "char_class", "next_char_in"]


def next_char_in(chars):
    """A ``positions`` callable: rows whose *next* character is in ``chars``.

    Beware: this selects rows by the *answer*. An intervention that pushes every
    prediction towards ``chars`` then looks good on these rows and is never charged
    for the rows it breaks (ablating digit units of an arithmetic model raises the
    class accuracy on next-is-digit rows while next-is-paren rows fall). For a fair
    comparison select rows by what the model has read: :func:`after_char_in`.

    Parameters
    ----------
    chars : str or iterable of str
        The characters whose rows are selected.

    Returns
    -------
    positions : callable
        ``positions(texts)`` -> bool array of shape (n_chars,).

    Examples
    --------
    >>> next_char_in("0123456789")(["1+2", "(3)"]).tolist()
    [False, True, False, True, False, False]
    """
    chars = frozenset(chars)

    def positions(texts):
        return np.fromiter(
            (
                i + 1 < len(t) and t[i + 1] in chars
                for t in texts
                for i in range(len(t))
            ),
            dtype=bool,
        )

    return positions


def after_char_in(chars):
    """A ``positions`` callable: rows whose *current* character (the one the model
    has just read) is in ``chars`` — a selection on the input side, blind to the
    answer (unlike :func:`next_char_in`).

    Parameters
    ----------
    chars : str or iterable of str
        The characters whose rows are selected.

    Returns
    -------
    positions : callable
        ``positions(texts)`` -> bool array of shape (n_chars,).

    Examples
    --------
    >>> after_char_in("0123456789)")(["1+2", "(3)"]).tolist()
    [True, False, True, False, True, True]
    """
    chars = frozenset(chars)

    def positions(texts):
        return np.fromiter((c in chars for t in texts for c in t), dtype=bool)

    return positions


# an activation column as LSTMActivationTransformer names it: "h17", "lstm_0/c3"
_UNIT_COLUMN = re.compile(r"^(?:(?P<layer>.+)/)?(?P<state>[hcifgozrn])(?P<unit>\d+)$")
# the state of each column prefix (skdni.models._gates.state_letter, inverted)
_STATE_OF_LETTER = {
    state_letter(state): state
    for state in ("hidden", "cell") + GATES["lstm"] + GATES["gru"]
}


def _check_unit_columns(names, layer_name: str, state: str) -> None:
    """Check that a search's columns are the units of ``layer_name`` / ``state``,
    unit ``i`` in column ``i`` (names skdni did not write are not checked)."""
    matches = [_UNIT_COLUMN.match(str(name)) for name in names]
    if not all(matches):
        return
    for i, match in enumerate(matches):
        name = str(names[i])
        column_state = _STATE_OF_LETTER[match["state"]]
        if column_state != state:
            raise InputError(
                f"search column {i} is {name!r}, a {column_state} state, but the "
                f"scorer overwrites state={state!r}: set state={column_state!r} (or "
                "probe the scorer's state)."
            )
        if match["layer"] is not None and match["layer"] != layer_name:
            raise InputError(
                f"search column {i} is {name!r}, a unit of layer {match['layer']!r}, "
                f"but the scorer's layer is {layer_name!r}: set layer="
                f"{match['layer']!r}."
            )
        if int(match["unit"]) != i:
            raise InputError(
                f"search column {i} is {name!r}, unit {match['unit']}: the search's "
                "columns must be the layer's units 0, 1, ... in order (one layer and "
                "one state of an LSTMActivationTransformer)."
            )


def _is_per_text(y) -> bool:
    """Whether ``y`` is one label array per text (a list or an object array)."""
    if isinstance(y, np.ndarray):
        return y.dtype == object and y.ndim == 1 and not np.isscalar(y[0])
    return isinstance(y, list | tuple) and len(y) > 0 and not np.isscalar(y[0])


def _concat_per_text(y, lengths) -> np.ndarray:
    """The per-character labels of per-text label arrays. This form of ``y`` splits
    with the texts, so an oracle scorer works inside ``cross_validate(lm, texts, y)``.
    """
    if len(y) != len(lengths):
        raise InputError(
            f"y has {len(y)} per-text label arrays for {len(lengths)} texts: one "
            "array per text."
        )
    parts = [np.asarray(part, dtype=np.float64).reshape(-1) for part in y]
    for i, (part, length) in enumerate(zip(parts, lengths, strict=True)):
        if len(part) != length:
            raise InputError(
                f"y[{i}] has {len(part)} labels but text {i} has {length} "
                "characters: one label per character."
            )
    return np.concatenate(parts)


def _metric_sums(probs, target, scoring):
    """The metric summed over rows: ``probs`` (..., n, V), ``target`` (n,) -> (...,).

    The class metrics use the class's probability *mass* (the sum of its
    characters' probabilities): after an operator a digit is likely as a class
    although each single digit is less likely than ``(``.
    """
    metric, classes = scoring["metric"], scoring["classes"]
    if metric == "accuracy":
        return np.sum(np.argmax(probs, axis=-1) == target, axis=-1, dtype=np.float64)
    if metric in ("class_accuracy", "class_cross_entropy"):
        mass = probs.astype(np.float64) @ scoring["class_onehot"]
        # an unknown target (-1) has no class: an error for the accuracy (and left
        # out of the cross-entropy when the rows are chosen)
        true_class = np.where(target >= 0, classes[target], -1)
        if metric == "class_accuracy":
            hits = np.argmax(mass, axis=-1) == true_class
            return np.sum(hits, axis=-1, dtype=np.float64)
        p = mass[..., np.arange(len(target)), true_class]
        return -np.sum(np.log(np.maximum(p, np.finfo(np.float64).tiny)), axis=-1)
    if metric == "within_class_accuracy":
        # argmax among the characters of the true next character's class only (an
        # unknown target, -1, never equals it: an error)
        same = classes[None, :] == classes[target][:, None]
        best = np.argmax(np.where(same, probs, -1.0), axis=-1)
        return np.sum(best == target, axis=-1, dtype=np.float64)
    p = probs[..., np.arange(len(target)), target].astype(np.float64)
    return -np.sum(np.log(np.maximum(p, np.finfo(np.float64).tiny)), axis=-1)


def _score_run(stack, batches, interventions_for, scoring):
    """The metric of one (possibly intervened) pass over the corpus.

    ``interventions_for(rows)`` builds the batch's interventions from its table rows
    (oracle patterns are per row). The one-condition-at-a-time reference of
    :func:`_score_batch`.
    """
    targets, scored = scoring["targets"], scoring["scored"]
    total, count = 0.0, 0
    for ids, lengths, rows in batches:
        out = stack.run(ids, lengths, interventions=interventions_for(rows))
        valid = np.arange(ids.shape[1])[None, :] < lengths[:, None]
        keep = scored[rows]
        total += float(
            _metric_sums(out["probs"][valid][keep], targets[rows][keep], scoring)
        )
        count += int(keep.sum())
    return total / count


def _score_each(stack, batches, item, scoring):
    """Reference path: every condition of ``item`` (a :class:`ConditionSet`) as its
    own pass with plain :class:`Intervention` objects. Returns one metric per
    condition."""
    results = []
    for mask in item.mask:
        units = np.flatnonzero(mask)

        def interventions_for(rows, units=units):
            if not units.size:
                return None
            if item.pattern is None:
                return Intervention(
                    layer=item.layer,
                    units=units,
                    state=item.state,
                    mode="clamp",
                    values=item.offset[units],
                )
            pattern = item.pattern[rows]
            pattern = pattern if pattern.shape[1] == 1 else pattern[:, units]
            return Intervention(
                layer=item.layer,
                units=units,
                state=item.state,
                mode="pattern",
                values=item.offset[units] + item.scale[units] * pattern,
            )

        results.append(_score_run(stack, batches, interventions_for, scoring))
    return np.array(results)


def _score_batch(stack, ids, lengths, targets, scored, item, scoring, compiled=True):
    """Metric sums of every condition of ``item`` on one batch of texts, all
    conditions in one batched recurrence: the compiled one
    (:func:`~skdni.models._compiled.scan_probs`) when it supports the site, else
    (or with ``compiled=False``, the reference) :func:`scan_conditions`.

    ``targets`` / ``scored`` and ``item.pattern`` hold the batch's rows only.
    """
    if compiled and supports_compiled(stack, [item]):
        return _score_batch_compiled(
            stack, ids, lengths, targets, scored, item, scoring
        )
    n_texts, time = ids.shape
    valid = np.arange(time)[None, :] < lengths[:, None]
    keep = np.zeros((n_texts, time), dtype=bool)
    keep[valid] = scored
    target = np.full((n_texts, time), -1, dtype=np.int64)
    target[valid] = targets
    sums = np.zeros(item.n_conditions)
    for t, h in scan_conditions(stack, ids, lengths, [item], item.n_conditions):
        rows = keep[:, t]
        if rows.any():
            probs = stack._output(h[:, rows])
            sums += _metric_sums(probs, target[rows, t], scoring)
    return sums


def _score_batch_compiled(stack, ids, lengths, targets, scored, item, scoring):
    """:func:`_score_batch` through the compiled recurrence (float32 throughout;
    agrees with the NumPy scan to float32 rounding, tested)."""
    n_texts, time = ids.shape
    valid = np.arange(time)[None, :] < lengths[:, None]
    keep = np.zeros((time, n_texts), dtype=bool)
    keep.T[valid] = scored
    target = np.full((time, n_texts), -1, dtype=np.int64)
    target.T[valid] = targets
    sums = np.zeros(item.n_conditions)
    for start, probs in scan_probs(stack, ids, lengths, [item], item.n_conditions):
        rows = keep[start : start + len(probs)]
        if rows.any():
            chosen = probs.transpose(1, 0, 2, 3)[:, rows]
            sums += _metric_sums(
                chosen, target[start : start + len(probs)][rows], scoring
            )
    return sums


def _score_conditions(stack, batches, item, scoring, n_jobs=None, verbose=0):
    """One metric per condition of ``item``: batches of texts in parallel, each
    running every condition at once; sums added in batch order (the result does not
    depend on ``n_jobs``)."""
    targets, scored = scoring["targets"], scoring["scored"]

    def batch_item(rows):
        if item.pattern is None:
            return item
        return ConditionSet(
            layer=item.layer,
            state=item.state,
            mask=item.mask,
            offset=item.offset,
            scale=item.scale,
            pattern=item.pattern[rows],
        )

    jobs = (
        delayed(_score_batch)(
            stack, ids, lengths, targets[rows], scored[rows], batch_item(rows), scoring
        )
        for ids, lengths, rows in batches
    )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    sums = sum(
        tqdm(results, total=len(batches), disable=not verbose, desc="batches"),
        np.zeros(item.n_conditions),
    )
    return sums / int(scored.sum())


def _plain_states(stack, batches, layer, state, n_rows):
    """The states of one layer at every character (corpus row order), no
    intervention: what ``"mean"`` averages and ``"resample"`` draws from."""
    out = np.empty((n_rows, stack.layers[layer].units), dtype=stack.dtype)
    for ids, lengths, rows in batches:
        valid = np.arange(ids.shape[1])[None, :] < lengths[:, None]
        if state not in ("hidden", "cell"):
            out[rows] = run_gates(stack, ids, lengths, layer, [state])[state][valid]
            continue
        run = stack.run(
            ids, lengths, return_states=(state,), layers=[layer], return_probs=False
        )
        out[rows] = run[state][layer][valid]
    return out


def resample_rows(lengths, rng) -> np.ndarray:
    """For every character (text ``i``, step ``t``), the corpus row of step ``t`` of
    another text long enough, drawn uniformly; -1 when no other text has a step
    ``t``.

    Examples
    --------
    >>> resample_rows(np.array([2, 3]), np.random.RandomState(0)).tolist()
    [2, 3, 0, 1, -1]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    order = np.argsort(-lengths, kind="stable")  # longest first
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    text = np.repeat(np.arange(len(lengths)), lengths)
    step = np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
    # texts longer than t: the first n_long[t] texts of ``order``
    n_long = (lengths[None, :] > np.arange(lengths.max())[:, None]).sum(axis=1)
    pool = n_long[step] - 1  # the others (the text itself is one of them)
    pick = np.floor(rng.random_sample(len(step)) * np.maximum(pool, 1)).astype(np.int64)
    pick += pick >= rank[text]  # skip the text itself
    donor = order[np.minimum(pick, len(order) - 1)]
    return np.where(pool > 0, offsets[donor] + step, -1)


_CLASS_METRICS = ("class_accuracy", "class_cross_entropy", "within_class_accuracy")
_LOSSES = ("cross_entropy", "class_cross_entropy")


class NeuronAblationScorer(BaseEstimator):
    """Next-character performance while chosen units are overwritten at every step.

    The paper's §5.2 end-to-end check: a unit that *predicts* a feature need not be
    *used* by the model. The model is re-run with skdni's own recurrence
    (:class:`~skdni.models.RecurrentStack`'s weights; every condition in one compiled
    JAX scan for a float32 model, the NumPy recurrence being the reference), and the
    top-k units (of a feature, or as given) are set to 0 (``"zero"``, Rm-Neuron_k),
    to the feature's labels mapped to ``oracle_range`` (``"oracle"``, Oracle_k), to a
    constant (``"clamp"``), to their mean activation over the scored texts
    (``"mean"``) or to their activation in another text of the corpus at the same
    step (``"resample"``). :meth:`evaluate`
    compares the top-k units against ``n_random`` random draws of k other units
    (Figure 5 as data), all conditions in one batched recurrence. Scoring is
    *teacher-forced*: the model reads the true text at every step (generation,
    :func:`clamped_generation`, is free-running).

    Parameters
    ----------
    model : CharLanguageModel or keras.Model, default=None
        The model to inspect (``None``: the estimator given to ``__call__``).
    units : array-like of int, default=None
        Unit indices of ``layer``, best first; ``k`` takes a prefix. Either this or
        ``search`` + ``feature``.
    search : fitted NeuronProbeSearch, default=None
        Units are ``search.top_units_[feature]`` (best first). Its columns must be the
        units of ``layer`` and ``state`` (a single-layer, single-state activation
        transformer); when it was fitted on named columns (``"lstm_0/c3"``, ``"h17"``,
        from ``set_output(transform="pandas")``), their layer and state are checked
        against ``layer`` and ``state``.
    feature : str, default=None
        Feature whose top units to use (and the column of a DataFrame ``y`` for the
        oracle).
    k : int or list of int, default=None
        How many top units to overwrite; a list gives a curve in :meth:`evaluate`.
        ``None``: all given ``units`` (required with ``search``).
    mode : {"zero", "oracle", "clamp", "mean", "resample"}, default="zero"
        ``"resample"``: every unit's value at step ``t`` of a text is its value at
        step ``t`` of another text of the corpus, long enough, drawn per character
        in the parent (one donor text for all units of a character; the same draws
        for every condition and any ``n_jobs``); a step no other text has keeps
        the unit's own value.
    state : str, default="hidden"
        ``"cell"``: the LSTM cell state; or a gate (LSTM ``"input"``, ``"forget"``,
        ``"candidate"``, ``"output"``; GRU ``"update"``, ``"reset"``, ``"new"``);
        see :class:`Intervention`.
    layer : None, int or str, default=None
        Recurrent layer of the units (``None``: the first one).
    value : float, array-like of shape (n_units,), "on" or "off", default=None
        The value for ``"clamp"``: a number for every unit (default 1.0, the
        paper's literal Figure 4 value, blind to whether a unit encodes the feature
        positively or negatively), one number per unit of the layer, or
        ``"on"`` / ``"off"``: each unit's own mean activation where the feature is
        on / off (from ``search.unit_levels_``; sign-aware). NaN, infinite and
        out-of-range values (outside [-1, 1] for a tanh hidden state) are errors.
    oracle_range : (float, float) or "calibrated", default=(-1, 1)
        Where labels 0 and 1 go for ``"oracle"``. ``(-1, 1)`` is the paper's
        literal mapping (it can push units outside the range they use);
        ``"calibrated"`` maps label 0 / 1 to each unit's own off / on level from
        the search. An oracle reading a look-ahead feature (a later character's
        label, e.g. ``shift=1``) warns: it hands the model the answer.
    metric : {"accuracy", "cross_entropy", "class_accuracy", \
            "class_cross_entropy", "within_class_accuracy"}, default="accuracy"
        Next-character accuracy, mean cross-entropy (nats; lower is better),
        accuracy of the next character's *class* (the class with the most
        probability *mass* — the sum of its characters' probabilities — against the
        class of the true next character), the class cross-entropy (minus the log
        of the true class's mass), or accuracy *within* the true next character's
        class (the most likely character of that class against the true one: with
        ``positions=next_char_in("0123456789")``, the paper's "accuracy for
        predicting the value of the nesting digit").
        A next character outside the vocabulary (a model with ``unknown="ignore"``)
        is an error for the accuracies and left out of the cross-entropy, as in
        ``CharLanguageModel.score`` / ``cross_entropy``.
    class_map : dict or callable, default=None
        Character -> class for the class metrics (a dict leaves unlisted characters
        in a class of their own); default :func:`char_class`.
    positions : array-like of bool or callable, default=None
        Rows (characters) whose next-character prediction is scored, e.g.
        :func:`after_char_in` ``("0123456789)")`` (rows chosen by what the model has
        read) or :func:`next_char_in` (chosen by the answer: biased towards an
        intervention that pushes predictions into that class); a callable gets the
        texts and returns
        one bool per character. The last character of a text is never scored (it has
        no next character).
    n_random : int, default=10
        Random draws of k units per k in :meth:`evaluate`, from the layer's units
        outside the top-k (from all units when fewer than k remain).
    random_state : int, RandomState or None, default=None
        Seeds the random draws (drawn in the parent: results do not depend on
        ``n_jobs``).
    n_jobs : int, default=None
        Batches of texts in parallel (``sklearn.utils.parallel.Parallel``).
    verbose : int, default=0
        ``> 0`` shows a progress bar over passes.
    vocabulary : dict or list, default=None
        For a bare Keras model (see
        :class:`~skdni.activations.LSTMActivationTransformer`).
    batch_size : int, default=256
        Texts per batch of the recurrence.

    Notes
    -----
    Output classes follow the model's own order (:class:`~skdni.models.ModelRuntime`
    maps each next character to its class). The oracle reads ``y``, one label in
    [0, 1] per character; a NaN label leaves the unit's own value at that step.

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
    >>> scorer = NeuronAblationScorer(model, [0, 1, 2], vocabulary="abc", k=[1, 3],
    ...                               n_random=2, random_state=0)
    >>> scorer.evaluate(["abcabc", "cab"])[["k", "baseline", "top"]].shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        "model": "no_validation",
        "units": [None, "array-like"],
        "search": "no_validation",
        "feature": [None, str],
        "k": [None, Interval(Integral, 0, None, closed="left"), list, tuple],
        "mode": [StrOptions({"zero", "oracle", "clamp", "mean", "resample"})],
        "state": [StrOptions({"hidden", "cell"} | set(GATES["lstm"] + GATES["gru"]))],
        "layer": [None, Integral, str],
        "value": [None, Real, "array-like", StrOptions({"on", "off"})],
        "oracle_range": [tuple, list, StrOptions({"calibrated"})],
        "metric": [
            StrOptions(
                {
                    "accuracy",
                    "cross_entropy",
                    "class_accuracy",
                    "class_cross_entropy",
                    "within_class_accuracy",
                }
            )
        ],
        "class_map": [None, dict, callable],
        "positions": [None, "array-like", callable],
        "n_random": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
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
        mode="zero",
        state="hidden",
        layer=None,
        value=None,
        oracle_range=(-1, 1),
        metric="accuracy",
        class_map=None,
        positions=None,
        n_random=10,
        random_state=None,
        n_jobs=None,
        verbose=0,
        vocabulary=None,
        batch_size=256,
    ):
        self.model = model
        self.units = units
        self.search = search
        self.feature = feature
        self.k = k
        self.mode = mode
        self.state = state
        self.layer = layer
        self.value = value
        self.oracle_range = oracle_range
        self.metric = metric
        self.class_map = class_map
        self.positions = positions
        self.n_random = n_random
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.vocabulary = vocabulary
        self.batch_size = batch_size

    def __sklearn_clone__(self):
        return clone_sharing(self, ("model", "search"))

    # ------------------------------------------------------------ preparation
    def _ranked_units(self, n_units, layer_name):
        if self.units is not None:
            ranked = self.units
        elif self.search is not None:
            if self.feature is None:
                raise InputError("search= needs feature= (whose top units to use).")
            top = getattr(self.search, "top_units_", None)
            if top is None:
                raise InputError(
                    "search must be a fitted NeuronProbeSearch (top_units_)."
                )
            if self.feature not in top:
                raise InputError(
                    f"Feature {self.feature!r} is not in the search's features: "
                    f"{sorted(top)[:20]}."
                )
            names = getattr(self.search, "feature_names_in_", None)
            if names is not None:
                _check_unit_columns(names, layer_name, self.state)
            n_columns = getattr(self.search, "n_features_in_", n_units)
            if n_columns != n_units:
                raise InputError(
                    f"search was fitted on {n_columns} columns but layer "
                    f"{layer_name!r} has {n_units} units: its columns must be the "
                    "units of layer= and state= (LSTMActivationTransformer with one "
                    "layer and one state)."
                )
            ranked = np.asarray(top[self.feature], dtype=np.int64)
            if self.k is None:
                raise InputError("search= needs k= (how many top units).")
        else:
            raise InputError("Give units=, or search= with feature= and k=.")
        return check_units(ranked, n_units, layer_name)

    def _ks(self, ranked, n_units, layer_name):
        ks = [len(ranked)] if self.k is None else self.k
        ks = [ks] if isinstance(ks, Integral) else list(ks)
        for k in ks:
            if not isinstance(k, Integral) or k < 0:
                raise InputError(f"k must be non-negative integers, got {k!r}.")
            if k > n_units:
                raise InputError(
                    f"k={k} is larger than layer {layer_name!r} ({n_units} units)."
                )
            if k > len(ranked):
                source = (
                    f"the search has only {len(ranked)} units above chance for "
                    f"{self.feature!r} (pass units= to rank all units yourself)"
                    if self.units is None
                    else f"only {len(ranked)} ranked units are given"
                )
                raise InputError(f"k={k} but {source}.")
        return [int(k) for k in ks]

    def _pattern(self, y, lengths):
        if self.mode != "oracle":
            return None
        if y is None:
            raise InputError(
                "mode='oracle' needs y: the feature's label (in [0, 1]) of every "
                "character."
            )
        n_rows = int(lengths.sum())
        if _is_per_text(y):
            y = _concat_per_text(y, lengths)
        if isinstance(y, pd.DataFrame):
            if self.feature is not None and self.feature in y.columns:
                y = y[self.feature]
            elif y.shape[1] == 1:
                y = y.iloc[:, 0]
            else:
                raise InputError(
                    f"y has {y.shape[1]} columns; set feature= to one of them."
                )
        pattern = np.asarray(y, dtype=np.float64)
        if pattern.ndim == 2 and pattern.shape[1] == 1:
            pattern = pattern[:, 0]
        if pattern.ndim != 1:
            raise InputError(
                f"y must be one label per character, shape ({n_rows},); got "
                f"{pattern.shape} (pass a single feature's column)."
            )
        if len(pattern) != n_rows:
            raise InputError(
                f"y has {len(pattern)} rows but the texts have {n_rows} characters: "
                "one label per character."
            )
        bad = np.flatnonzero(~np.isnan(pattern) & ((pattern < 0) | (pattern > 1)))
        if bad.size:
            text = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
            raise InputError(
                f"y[{int(bad[0])}] (text {text}) is {pattern[bad[0]]}: oracle labels "
                "must be in [0, 1] (NaN keeps the unit's own value)."
            )
        self._warn_look_ahead(pattern, lengths)
        return pattern

    def _warn_look_ahead(self, pattern, lengths):
        """Warn when the oracle reads a feature of a *later* character: writing it
        into the units hands the model the answer it is scored on."""
        ends = np.cumsum(lengths)[lengths > 0] - 1
        shifted = len(ends) > 1 and np.isnan(pattern[ends]).all()
        shifted &= not np.isnan(pattern).all()
        named = str(self.feature or "").startswith(("next:", "next_", "shift"))
        if shifted or named:
            warnings.warn(
                f"The oracle labels{'' if not self.feature else f' ({self.feature!r})'}"
                " look ahead: "
                + (
                    "they are NaN at the last character of every text, as a shifted "
                    "feature (shift=1) is. "
                    if shifted
                    else "the feature describes a later character. "
                )
                + "Writing a later character's label into the units leaks the "
                "answer the model is scored on; use a feature of the characters "
                "read so far.",
                UserWarning,
                stacklevel=4,
            )

    def _positions(self, texts, n_rows):
        if self.positions is None:
            return np.ones(n_rows, dtype=bool)
        mask = self.positions(texts) if callable(self.positions) else self.positions
        mask = np.asarray(mask)
        if mask.shape != (n_rows,):
            raise InputError(
                f"positions has shape {mask.shape}; expected ({n_rows},): one bool per "
                "character."
            )
        return mask.astype(bool)

    def _classes(self, runtime):
        if self.metric not in _CLASS_METRICS:
            return None
        mapping = self.class_map if self.class_map is not None else char_class
        labels = []
        for out, char in enumerate(runtime.output_chars):
            if char is None:
                labels.append(("<none>", out))
            elif callable(mapping):
                labels.append(mapping(char))
            else:
                labels.append(mapping.get(char, ("<char>", char)))
        codes = {label: i for i, label in enumerate(dict.fromkeys(labels))}
        return np.array([codes[label] for label in labels], dtype=np.int64)

    def _prepare(self, model, texts, y):
        validate_params(self)
        if model is None:
            raise InputError(
                "No model: pass model= or call the scorer with an estimator."
            )
        texts = check_texts(texts)
        runtime = ModelRuntime.for_model(model, self.vocabulary)
        stack = runtime.require_stack()
        if self.metric in _LOSSES and stack.output_activation != "softmax":
            raise InputError(
                f"metric={self.metric!r} needs probabilities, but model "
                f"{runtime.keras_model.name!r} has a {stack.output_activation!r} "
                "output; end it with a softmax Dense layer or use an accuracy metric."
            )
        layer = runtime.layer_index(self.layer)
        name, kind = runtime.layer_names[layer], runtime.layer_kinds[layer]
        if self.state == "cell" and kind != "lstm":
            raise InputError(
                f"state='cell' needs an LSTM layer; {name!r} is a {kind} layer."
            )
        if self.state not in ("hidden", "cell"):
            check_state(self.state, kind, name, "NeuronAblationScorer")
        n_units = runtime.layer_units[layer]
        ranked = self._ranked_units(n_units, name)
        ks = self._ks(ranked, n_units, name)
        ids_list = runtime.encode(texts)
        lengths = text_lengths(texts)
        n_rows = int(lengths.sum())
        pattern = self._pattern(y, lengths)
        targets, has_next = runtime.next_classes(ids_list)
        scored = has_next & self._positions(texts, n_rows)
        if self.metric in _LOSSES:
            # the model gives an unknown next char (unknown="ignore", target -1)
            # probability 0: left out, as in CharLanguageModel.cross_entropy
            scored &= targets >= 0
        if not scored.any():
            raise InputError(
                "No character is scored: no selected row has a next character"
                + (" in the vocabulary." if self.metric in _LOSSES else ".")
            )
        classes = self._classes(runtime)
        scoring = {
            "targets": targets,
            "scored": scored,
            "classes": classes,
            "class_onehot": None
            if classes is None
            else np.eye(classes.max() + 1)[classes],
            "metric": self.metric,
        }
        batches = [
            (ids, lengths, rows)
            for _, ids, lengths, rows in runtime.batches(ids_list, self.batch_size)
        ]
        return {
            "stack": stack,
            "layer": layer,
            "ranked": ranked,
            "ks": ks,
            "pattern": pattern,
            "scoring": scoring,
            "batches": batches,
            "lengths": lengths,
        }

    def _levels(self):
        needs = isinstance(self.value, str) and self.mode == "clamp"
        needs |= self.mode == "oracle" and isinstance(self.oracle_range, str)
        if not needs:
            return None
        if self.search is None:
            raise InputError(
                "value='on'/'off' and oracle_range='calibrated' take each unit's "
                "level from a probe search: pass search= and feature=."
            )
        return search_levels(self.search, self.feature)

    def _values(self, ctx, rng):
        """``(offset, scale, pattern, label)`` of the overwrite, one value per unit
        of the layer (see :class:`~skdni.models._conditions.ConditionSet`)."""
        stack, layer = ctx["stack"], ctx["layer"]
        n_units = stack.layers[layer].units
        bounds = state_range(stack.layers[layer], self.state)
        zeros = np.zeros(n_units)
        if self.mode == "zero":
            return zeros, None, None, "0"
        if self.mode == "clamp":
            value = 1.0 if self.value is None else self.value
            values = unit_values(value, n_units, levels=self._levels(), bounds=bounds)
            return values, None, None, describe_value(value)
        if self.mode == "oracle":
            levels = self._levels()
            if levels is not None:
                low = np.asarray(levels["off"], dtype=np.float64)
                high = np.asarray(levels["on"], dtype=np.float64)
                label = "labels->calibrated"
            else:
                if len(self.oracle_range) != 2:
                    raise InputError(
                        "oracle_range must be (low, high) or 'calibrated', got "
                        f"{self.oracle_range!r}."
                    )
                low, high = (float(v) for v in self.oracle_range)
                label = f"labels->[{low:g}, {high:g}]"
                low, high = np.full(n_units, low), np.full(n_units, high)
            for end in (low, high):
                unit_values(end, n_units, bounds=bounds, where="oracle_range")
            return low, high - low, ctx["pattern"][:, None], label
        states = _plain_states(
            stack, ctx["batches"], layer, self.state, int(ctx["lengths"].sum())
        )
        if self.mode == "mean":
            return states.mean(axis=0, dtype=np.float64), None, None, "mean"
        donors = resample_rows(ctx["lengths"], rng)
        pattern = np.where(
            (donors >= 0)[:, None], states[np.maximum(donors, 0)], np.nan
        ).astype(np.float64)
        return zeros, np.ones(n_units), pattern, "resample"

    def _conditions(self, ctx, unit_sets, rng):
        stack, layer = ctx["stack"], ctx["layer"]
        offset, scale, pattern, label = self._values(ctx, rng)
        mask = np.zeros((len(unit_sets), stack.layers[layer].units), dtype=bool)
        for row, units in enumerate(unit_sets):
            mask[row, units] = True
        item = ConditionSet(
            layer=layer,
            state=self.state,
            mask=mask,
            offset=offset,
            scale=scale,
            pattern=pattern,
        )
        return item, label

    # ------------------------------------------------------------ public API
    def score(self, texts, y=None) -> float:
        """The metric with the top-``k`` units overwritten (one ``k``).

        Parameters
        ----------
        texts : list of str
            The texts scored (teacher-forced).
        y : array-like of shape (n_chars,) or list of array-like, optional
            The oracle pattern (``mode="oracle"``): one label per character, or one
            array of labels per text (which ``cross_validate`` splits with the
            texts).

        Returns
        -------
        score : float
            The metric over the scored rows.
        """
        return self._score(self.model, texts, y)

    def _score(self, model, texts, y):
        ctx = self._prepare(model, texts, y)
        if len(ctx["ks"]) != 1:
            raise InputError(f"score() takes one k, got k={self.k!r}; use evaluate().")
        rng = check_random_state(self.random_state)
        item, _ = self._conditions(ctx, [ctx["ranked"][: ctx["ks"][0]]], rng)
        return float(
            _score_conditions(
                ctx["stack"], ctx["batches"], item, ctx["scoring"], self.n_jobs
            )[0]
        )

    def __call__(self, estimator, texts, y=None) -> float:
        """sklearn scorer protocol on a fitted ``CharLanguageModel``: greater is better
        (the cross-entropies are returned negated)."""
        value = self._score(estimator, texts, y)
        return -value if self.metric in _LOSSES else value

    def evaluate(self, texts, y=None) -> pd.DataFrame:
        """Baseline, top-k and random-k for every k (the paper's Figure 5 as data).

        Every condition (no intervention, top-k and each random draw for every k)
        runs in one batched recurrence: conditions x texts in the batch dimension.
        Scoring is teacher-forced: the model reads the true text, whatever the
        intervention does to its predictions.

        Parameters
        ----------
        texts : list of str
            The texts scored (teacher-forced).
        y : array-like of shape (n_chars,) or list of array-like, optional
            The oracle pattern (``mode="oracle"``), as in :meth:`score`.

        Returns
        -------
        DataFrame
            One row per k: ``k``, ``baseline`` (no intervention), ``top``, the random-k
            distribution over ``n_random`` draws (``random_mean``, ``random_std``,
            ``random_low`` / ``random_high`` = its 2.5 / 97.5 percentiles,
            ``random_min`` / ``random_max`` = its lowest / highest draw), and
            ``effect_size`` = (top - random_mean) / random_std (the top-k result in
            random-k standard deviations; NaN with fewer than two draws or when the
            draws do not vary, rather than an infinite effect), plus
            ``metric``, ``mode``, ``value`` (what the units were set to: ``"0"``,
            ``"1"``, ``"on"``, ``"mean"``, ``"resample"``,
            ``"labels->[-1, 1]"``, ``"labels->calibrated"``...), ``state``,
            ``layer``, ``feature``, ``n_scored`` and ``scoring``
            (``"teacher-forced"``). ``frame.attrs["random_scores"]`` maps k to the
            raw draws (tuples, so that ``pd.concat`` can compare them; pandas keeps
            ``attrs`` only when every concatenated frame has the same).
        """
        ctx = self._prepare(self.model, texts, y)
        stack, layer, ks = ctx["stack"], ctx["layer"], ctx["ks"]
        n_units = stack.layers[layer].units
        rng = check_random_state(self.random_state)
        tasks = top_and_random_units(ctx["ranked"], ks, n_units, self.n_random, rng)
        unit_sets = [np.empty(0, dtype=np.int64)] + [units for _, _, units in tasks]
        # drawn after the units: the same unit draws for every mode
        item, label = self._conditions(ctx, unit_sets, rng)
        values = _score_conditions(
            stack, ctx["batches"], item, ctx["scoring"], self.n_jobs, self.verbose
        )
        baseline = float(values[0])
        tops, by_k = {}, {k: [] for k in ks}
        for (k, draw, _), value in zip(tasks, values[1:], strict=True):
            if draw < 0:
                tops[k] = float(value)
            else:
                by_k[k].append(float(value))
        records, raw = [], {}
        for k in ks:
            top, draws = tops[k], np.array(by_k[k])
            raw[k] = tuple(draws.tolist())  # tuples: pd.concat compares attrs
            summary = random_summary(draws)
            std = summary["random_std"]
            effect = (top - summary["random_mean"]) / std if std > 0 else np.nan
            records.append(
                {
                    "k": k,
                    "baseline": baseline,
                    "top": top,
                    "random_mean": summary["random_mean"],
                    "random_std": std,
                    "random_low": summary["random_low"],
                    "random_high": summary["random_high"],
                    "random_min": summary["random_min"],
                    "random_max": summary["random_max"],
                    "effect_size": effect,
                    "n_random": summary["n_random"],
                    "metric": self.metric,
                    "mode": self.mode,
                    "value": label,
                    "state": self.state,
                    "layer": stack.layers[layer].name,
                    "feature": self.feature,
                    "n_scored": int(ctx["scoring"]["scored"].sum()),
                    "scoring": "teacher-forced",
                }
            )
        frame = pd.DataFrame.from_records(records)
        frame.attrs["random_scores"] = raw
        return frame
