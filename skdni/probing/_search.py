"""NeuronProbeSearch: cross-validated 1-D probes for every (feature, unit) pair."""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin
from sklearn.feature_selection import SelectorMixin
from sklearn.linear_model import LinearRegression
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from tqdm.auto import tqdm

from .._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
    validate_params,
)
from .._errors import InputError, InputTypeError
from ._conditional import (
    char_codes,
    conditional_fold_scores,
    exact_conditional_fold_scores,
)
from ._engines import NAMED_PROBES, LabelStats, plan_engines
from ._folds import Folds
from ._levels import unit_levels
from ._stability import ranking_stability
from ._stats import (
    above_chance,
    benjamini_hochberg,
    control_labels,
    finding_ranks,
    permutation_index,
    rank_units,
    skill_kind,
    skill_scores,
)
from ._streaming import (
    ActivationSource,
    StreamingOLSState,
    _read_rows,
    check_finite_blocks,
    fold_of_groups,
    is_out_of_core,
    refit_columns,
    source_of,
)

__all__ = ["NeuronProbeSearch"]


# Rows of Y checked at a time: the checks' boolean temporaries stay a few MB.
_LABEL_ROWS = 1 << 16


def _label_rows(Y):
    """``Y`` (n, q) in float64 row blocks, read by path when it is a memmap."""
    source = source_of(Y)
    for lo in range(0, Y.shape[0], _LABEL_ROWS):
        yield lo, _read_rows(source, lo, min(lo + _LABEL_ROWS, Y.shape[0]))


def _label_range(Y):
    """Per feature column: smallest and largest label (NaN if none) and whether every
    label is one of those two, in a few vectorized passes over row blocks."""
    lo = hi = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
        for _, block in _label_rows(Y):
            b_lo, b_hi = np.nanmin(block, axis=0), np.nanmax(block, axis=0)
            lo = b_lo if lo is None else np.fmin(lo, b_lo)
            hi = b_hi if hi is None else np.fmax(hi, b_hi)
    two_valued = np.ones(Y.shape[1], dtype=bool)
    for _, block in _label_rows(Y):
        two_valued &= ((block == lo) | (block == hi) | np.isnan(block)).all(axis=0)
    return lo, hi, two_valued


def _refit(engine, i, j, column, labels):
    """``(j, engine.refit(i, column, labels))``: one refit task."""
    return j, engine.refit(i, column, labels)


class _ScorerName(StrOptions):
    """The scorer names of :func:`sklearn.metrics.get_scorer_names`, named so in
    messages (the full list is ~60 names long)."""

    def __init__(self):
        super().__init__(set(get_scorer_names()))

    def __str__(self):
        return "a scorer name (one of sklearn.metrics.get_scorer_names())"


def _feature_kinds(Y, names):
    """Per feature, its kind (``"binary"``: exactly two label values, else
    ``"continuous"``) and label values (the two classes, low first; or the range);
    a feature without a label or with a single value is refused."""
    kinds, classes = [], []
    lows, highs, two_valued = _label_range(Y)
    for j, name in enumerate(names):
        lo, hi = lows[j], highs[j]
        if np.isnan(lo):
            raise InputError(
                f"Feature column {name!r} (index {j}) has no label: every row is NaN."
            )
        if lo == hi:
            raise InputError(
                f"Feature column {name!r} (index {j}) has a single label value "
                f"{float(lo)!r} (one class only): there is nothing to probe."
            )
        # Only the two classes of a binary feature are used later.
        kinds.append("binary" if two_valued[j] else "continuous")
        classes.append(np.array([lo, hi] if two_valued[j] else [lo, np.nan, hi]))
    return kinds, classes


