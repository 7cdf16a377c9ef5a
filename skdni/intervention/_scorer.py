"""NeuronAblationScorer: does the model *use* the units that encode a feature?"""

import re
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from tqdm.auto import tqdm

from .._compat import Interval, StrOptions, validate_params
from .._errors import InputError, InputTypeError
from .._texts import check_texts, text_lengths
from ..models._interventions import Intervention, check_values, top_and_random_units
from ..models._keras_inspect import clone_sharing
from ..models._runtime import ModelRuntime

__all__ = ["NeuronAblationScorer", "char_class", "next_char_in"]

_BRACKETS = frozenset("()[]{}<>")


def char_class(char: str) -> str:
    """Default character class: ``"digit"``, ``"paren"``, ``"letter"``, ``"space"`` or
    ``"operator"`` (every other character) — the paper's "type of the next character".

    Examples
    --------
    >>> [char_class(c) for c in "(7+x"]
    ['paren', 'digit', 'operator', 'letter']
    """
    if char.isdigit():
        return "digit"
    if char in _BRACKETS:
        return "paren"
    if char.isspace():
        return "space"
    if char.isalpha():
        return "letter"
    return "operator"


def next_char_in(chars):
    """A ``positions`` callable: rows whose *next* character is in ``chars``.

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


# an activation column as LSTMActivationTransformer names it: "h17", "lstm_0/c3"
_UNIT_COLUMN = re.compile(r"^(?:(?P<layer>.+)/)?(?P<state>[hc])(?P<unit>\d+)$")


def _check_unit_columns(names, layer_name: str, state: str) -> None:
    """Check that a search's columns are the units of ``layer_name`` / ``state``,
    unit ``i`` in column ``i`` (names skdni did not write are not checked)."""
    matches = [_UNIT_COLUMN.match(str(name)) for name in names]
    if not all(matches):
        return
    for i, match in enumerate(matches):
        name = str(names[i])
        column_state = "hidden" if match["state"] == "h" else "cell"
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


def _score_run(stack, batches, interventions_for, scoring):
    """The metric of one (possibly intervened) pass over the corpus.

    ``interventions_for(rows)`` builds the batch's interventions from its table rows
    (oracle patterns are per row). Returns ``(metric, means)`` where ``means`` are the
    per-unit means of ``scoring["mean_of"]`` = (layer, state) over all characters
    (``None`` unless asked).
    """
    targets, scored, classes, metric = (
        scoring["targets"],
        scoring["scored"],
        scoring["classes"],
        scoring["metric"],
    )
    mean_of = scoring.get("mean_of")
    total, count = 0.0, 0
    state_sum, n_rows = None, 0
    for ids, lengths, rows in batches:
        states = () if mean_of is None else (mean_of[1],)
        out = stack.run(
            ids,
            lengths,
            interventions=interventions_for(rows),
            return_states=states,
            layers=None if mean_of is None else [mean_of[0]],
        )
        valid = np.arange(ids.shape[1])[None, :] < lengths[:, None]
        if mean_of is not None:
            values = out[mean_of[1]][mean_of[0]][valid]
            state_sum = values.sum(0, dtype=np.float64) + (
                0 if state_sum is None else state_sum
            )
            n_rows += len(values)
        keep = scored[rows]
        probs = out["probs"][valid][keep]
        target = targets[rows][keep]
        count += len(target)
        if metric == "accuracy":
            total += float(np.sum(np.argmax(probs, axis=1) == target))
        elif metric == "class_accuracy":
            # an unknown target (-1) has no class: an error, as in accuracy
            true_class = np.where(target >= 0, classes[target], -1)
            total += float(np.sum(classes[np.argmax(probs, axis=1)] == true_class))
        elif metric == "within_class_accuracy":
            # argmax among the characters of the true next character's class only
            # (an unknown target, -1, never equals it: an error)
            same = classes[None, :] == classes[target][:, None]
            best = np.argmax(np.where(same, probs, -1.0), axis=1)
            total += float(np.sum(best == target))
        else:
            p = probs[np.arange(len(target)), target].astype(np.float64)
            total += float(-np.sum(np.log(np.maximum(p, np.finfo(np.float64).tiny))))
    means = None if mean_of is None else state_sum / max(n_rows, 1)
    return total / count, means


def _score_units(
    stack, batches, layer, state, mode, units, constant, pattern, oracle_range, scoring
):
    def interventions_for(rows):
        if units is None:
            return None
        values = pattern[rows] if mode == "oracle" else constant
        return [
            Intervention(
                layer=layer,
                units=units,
                state=state,
                mode=mode,
                values=values,
                oracle_range=oracle_range,
            )
        ]

    return _score_run(stack, batches, interventions_for, scoring)[0]


class NeuronAblationScorer(BaseEstimator):
    """Next-character performance while chosen units are overwritten at every step.

    The paper's §5.2 end-to-end check: a unit that *predicts* a feature need not be
    *used* by the model. The model is re-run with skdni's NumPy recurrence
    (:class:`~skdni.models.RecurrentStack`), and the top-k units (of a feature, or as
    given) are set to 0 (``"zero"``, Rm-Neuron_k), to the feature's labels mapped to
    ``oracle_range`` (``"oracle"``, Oracle_k), to a constant (``"clamp"``) or to their
    mean activation over the scored texts (``"mean"``). :meth:`evaluate` compares the
    top-k units against ``n_random`` random draws of k other units (Figure 5 as data).

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
    mode : {"zero", "oracle", "clamp", "mean"}, default="zero"
    state : {"hidden", "cell"}, default="hidden"
        ``"cell"``: the LSTM cell state (see :class:`Intervention`).
    layer : None, int or str, default=None
        Recurrent layer of the units (``None``: the first one).
    value : float, default=None
        The constant for ``"clamp"`` (default 1.0, as in the paper's Figure 4).
    oracle_range : (float, float), default=(-1, 1)
        Where labels 0 and 1 go for ``"oracle"``.
    metric : {"accuracy", "cross_entropy", "class_accuracy", \
            "within_class_accuracy"}, default="accuracy"
        Next-character accuracy, mean cross-entropy (nats; lower is better),
        accuracy of the next character's *class* (the class of the model's most
        likely character against the class of the true next character), or accuracy
        *within* the true next character's class (the most likely character of that
        class against the true one: with ``positions=next_char_in("0123456789")``,
        the paper's "accuracy for predicting the value of the nesting digit").
        A next character outside the vocabulary (a model with ``unknown="ignore"``)
        is an error for the accuracies and left out of the cross-entropy, as in
        ``CharLanguageModel.score`` / ``cross_entropy``.
    class_map : dict or callable, default=None
        Character -> class for the class metrics (a dict leaves unlisted characters
        in a class of their own); default :func:`char_class`.
    positions : array-like of bool or callable, default=None
        Rows (characters) whose next-character prediction is scored, e.g.
        :func:`next_char_in` ``("0123456789")``; a callable gets the texts and returns
        one bool per character. The last character of a text is never scored (it has
        no next character).
    n_random : int, default=10
        Random draws of k units per k in :meth:`evaluate`, from the layer's units
        outside the top-k (from all units when fewer than k remain).
    random_state : int, RandomState or None, default=None
        Seeds the random draws (drawn in the parent: results do not depend on
        ``n_jobs``).
    n_jobs : int, default=None
        Parallel passes (``sklearn.utils.parallel.Parallel``).
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
        "mode": [StrOptions({"zero", "oracle", "clamp", "mean"})],
        "state": [StrOptions({"hidden", "cell"})],
        "layer": [None, Integral, str],
        "value": [None, Real],
        "oracle_range": [tuple, list],
        "metric": [
            StrOptions(
                {"accuracy", "cross_entropy", "class_accuracy", "within_class_accuracy"}
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
            ranked = np.asarray(self.units)
            if ranked.size and not np.issubdtype(ranked.dtype, np.integer):
                raise InputTypeError(f"units must be integers, got {ranked.dtype}.")
            ranked = ranked.astype(np.int64).reshape(-1)
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
            ranked = np.asarray(top[self.feature], dtype=np.int64).reshape(-1)
            if self.k is None:
                raise InputError("search= needs k= (how many top units).")
        else:
            raise InputError("Give units=, or search= with feature= and k=.")
        bad = ranked[(ranked < 0) | (ranked >= n_units)]
        if bad.size:
            raise InputError(
                f"Unit {int(bad[0])} is out of range for layer {layer_name!r} with "
                f"{n_units} units (valid: 0..{n_units - 1})."
            )
        if len(np.unique(ranked)) != ranked.size:
            raise InputError("units lists a unit twice.")
        return ranked

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
                raise InputError(
                    f"k={k} but only {len(ranked)} ranked units are given."
                )
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
        check_values(pattern, "oracle", "y")
        return pattern

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
        if self.metric not in ("class_accuracy", "within_class_accuracy"):
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
        if self.mode == "clamp" and self.value is not None:
            check_values(self.value, "clamp", "value")
        if model is None:
            raise InputError(
                "No model: pass model= or call the scorer with an estimator."
            )
        texts = check_texts(texts)
        runtime = ModelRuntime.for_model(model, self.vocabulary)
        stack = runtime.require_stack()
        if self.metric == "cross_entropy" and stack.output_activation != "softmax":
            raise InputError(
                f"metric='cross_entropy' needs probabilities, but model "
                f"{runtime.keras_model.name!r} has a {stack.output_activation!r} "
                "output; end it with a softmax Dense layer or use an accuracy metric."
            )
        layer = runtime.layer_index(self.layer)
        name, kind = runtime.layer_names[layer], runtime.layer_kinds[layer]
        if self.state == "cell" and kind != "lstm":
            raise InputError(
                f"state='cell' needs an LSTM layer; {name!r} is a {kind} layer."
            )
        n_units = runtime.layer_units[layer]
        ranked = self._ranked_units(n_units, name)
        ks = self._ks(ranked, n_units, name)
        ids_list = runtime.encode(texts)
        n_rows = int(text_lengths(texts).sum())
        pattern = self._pattern(y, text_lengths(texts))
        targets, has_next = runtime.next_classes(ids_list)
        scored = has_next & self._positions(texts, n_rows)
        if self.metric == "cross_entropy":
            # the model gives an unknown next char (unknown="ignore", target -1)
            # probability 0: left out, as in CharLanguageModel.cross_entropy
            scored &= targets >= 0
        if not scored.any():
            raise InputError(
                "No character is scored: no selected row has a next character"
                + (" in the vocabulary." if self.metric == "cross_entropy" else ".")
            )
        scoring = {
            "targets": targets,
            "scored": scored,
            "classes": self._classes(runtime),
            "metric": self.metric,
        }
        batches = [
            (ids, lengths, rows)
            for _, ids, lengths, rows in runtime.batches(ids_list, self.batch_size)
        ]
        return stack, layer, ranked, ks, pattern, scoring, batches

    def _constant(self, means, units):
        if self.mode == "clamp":
            return 1.0 if self.value is None else float(self.value)
        if self.mode == "mean":
            return means[units]
        return None

    def _units_args(self, stack, batches, layer, units, means, pattern, scoring):
        """The arguments of :func:`_score_units` for one set of units."""
        return (
            stack,
            batches,
            layer,
            self.state,
            self.mode,
            units,
            self._constant(means, units),
            pattern,
            self.oracle_range,
            scoring,
        )

    def _baseline(self, stack, layer, batches, scoring):
        if self.mode == "mean":
            scoring = dict(scoring, mean_of=(layer, self.state))
        return _score_run(stack, batches, lambda rows: None, scoring)

    # ------------------------------------------------------------ public API
    def score(self, texts, y=None) -> float:
        """The metric with the top-``k`` units overwritten (one ``k``).

        Parameters
        ----------
        texts : list of str
        y : array-like of shape (n_chars,) or list of array-like, optional
            The oracle pattern (``mode="oracle"``): one label per character, or one
            array of labels per text (which ``cross_validate`` splits with the
            texts).

        Returns
        -------
        float
        """
        return self._score(self.model, texts, y)

    def _score(self, model, texts, y):
        stack, layer, ranked, ks, pattern, scoring, batches = self._prepare(
            model, texts, y
        )
        if len(ks) != 1:
            raise InputError(f"score() takes one k, got k={self.k!r}; use evaluate().")
        units = ranked[: ks[0]]
        # only "mean" needs a plain pass first (for the units' mean activations)
        means = (
            self._baseline(stack, layer, batches, scoring)[1]
            if self.mode == "mean"
            else None
        )
        return _score_units(
            *self._units_args(stack, batches, layer, units, means, pattern, scoring)
        )

    def __call__(self, estimator, texts, y=None) -> float:
        """sklearn scorer protocol on a fitted ``CharLanguageModel``: greater is better
        (``metric="cross_entropy"`` is returned negated)."""
        value = self._score(estimator, texts, y)
        return -value if self.metric == "cross_entropy" else value

    def evaluate(self, texts, y=None) -> pd.DataFrame:
        """Baseline, top-k and random-k for every k (the paper's Figure 5 as data).

        Returns
        -------
        DataFrame
            One row per k: ``k``, ``baseline`` (no intervention), ``top``, the random-k
            distribution over ``n_random`` draws (``random_mean``, ``random_std``,
            ``random_low`` / ``random_high`` = its 2.5 / 97.5 percentiles), and
            ``effect_size`` = (top - random_mean) / random_std (the top-k result in
            random-k standard deviations; NaN with fewer than two draws or when the
            draws do not vary, rather than an infinite effect), plus
            ``metric``, ``mode``, ``state``, ``layer``, ``feature``, ``n_scored``.
            ``frame.attrs["random_scores"]`` maps k to the raw draws (tuples, so
            that ``pd.concat`` can compare them; pandas keeps ``attrs`` only when
            every concatenated frame has the same).
        """
        stack, layer, ranked, ks, pattern, scoring, batches = self._prepare(
            self.model, texts, y
        )
        n_units = stack.layers[layer].units
        baseline, means = self._baseline(stack, layer, batches, scoring)
        rng = check_random_state(self.random_state)
        tasks = top_and_random_units(ranked, ks, n_units, self.n_random, rng)
        jobs = (
            delayed(_score_units)(
                *self._units_args(stack, batches, layer, units, means, pattern, scoring)
            )
            for _, _, units in tasks
        )
        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
        values = list(
            tqdm(
                results,
                total=len(tasks),
                disable=not self.verbose,
                desc="interventions",
            )
        )
        tops, by_k = {}, {k: [] for k in ks}
        for (k, draw, _), value in zip(tasks, values, strict=True):
            if draw < 0:
                tops[k] = value
            else:
                by_k[k].append(value)
        records, raw = [], {}
        for k in ks:
            top, draws = tops[k], np.array(by_k[k])
            raw[k] = tuple(draws.tolist())  # tuples: pd.concat compares attrs
            mean = draws.mean() if draws.size else np.nan
            std = draws.std(ddof=1) if draws.size > 1 else np.nan
            effect = (top - mean) / std if std > 0 else np.nan
            records.append(
                {
                    "k": k,
                    "baseline": baseline,
                    "top": top,
                    "random_mean": mean,
                    "random_std": std,
                    "random_low": np.percentile(draws, 2.5) if draws.size else np.nan,
                    "random_high": np.percentile(draws, 97.5) if draws.size else np.nan,
                    "effect_size": effect,
                    "n_random": int(draws.size),
                    "metric": self.metric,
                    "mode": self.mode,
                    "state": self.state,
                    "layer": stack.layers[layer].name,
                    "feature": self.feature,
                    "n_scored": int(scoring["scored"].sum()),
                }
            )
        frame = pd.DataFrame.from_records(records)
        frame.attrs["random_scores"] = raw
        return frame