class NeuronProbeSearch(MetaEstimatorMixin, SelectorMixin, BaseEstimator):
    """Cross-validated 1-D probes of every (feature, unit) pair, ranked per feature.

    For each feature (a column of ``Y``) and each unit (a column of ``X``) a probe
    predicts the feature from that unit alone and is scored by K-fold cross-validation,
    as in Deep Neural Inspection (Wu et al., section 3.2); the units are then ranked
    per feature. The
    "grid" of :class:`~sklearn.model_selection.GridSearchCV` is features × units.

    Parameters
    ----------
    probe : {"auto", "svm", "svc", "logistic", "threshold", "ols"} or estimator, \
default="auto"
        ``"auto"``/``"svm"``: ``LinearSVC()`` for binary features; ``"svc"``: the
        paper's ``SVC(kernel="linear")`` (exact 1-D solver, accuracy;
        ``skdni.probing._fast_svc``); ``"logistic"``:
        ``LogisticRegression()``; ``"threshold"``: :class:`ThresholdClassifier`;
        continuous features always get ``LinearRegression()`` with these.
        ``"ols"``: ``LinearRegression()`` for every feature. An sklearn classifier is
        used for binary features (continuous ones get ``LinearRegression()``); a
        regressor for every feature. Estimators always take the exact path.
    cv : int, cross-validation generator or iterable, default=20
        An int gives ``KFold(cv)`` (unshuffled), or ``GroupKFold(cv)`` when ``groups``
        is passed to ``fit``. Folds are made on all rows; per feature, rows without a
        label are then dropped from both sides of each fold.
    scoring : str, callable, dict or None, default=None
        ``None``: accuracy for classifier probes, R² for regressors. A scorer name
        (one of :func:`sklearn.metrics.get_scorer_names`) or callable applies to
        every feature; a dict ``{"binary": ..., "continuous": ...}`` sets one per
        feature kind. The fast engines support the defaults
        (``"accuracy"``, ``"r2"``), and ``"balanced_accuracy"`` and ``"roc_auc"``
        with the SVM probe (``skdni.probing._fast_rank``; use one of these for
        imbalanced binary features: a unit that separates a 10%-positive feature can
        leave every probe predicting the majority, at chance accuracy); any other
        (probe, scorer) takes the exact path. Chance of balanced accuracy and ROC
        AUC is 0.5.
    top_k : int, default=10
        At most this many units per feature in ``top_units_``.
    min_score : float or None, default=None
        Only units whose mean score is at least this enter ``top_units_`` (on top of
        being above chance, which every unit there is).
    method : {"auto", "exact", "fast"}, default="auto"
        ``"auto"`` uses a fast engine wherever one exists for the (probe, scoring),
        ``"exact"`` always clones and fits the sklearn probe, ``"fast"`` raises if a
        feature has no fast engine.
    n_permutations : int, default=0
        Label permutations for a p-value per pair (``pvalues_``, ``qvalues_``): whole
        texts' label blocks are reordered when ``groups`` is given, labels are shifted
        circularly otherwise, so the null keeps the labels' sequence structure.
    control : {"shuffle_types"}, callable or None, default=None
        A control task (Hewitt & Liang 2019) scored with the same probes;
        ``selectivity_ = scores_ - control_scores_``. ``"shuffle_types"`` gives every
        character type (``char_types`` passed to ``fit``) one label drawn from the
        feature's labels. A callable ``control(Y, random_state) -> Y_control`` builds
        any other control labelling of the same shape.
    condition : {"char"} or None, default=None
        ``"char"`` (conditional probing, Hewitt et al. 2021): also score every unit
        beyond the current character's identity, ``conditional_scores_`` = held-out
        R² of ``LinearRegression`` on [one-hot character + unit] minus on [one-hot
        character] (fast path: demeaning within character classes on the training
        folds, ``skdni.probing._conditional``; ``method="exact"`` fits sklearn's
        pipeline). Needs ``char_types`` in ``fit``.
    n_bootstrap : int, default=0
        Resamples of whole texts (``groups``) for ``stability_``: each refits the
        search (without permutations or control) on texts drawn with replacement.
    n_jobs : int or None, default=None
        Worker processes (units are split between them; exact fits are chunked);
        ``unit_levels_``'s row blocks and the refits of ``best_estimators_`` run as
        as many threads (arrays in memory) or worker tasks (a memmap). Results are
        identical for any ``n_jobs``.
    random_state : int, RandomState or None, default=None
        Draws of the permutations and control labels (all made in the parent).
    verbose : int, default=0
        Progress bars from 1, joblib messages from 2.
    error_score : "raise" or float, default=np.nan
        Score of a probe fit (or scoring) that raises on the exact path: the search
        goes on, the fold scores ``error_score`` (NaN folds are left out of the
        mean) and one ``sklearn.exceptions.FitFailedWarning`` per labelling names
        the (feature, unit, fold) pairs. ``"raise"`` re-raises the first error.
        The probe's own parameters are checked before any fit (a bad one raises
        :class:`skdni.InvalidParameterError`).

    Attributes
    ----------
    scores_ : DataFrame of shape (n_features, n_units)
        Mean held-out score per (feature, unit) (folds with nothing to score — e.g. no
        labelled test row — are left out of the mean).
    scores_std_ : DataFrame of shape (n_features, n_units)
        Standard deviation of the held-out scores over the folds.
    cv_results_ : dict of ndarrays
        One entry per (feature, unit): ``feature``, ``unit``, ``feature_index``,
        ``unit_index``, ``kind``, ``split{k}_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score`` (float: rank among the feature's
        units above chance, 1 = best, ties share the smallest rank; NaN for a unit
        that is not above chance, so a unit at chance is never rank 1),
        ``chance_score``, ``skill``, ``above_chance``.
    skill_ : DataFrame of shape (n_features, n_units)
        Bounded skill of every mean score: 0 at chance, 1 perfect. Accuracy-like
        scores (best value 1: accuracy, balanced accuracy, ROC AUC, ...):
        ``(score − chance) / (1 − chance)``; R²: the R² itself; ``neg_*`` error
        scorers: ``(score − chance) / (0 − chance)``. NaN where chance is perfect.
    above_chance_ : DataFrame of bool, shape (n_features, n_units)
        The findings: mean score above chance and skill above 0. Only these units
        are ranked and enter ``top_units_``.
    top_units_ : dict
        Feature name → unit indices above chance, best first (at most ``top_k``,
        ≥ ``min_score``); empty for a feature without such a unit.
    features_at_chance_ : ndarray of str
        The features with no unit in ``top_units_`` (nothing found for them).
    best_units_ : ndarray of shape (n_features,)
        The highest-scoring unit of every feature, above chance or not (it backs
        ``best_estimators_``, ``predict`` and ``score``); check ``above_chance_``
        before reading it as a finding.
    best_estimators_ : dict
        Feature name → the probe refitted on all labelled rows of its best unit.
        Features scored by the fast SVM engine get a ``LinearSVC()`` holding the
        exact minimiser of its objective (``coef_``, ``intercept_`` from the fast
        solver, no liblinear refit); it predicts as ``LinearSVC().fit`` does.
    chance_scores_ : Series
        Per feature, the mean CV score of the constant predictor (majority class or
        training mean).
    unit_levels_ : dict
        Per feature, every unit's mean activation where the feature is ``"off"`` /
        ``"on"`` (a binary feature's two classes; a continuous feature's lowest /
        highest tenth of labels), the ``"sign"`` of the association (+1, -1, 0) and
        the rows averaged (``"n_off"``, ``"n_on"``) — the levels that sign-aware
        clamps (``value="on"``) and calibrated oracles use. Set by ``fit`` (not by
        ``partial_fit``).
    feature_kinds_ : Series
        ``"binary"`` (exactly two distinct labels) or ``"continuous"`` per feature.
    methods_ : Series
        The engine that scored each feature (``"svm"``, ``"logistic"``, ``"threshold"``,
        ``"ols"`` or ``"exact"``).
    n_splits_ : int
        Number of CV folds.
    feature_names_in_ : ndarray of str
        Unit names, when ``X`` is a DataFrame with string columns.
    n_features_in_ : int
        Number of units.
    target_names_ : ndarray of str
        Feature names (the columns of ``Y``, ``"y0"``, ... or ``"y"``).
    pvalues_, qvalues_ : DataFrame of shape (n_features, n_units)
        Only with ``n_permutations > 0``.
    control_scores_, selectivity_ : DataFrame of shape (n_features, n_units)
        Only with ``control``.
    conditional_scores_ : DataFrame of shape (n_features, n_units)
        Only with ``condition="char"``: mean over folds of R²(character + unit) −
        R²(character); about 0 for a unit that only encodes the current character.
    char_scores_ : Series
        Only with ``condition="char"``: per feature, the held-out R² of the
        character alone.
    stability_ : DataFrame
        Only with ``n_bootstrap``: per (feature, unit), ``p_top_k`` (share of
        resamples in which the unit is among the ``top_k`` by mean score) and its
        rank's median and 95% interval (``rank_low``, ``rank_high``; 1 = best).

    Notes
    -----
    *Exact reference.* ``method="exact"`` clones exactly the probe asked for
    (``LinearSVC()`` at its default ``tol=1e-4``, ...). The fast engines solve the same
    problems to optimality (SVM, OLS, threshold) or to a binned second-order
    approximation (logistic); the agreement tests therefore compare them with
    tight-tolerance solvers (``LinearSVC(tol=1e-10)``,
    ``LogisticRegression(tol=1e-10)``).

    *Degenerate folds*, the same on both paths: a training fold with one class predicts
    that class (``DummyClassifier(strategy="most_frequent")`` on the exact path, since
    sklearn classifiers refuse one class); a fold without labelled test rows, or an R²
    fold with fewer than two, scores NaN and is left out of the mean; a constant test
    fold gets ``r2_score``'s ``force_finite`` value. A constant unit gets OLS slope 0
    (see ``skdni.probing._fast_ols`` for the one case where sklearn returns rounding
    noise instead).

    *Out of core.* A ``numpy.memmap`` ``X`` (e.g. ``np.load("H.npy", mmap_mode="r")``
    or the output of ``LSTMActivationTransformer(out="H.npy")``) is never loaded
    whole: OLS statistics are pooled over row chunks (exact), and the sort-based
    probes (SVM, logistic, threshold) sort blocks of units read from a unit-major
    scratch copy written next to the file, so memory is ``n_chars × (n_features +
    a few units)``, not ``n_chars × n_units``. :meth:`partial_fit` streams OLS
    probes over chunks of rows. See ``skdni.probing._streaming``.

    *On a cluster.* Every parallel loop is joblib's: under
    ``joblib.parallel_config(backend="dask")`` the search runs on a
    ``dask.distributed`` cluster with results identical to ``n_jobs=1``. Pass a
    memmap of a ``.npy`` file on a filesystem the workers share: tasks then carry
    the file name and a row or unit range, and workers read their block themselves;
    other large arguments are scattered once per parallel call by joblib's Dask
    backend.

    *Findings.* A unit whose mean score is not above chance (for R², whose R² is
    not above 0) is no finding, whatever its order among the others: it gets no
    rank, is left out of ``top_units_`` and of the selector's support, and a
    feature with no finding is listed in ``features_at_chance_``. Order findings
    across features by ``skill_``, not by the raw score, whose chance level
    differs from feature to feature.

    *Permutations* reorder whole label blocks of texts (``groups``) or shift labels
    circularly, then rescore every pair with the same engines and folds; p-values are
    ``(1 + #{null ≥ observed}) / (1 + n_permutations)``, q-values Benjamini–Hochberg
    over all pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.probing import NeuronProbeSearch
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(400) < 0.5).astype(float)
    >>> X = rng.normal(size=(400, 5))
    >>> X[:, 3] += 2 * y
    >>> search = NeuronProbeSearch(cv=5, top_k=1).fit(X, y)
    >>> search.top_units_["y"].tolist()
    [3]
    >>> search.transform(X).shape
    (400, 1)
    """

    _parameter_constraints: dict = {
        "probe": [StrOptions(set(NAMED_PROBES)), HasMethods(["fit"])],
        "cv": ["cv_object"],
        "scoring": [None, _ScorerName(), callable, dict],
        "top_k": [Interval(Integral, 1, None, closed="left")],
        "min_score": [None, Interval(Real, None, None, closed="neither")],
        "method": [StrOptions({"auto", "exact", "fast"})],
        "n_permutations": [Interval(Integral, 0, None, closed="left")],
        "control": [None, StrOptions({"shuffle_types"}), callable],
        "condition": [None, StrOptions({"char"})],
        "n_bootstrap": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [None, Integral],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "error_score": [StrOptions({"raise"}), Real],
    }

    def __init__(
        self,
        probe="auto",
        *,
        cv=20,
        scoring=None,
        top_k=10,
        min_score=None,
        method="auto",
        n_permutations=0,
        control=None,
        condition=None,
        n_bootstrap=0,
        n_jobs=None,
        random_state=None,
        verbose=0,
        error_score=np.nan,
    ):
        self.probe = probe
        self.cv = cv
        self.scoring = scoring
        self.top_k = top_k
        self.min_score = min_score
        self.method = method
        self.n_permutations = n_permutations
        self.control = control
        self.condition = condition
        self.n_bootstrap = n_bootstrap
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.error_score = error_score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # ------------------------------------------------------------------ validation
    def _validate_X(self, X, reset):
        if is_out_of_core(X):
            # A memmap stays on disk: checked block by block, never converted whole.
            X = validate_data(self, X, reset=reset, skip_check_array=True)
            check_finite_blocks(X, self._unit_names(X.shape[1]))
            return X
        X = validate_data(
            self, X, reset=reset, dtype=np.float64, ensure_all_finite=False
        )
        # A finite sum proves every value finite without an n × p mask; only a
        # non-finite sum (or an overflow) needs the element-wise check.
        bad = np.zeros((0, 0), dtype=bool)
        if not np.isfinite(np.sum(X)):
            bad = ~np.isfinite(X)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise InputError(
                f"X (activations) contains NaN or infinity: unit column "
                f"{self._unit_names(X.shape[1])[col]!r} (index {col}), row {row}, "
                f"{int(bad.sum())} value(s) in all; activations must be finite."
            )
        return X

    def _unit_names(self, n_units=None):
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{j}" for j in range(n_units)], dtype=object)

    @staticmethod
    def _validate_Y(Y, n_rows):
        if Y is None:
            raise InputError(
                "NeuronProbeSearch requires y to be passed, but the target y is None: "
                "pass the labels Y (n_chars,) or (n_chars, n_features)."
            )
        if isinstance(Y, pd.DataFrame):
            names = np.asarray([str(c) for c in Y.columns], dtype=object)
            # results are keyed by feature name: a repeated name would lose one
            twice = sorted({n for n in names if (names == n).sum() > 1})
            if twice:
                raise InputError(
                    f"Y has duplicate feature (column) names {twice}: every feature "
                    "needs its own name."
                )
        elif isinstance(Y, pd.Series):
            names = np.asarray(
                [str(Y.name) if Y.name is not None else "y"], dtype=object
            )
        else:
            names = None
        if is_out_of_core(Y) and Y.ndim in (1, 2):
            # A memmap of labels stays on disk: read in row blocks by the engines.
            if Y.dtype.kind not in "biuf":
                raise InputTypeError(
                    f"Y must hold numeric labels (NaN for unlabelled rows), got a "
                    f"memmap of dtype {Y.dtype}."
                )
            values = Y
        else:
            try:
                values = np.asarray(Y, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InputTypeError(
                    f"Y must hold numeric labels (NaN for unlabelled rows): {exc}"
                ) from exc
        one_d = values.ndim == 1
        if one_d:
            values = values[:, None]
        if values.ndim != 2:
            raise InputError(f"Y must be 1-D or 2-D, got {values.ndim} dimensions.")
        if names is None:
            names = np.asarray(
                ["y"] if one_d else [f"y{i}" for i in range(values.shape[1])],
                dtype=object,
            )
        if values.shape[0] != n_rows:
            raise InputError(
                f"X has {n_rows} rows (characters) but Y has {values.shape[0]}: "
                "they must describe the same characters."
            )
        for _, block in _label_rows(values):
            if np.isinf(block).any():
                col = int(np.argwhere(np.isinf(block))[0][1])
                raise InputError(f"Y column {names[col]!r} contains infinity.")
        return values, names, one_d

    def _splits(self, X, groups):
        """The CV folds: ``(folds, folds.fold_id)`` (the fold ids are None unless
        the test sets partition the rows)."""
        cv = self.cv
        if isinstance(cv, Integral) and groups is not None:
            cv = GroupKFold(cv)
        try:
            folds = Folds.from_cv(check_cv(cv), X, groups)
        except ValueError as exc:
            n_groups = None if groups is None else np.unique(groups).size
            raise InputError(
                f"Cannot make the cross-validation folds ({exc}); rows: {X.shape[0]}"
                + ("" if n_groups is None else f", groups (texts): {n_groups}")
                + "."
            ) from exc
        if self.n_bootstrap and np.unique(groups).size < folds.n_folds:
            raise InputError(
                f"n_bootstrap resamples whole texts, and needs at least as many "
                f"texts as folds: {np.unique(groups).size} text(s) in groups for "
                f"{folds.n_folds} folds."
            )
        return folds, folds.fold_id

    def _validate_rows(self, X, groups, char_types):
        """``groups`` and ``char_types`` as arrays of one entry per row of ``X``."""
        n_rows = X.shape[0]
        if n_rows < 2:
            raise InputError(
                f"NeuronProbeSearch needs at least 2 rows to cross-validate, got "
                f"{n_rows} sample (n_samples = {n_rows})."
            )
        if isinstance(self.scoring, dict):
            unknown = set(self.scoring) - {"binary", "continuous"}
            if unknown:
                raise InputError(
                    f"scoring dict keys must be 'binary' and/or 'continuous', "
                    f"got {sorted(unknown)}."
                )
        if self.n_bootstrap and groups is None:
            raise InputError(
                "n_bootstrap resamples whole texts: pass groups (the text index of "
                "every row) to fit."
            )
        if self.condition == "char" and char_types is None:
            raise InputError(
                "condition='char' needs the character of every row: "
                "fit(X, Y, char_types=list(''.join(texts)))."
            )
        if self.control == "shuffle_types" and char_types is None:
            raise InputError(
                "control='shuffle_types' needs the character of every row: "
                "fit(X, Y, char_types=list(''.join(texts)))."
            )
        arrays = []
        for name, values in (("groups", groups), ("char_types", char_types)):
            if values is not None:
                # A string is a sequence of characters, not one value.
                values = np.asarray(list(values) if isinstance(values, str) else values)
                if values.ndim != 1 or values.shape[0] != n_rows:
                    raise InputError(
                        f"X has {n_rows} rows but {name} has {values.size} entries."
                    )
            arrays.append(values)
        return arrays

    def _labellings(self, Y, groups, char_types, rng):
        """The labellings scored with the same engines and folds, drawn lazily in
        this order from ``rng``: ``("observed", Y)``, one ``("null", ·)`` per
        permutation, then ``("control", ·)``."""
        yield "observed", Y
        for _ in tqdm(
            range(self.n_permutations), desc="permutations", disable=not self.verbose
        ):
            yield "null", Y[permutation_index(Y.shape[0], groups, rng)]
        if self.control is None:
            return
        if self.control == "shuffle_types":
            yield "control", control_labels(Y, char_types, rng)
            return
        Y_control = np.asarray(self.control(np.array(Y), rng), dtype=np.float64)
        if Y_control.shape != Y.shape:
            raise InputError(
                f"The control callable returned shape {Y_control.shape}, "
                f"expected {Y.shape}."
            )
        yield "control", Y_control

    def _plan(self, names, kinds, classes, folds):
        """The engines scoring the features (see ``skdni.probing._engines``)."""
        if self.method == "fast" and not folds.is_partition:
            raise InputError(
                "method='fast' needs folds whose test sets partition the rows (K-fold "
                "style); this cv does not. Use method='auto' or 'exact'."
            )
        return plan_engines(
            self.probe,
            self.scoring,
            self.method,
            names,
            kinds,
            classes,
            folds,
            self.error_score,
        )

    def _chance(self, engines, source, Y, folds):
        """Mean chance score of every feature (q,), from its engine."""
        chance = np.empty(Y.shape[1])
        for engine in engines:
            chance[engine.features] = self._mean(engine.chance(source, Y, folds))[0]
        return chance

    @staticmethod
    def _score(engines, source, Y, folds, parallel):
        """Held-out scores (q, p, K) of one labelling, each feature by its engine."""
        out = np.full((Y.shape[1], source.shape[1], folds.n_folds), np.nan)
        for engine in engines:
            out[engine.features] = engine.fold_scores(source, Y, folds, parallel)
        return out

    @staticmethod
    def _mean(scores):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(scores, axis=-1), np.nanstd(scores, axis=-1)

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None, *, char_types=None):
        """Score every (feature, unit) probe by cross-validation and rank the units.

        Parameters
        ----------
        X : array-like of shape (n_chars, n_units)
            Activations, one row per character.
        y : array-like of shape (n_chars,) or (n_chars, n_features)
            The labels ``Y``; NaN marks a character a feature does not label (named
            ``y`` as everywhere in scikit-learn).
        groups : array-like of shape (n_chars,), default=None
            Text index of every row (``skdni.sequence_ids(texts)``): folds then never
            split a text, and permutations move whole texts' label blocks.
        char_types : array-like of shape (n_chars,), default=None
            The character of every row (e.g. ``list("".join(texts))``), needed by
            ``control="shuffle_types"`` and ``condition="char"``. In a Pipeline:
            ``search__char_types=...``.

        Returns
        -------
        self : NeuronProbeSearch
            The fitted search.
        """
        X = self._validate_X(X, reset=True)
        self.__dict__.pop("_ols_stream", None)  # fit starts over; partial_fit pools
        Y, names, one_d = self._validate_Y(y, X.shape[0])
        groups, char_types = self._validate_rows(X, groups, char_types)
        kinds, classes = _feature_kinds(Y, names)
        folds, _ = self._splits(X, groups)
        engines = self._plan(names, kinds, classes, folds)
        rng = check_random_state(self.random_state)
        exceed, control = np.zeros((len(names), X.shape[1])), None
        parallel = Parallel(
            self.n_jobs, verbose=max(0, self.verbose - 1), return_as="generator"
        )
        with ActivationSource(X) as source, parallel:
            top = np.array([values[-1] for values in classes])
            for role, labels in self._labellings(Y, groups, char_types, rng):
                # Label statistics computed once per labelling, read by all engines.
                stats = LabelStats(source, labels, folds, top)
                for engine in engines:
                    engine.label_stats = stats
                fold_scores = self._score(engines, source, labels, folds, parallel)
                mean = self._mean(fold_scores)[0]
                if role == "observed":
                    scores, observed, observed_stats = fold_scores, mean, stats
                elif role == "null":  # p-value counts: null mean ≥ observed mean
                    exceed += mean >= observed
                else:
                    control = mean
            for engine in engines:
                engine.label_stats = observed_stats
            chance = self._chance(engines, source, Y, folds)
            for engine in engines:  # the refit tasks carry their engine, not Y
                engine.label_stats = None
            self._set_results(scores, names, one_d, kinds, engines, chance)
            # Arrays in memory: these per-block and per-feature tasks run in threads
            # (numpy and BLAS release the GIL; shipping row blocks of X to worker
            # processes would cost more than the work). Out of core, tasks carry file
            # references to the search's workers.
            local = (
                parallel
                if source.out_of_core
                else Parallel(self.n_jobs, prefer="threads", return_as="generator")
            )
            self.unit_levels_ = unit_levels(X, Y, names, kinds, classes, local)
            if not source.out_of_core and not all(e.refit_in_threads for e in engines):
                local = Parallel(1, return_as="generator")  # see refit_in_threads
            self._set_refits(X, Y, engines, local)
        self._set_tests(observed, exceed, control)
        self._set_analyses(X, Y, groups, char_types, folds, rng)
        return self

    @available_if(lambda self: isinstance(self.probe, str) and self.probe == "ols")
    def partial_fit(self, X, y, groups_chunk=None):
        """Pool one chunk of rows into a streamed OLS search (exact, any row count).

        Only ``probe="ols"`` streams exactly, and the method exists only then: the
        per-fold sufficient statistics are pooled over chunks, so after the last chunk
        every attribute equals ``fit``'s on all rows with the same folds (to
        rounding, ~1e-12). The sort-based probes
        (SVM, logistic, threshold) need each unit's whole column: pass a memmap to
        ``fit`` instead, which reads blocks of units from disk.

        Folds must be known before all rows are seen, so they come from the group
        ids: row ``i`` is in test fold ``groups_chunk[i] % cv`` (``cv`` must be an
        int). Without ``groups_chunk`` the whole chunk is one group: the ``c``-th call
        (from 0) goes to fold ``c % cv``. ``fit(X, y, cv=PredefinedSplit(groups % cv))``
        on the concatenated chunks is the equivalent one-shot search. Attributes are
        updated after every call; ``n_permutations`` and ``control`` are not
        supported.

        Parameters
        ----------
        X : array-like of shape (n_rows_chunk, n_units)
            Activations of one chunk of rows (an array, DataFrame or memmap).
        y : array-like of shape (n_rows_chunk,) or (n_rows_chunk, n_features)
            Same feature columns on every call.
        groups_chunk : array-like of int, shape (n_rows_chunk,), default=None
            Non-negative text index of every row (e.g. ``skdni.sequence_ids(texts) +
            first_text_index`` of the chunk).

        Returns
        -------
        self : NeuronProbeSearch
            The search, its attributes updated with this chunk.
        """
        first = not hasattr(self, "_ols_stream")
        if first:
            validate_params(self)
        self._check_streaming()
        X = self._validate_X(X, reset=first)
        Y, names, one_d = self._validate_Y(y, X.shape[0])
        if first:
            self._ols_stream = StreamingOLSState(self.cv, X.shape[1], Y.shape[1])
            self._ols_stream.names = names
            self._ols_stream.calls = 0
        state = self._ols_stream
        if list(names) != list(state.names):
            raise InputError(
                f"Y of this partial_fit call has feature columns {list(names)}, "
                f"earlier calls had {list(state.names)}."
            )
        if groups_chunk is None:
            fold = np.full(X.shape[0], state.calls % self.cv, dtype=np.int64)
        else:
            if np.shape(groups_chunk)[0] != X.shape[0]:
                raise InputError(
                    f"X has {X.shape[0]} rows but groups_chunk has "
                    f"{np.shape(groups_chunk)[0]} entries."
                )
            fold = fold_of_groups(groups_chunk, self.cv, "groups_chunk")
        # A chunk is meant to fit in memory, memmapped or not.
        state.update(np.asarray(X, dtype=np.float64), Y, fold)
        state.calls += 1
        scores, chance = state.scores()
        kinds = ["continuous" if d.size > 2 else "binary" for d in state.distinct]
        self._set_results(scores, names, one_d, kinds, None, self._mean(chance)[0])
        self.best_estimators_ = {}
        for j, name in enumerate(names):
            # The least-squares fit on all rows seen, from the pooled moments.
            slope, intercept = state.coefficients(self.best_units_[j])
            probe = LinearRegression()
            probe.coef_ = np.array([slope[j]])
            probe.intercept_ = float(intercept[j])
            probe.n_features_in_ = 1
            probe.rank_ = 1
            self.best_estimators_[name] = probe
        return self

    def _check_streaming(self):
        """Refuse the parameters ``partial_fit`` cannot stream."""
        if not isinstance(self.cv, Integral) or isinstance(self.cv, bool):
            raise InputError(
                f"partial_fit needs cv to be an int (the number of folds), got "
                f"{self.cv!r}: folds are assigned as group id % cv."
            )
        if self.method == "exact" or self.n_permutations or self.control is not None:
            raise InputError(
                "partial_fit supports neither method='exact', n_permutations nor "
                "control: they need all rows at once; use fit."
            )

    # ------------------------------------------------------------------ results
    def _set_results(self, scores, names, one_d, kinds, engines, chance):
        """The fitted attributes ``fit`` and ``partial_fit`` share, from the fold
        scores (q, p, K) and the chance levels (q,); ``engines=None``: OLS probes
        with the default scoring (``partial_fit``)."""
        mean, std = self._mean(scores)
        unit_names = self._unit_names(scores.shape[1])
        methods, skill_kinds, scorers = (
            ["ols"] * len(names),
            ["r2"] * len(names),
            [get_scorer("r2")] * len(names),
        )
        for engine in engines or ():
            for i, j in enumerate(engine.features):
                methods[j] = engine.name
                skill_kinds[j] = skill_kind(engine.scoring, engine.classifiers[i])
                scorers[j] = engine.scorers[i]
        self.target_names_ = names
        self._y_1d = one_d
        self.n_splits_ = scores.shape[2]
        self.feature_kinds_ = pd.Series(kinds, index=names, name="kind")
        self.methods_ = pd.Series(methods, index=names, name="method")
        self.scores_ = pd.DataFrame(mean, index=names, columns=unit_names)
        self.scores_std_ = pd.DataFrame(std, index=names, columns=unit_names)
        self.chance_scores_ = pd.Series(chance, index=names, name="chance")
        self._set_findings(mean, names, unit_names, skill_kinds)
        self.cv_results_ = self._cv_results(scores, mean, std, names, unit_names)
        self._scorers = scorers

    def _set_refits(self, X, Y, engines, parallel):
        """``best_estimators_``: every feature's probe refitted on its best unit,
        one task per feature (the same fits for any ``n_jobs``)."""
        owner = {j: (e, i) for e in engines for i, j in enumerate(e.features)}
        # Out of core, a few features' columns at a time, not all best units at once.
        fitted = dict(
            parallel(
                delayed(_refit)(*owner[j], j, column, labels)
                for j, column, labels in refit_columns(X, Y, self.best_units_)
            )
        )
        self.best_estimators_ = {
            name: fitted[j] for j, name in enumerate(self.target_names_)
        }

    def _set_tests(self, observed, exceed, control):
        """``pvalues_``/``qvalues_`` from the permutation counts ``exceed`` (null
        mean ≥ ``observed`` mean), ``control_scores_``/``selectivity_`` from the
        control's mean scores."""
        index, columns = self.scores_.index, self.scores_.columns
        if self.n_permutations:
            pvalues = (1.0 + exceed) / (1.0 + self.n_permutations)
            pvalues[np.isnan(observed)] = np.nan
            self.pvalues_ = pd.DataFrame(pvalues, index=index, columns=columns)
            self.qvalues_ = pd.DataFrame(
                benjamini_hochberg(pvalues), index=index, columns=columns
            )
        if self.control is not None:
            self.control_scores_ = pd.DataFrame(control, index=index, columns=columns)
            self.selectivity_ = self.scores_ - self.control_scores_

    def _set_analyses(self, X, Y, groups, char_types, folds, rng):
        """``conditional_scores_`` / ``char_scores_`` (``condition="char"``) and
        ``stability_`` (``n_bootstrap``)."""
        index, columns = self.scores_.index, self.scores_.columns
        if self.condition == "char":
            score = (
                exact_conditional_fold_scores
                if self.method == "exact"
                else conditional_fold_scores
            )
            delta, char_only = score(
                np.asarray(X, dtype=np.float64),
                np.asarray(Y, dtype=np.float64),
                char_codes(char_types),
                [folds[k] for k in range(folds.n_folds)],
            )
            mean_delta, _ = self._mean(delta)
            self.conditional_scores_ = pd.DataFrame(
                mean_delta, index=index, columns=columns
            )
            self.char_scores_ = pd.Series(
                self._mean(char_only)[0], index=index, name="char_r2"
            )
        if self.n_bootstrap:
            self.stability_ = ranking_stability(
                self,
                np.asarray(X, dtype=np.float64),
                np.asarray(Y, dtype=np.float64),
                groups,
                self.n_bootstrap,
                top_k=self.top_k,
                random_state=rng,
                n_splits=folds.n_folds,
            )

    def _cv_results(self, scores, mean, std, names, unit_names):
        q, p, n_folds = scores.shape
        results = {
            "feature": np.repeat(names, p),
            "unit": np.tile(unit_names, q),
            "feature_index": np.repeat(np.arange(q), p),
            "unit_index": np.tile(np.arange(p), q),
            "kind": np.repeat(np.asarray(self.feature_kinds_, dtype=object), p),
        }
        for k in range(n_folds):
            results[f"split{k}_test_score"] = scores[:, :, k].ravel()
        results["mean_test_score"] = mean.ravel()
        results["std_test_score"] = std.ravel()
        # Only findings are ranked: a unit at chance is rank NaN, never rank 1.
        results["rank_test_score"] = finding_ranks(
            mean, self.above_chance_.to_numpy()
        ).ravel()
        results["chance_score"] = np.repeat(self.chance_scores_.to_numpy(), p)
        results["skill"] = self.skill_.to_numpy().ravel()
        results["above_chance"] = self.above_chance_.to_numpy().ravel()
        return results

    def _set_findings(self, mean, names, unit_names, skill_kinds):
        """``skill_``, ``above_chance_``, ``top_units_``, ``best_units_`` and
        ``features_at_chance_`` from the mean scores and ``chance_scores_``."""
        chance = self.chance_scores_.to_numpy()
        skill = skill_scores(mean, chance, skill_kinds)
        found = above_chance(mean, chance, skill)
        self.skill_ = pd.DataFrame(skill, index=names, columns=unit_names)
        self.above_chance_ = pd.DataFrame(found, index=names, columns=unit_names)
        self.top_units_, self.best_units_ = rank_units(
            mean, names, self.top_k, self.min_score, found
        )
        self.features_at_chance_ = np.asarray(
            [name for name, units in self.top_units_.items() if not len(units)],
            dtype=object,
        )

    # ------------------------------------------------------------------ selector
    def _get_support_mask(self):
        check_is_fitted(self)
        mask = np.zeros(self.n_features_in_, dtype=bool)
        for units in self.top_units_.values():
            mask[units] = True
        return mask

    def get_feature_names_out(self, input_features=None):
        """Names of the selected units (the union of ``top_units_``).

        Parameters
        ----------
        input_features : array-like of str, default=None
            Unit names; default: ``feature_names_in_`` or ``"x0"``, ``"x1"``, ...

        Returns
        -------
        names : ndarray of str
            The selected units' names, in unit order.
        """
        check_is_fitted(self)
        if input_features is None:
            input_features = self._unit_names(self.n_features_in_)
        return super().get_feature_names_out(input_features)

    # ------------------------------------------------------------------ predictor
    def predict(self, X):
        """Predict every feature with the probe of its best unit.

        Parameters
        ----------
        X : array-like of shape (n_chars, n_units)
            Activations, the same units as in ``fit``.

        Returns
        -------
        Y_pred : ndarray of shape (n_chars,) or (n_chars, n_features)
            Predicted labels (1-D if ``Y`` was 1-D in ``fit``).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        out = np.column_stack(
            [
                self.best_estimators_[name].predict(X[:, [u]]).astype(np.float64)
                for name, u in zip(self.target_names_, self.best_units_, strict=True)
            ]
        )
        return out[:, 0] if self._y_1d else out

    def score(self, X, y):
        """Mean over features of each best probe's score on its labelled rows.

        Parameters
        ----------
        X : array-like of shape (n_chars, n_units)
            Activations, the same units as in ``fit``.
        y : array-like of shape (n_chars,) or (n_chars, n_features)
            Labels of the same features as in ``fit``; NaN rows are left out.

        Returns
        -------
        score : float
            The mean, over features, of the search's scorer (accuracy, R², or the
            ``scoring`` given) of each feature's best probe.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Y, _, _ = self._validate_Y(y, X.shape[0])
        if Y.shape[1] != len(self.target_names_):
            raise InputError(
                f"Y has {Y.shape[1]} feature columns, the search was fitted on "
                f"{len(self.target_names_)}."
            )
        values = []
        for j, (name, u) in enumerate(
            zip(self.target_names_, self.best_units_, strict=True)
        ):
            labelled = ~np.isnan(Y[:, j])
            values.append(
                self._scorers[j](
                    self.best_estimators_[name], X[labelled][:, [u]], Y[labelled, j]
                )
            )
        return float(np.mean(values))

    def to_frame(self):
        """One tidy row per (feature, unit): scores next to chance and statistics.

        Returns
        -------
        frame : DataFrame of shape (n_features * n_units, 13)
            Columns ``feature``, ``unit``, ``kind``, ``score``, ``std``, ``chance``,
            ``skill``, ``above_chance``, ``rank``, ``n_splits``, ``pvalue``,
            ``qvalue``, ``selectivity`` (NaN where not computed).
        """
        check_is_fitted(self)
        r = self.cv_results_
        q, p = self.scores_.shape

        def flat(attr):
            frame = getattr(self, attr, None)
            return np.full(q * p, np.nan) if frame is None else frame.to_numpy().ravel()

        return pd.DataFrame(
            {
                "feature": r["feature"],
                "unit": r["unit"],
                "kind": r["kind"],
                "score": r["mean_test_score"],
                "std": r["std_test_score"],
                "chance": r["chance_score"],
                "skill": r["skill"],
                "above_chance": r["above_chance"],
                "rank": r["rank_test_score"],
                "n_splits": self.n_splits_,
                "pvalue": flat("pvalues_"),
                "qvalue": flat("qvalues_"),
                "selectivity": flat("selectivity_"),
            }
        )
