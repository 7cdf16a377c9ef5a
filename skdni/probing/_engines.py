"""Probe engines: one class per way of scoring the (feature, unit) probes of a search.

:class:`NeuronProbeSearch` plans, per feature, which engine scores it (the first
registered fast engine that implements the feature's probe and supports its kind and
scoring, else :class:`ExactEngine`), then asks every engine for its fold scores on the
observed, permuted and control labellings, for chance levels and for the refit of the
best unit. See :class:`ProbeEngine` for the interface and how to add an engine.
"""

import warnings

import numpy as np
from sklearn.base import clone, is_regressor
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.svm import SVC, LinearSVC

from .._compat import validate_params
from .._errors import InputError
from .._warm_up import wait_for_warm_up
from ._exact import exact_fold_scores
from ._fast_logistic import logistic_unit_scores
from ._fast_ols import ols_fold_scores
from ._fast_rank import RANK_METRICS, svm_rank_scores
from ._fast_svc import svc_fit_1d, svc_sorted_scores
from ._fast_svm import svm_fit_1d, svm_unit_scores
from ._fast_threshold import ThresholdClassifier, threshold_unit_scores
from ._sorted import binary_fold_scores, fold_label_codes
from ._stats import chance_fold_scores, default_chance_scores, fold_label_stats
from ._streaming import stream_label_stats, stream_ols_fold_scores

__all__ = [
    "ENGINES",
    "ExactEngine",
    "LabelStats",
    "LogisticEngine",
    "OLSEngine",
    "ProbeEngine",
    "SVMEngine",
    "SVMRankEngine",
    "SVCEngine",
    "SortedEngine",
    "ThresholdEngine",
    "plan_engines",
]

# The probe that probe="auto" means for binary features.
_AUTO = "svm"


def _owning_arrays(estimator):
    """``estimator`` with every fitted array attribute that is a view made a copy.

    ``LinearRegression().fit`` on one column keeps ``coef_`` as a 1-element view of
    scipy's ``lstsq`` work array, which has one entry per training row: 50 refitted
    probes on 2M rows would pin 800 MB. The copies hold the same values.
    """
    for name, value in list(vars(estimator).items()):
        if (
            name.endswith("_")
            and isinstance(value, np.ndarray)
            and value.base is not None
        ):
            setattr(estimator, name, value.copy())
    return estimator


def _label_stats(source, Y, folds, feats, top=None):
    """:func:`~._stats.fold_label_stats` of ``Y[:, feats]``: in one pass over a
    fold-ordered copy in memory, pooled over row chunks out of core."""
    if source.out_of_core:
        return stream_label_stats(Y, folds.fold_id, folds.n_folds, top, feats=feats)
    Yf = Y if len(feats) == Y.shape[1] else Y[:, feats]
    return fold_label_stats(Yf, folds.fold_id, folds.n_folds, top)


class LabelStats:
    """The per-fold label statistics of one labelling, shared by the engines.

    :func:`~._stats.fold_label_stats` of the columns an engine asks for, computed
    on first request (one pass over those columns of ``Y``) and kept: the OLS
    engine's label ranges and its chance levels read the same statistics, instead
    of each computing its own (three passes and copies of the label columns per
    fit before); a permuted labelling computes only what its engines read.

    Parameters
    ----------
    source : ActivationSource
        The activations (decides whether labels are pooled over row chunks).
    Y : ndarray or numpy.memmap of shape (n_rows, n_labels)
        One labelling of all features.
    folds : Folds
        K-fold style folds.
    top : ndarray of shape (n_labels,)
        Every feature's largest label value (a binary feature's larger class, whose
        per-fold count is ``"pos"``).
    """

    def __init__(self, source, Y, folds, top):
        self.source, self.Y, self.folds, self.top = source, Y, folds, top
        self._cache = {}

    def of(self, feats):
        """Statistics of the columns ``feats``: arrays (n_folds, len(feats))."""
        key = tuple(int(j) for j in feats)
        if key not in self._cache:
            self._cache[key] = _label_stats(
                self.source, self.Y, self.folds, list(key), self.top[list(key)]
            )
        return self._cache[key]


class ProbeEngine:
    """Base class of the probe engines; an engine scores a group of features.

    An engine implements one probe (a named probe of ``NeuronProbeSearch``, or any
    estimator for :class:`ExactEngine`) for some feature kinds and scorings, on
    K-fold style folds (test sets partitioning the rows; only the exact engine
    handles other splitters). The search groups the features that the same engine
    class scores with the same scoring into one instance.

    Adding an engine: subclass (usually :class:`SortedEngine`, whose subclasses
    only name a numba kernel), set ``name`` and ``probe``, implement
    :meth:`supports`, :meth:`estimator` and :meth:`fold_scores` (:meth:`chance` and
    :meth:`refit` have general defaults), and append the class to :data:`ENGINES`.
    A ``probe`` name no other engine has becomes a valid
    ``NeuronProbeSearch(probe=...)`` value (for binary features; continuous ones
    always get ``"ols"``). Its test compares its fold scores with the exact path's
    (``method="exact"``, which clones :meth:`estimator`).

    Parameters
    ----------
    features : list of int
        The columns of ``Y`` this engine scores.
    names : list of str
        Their feature names (for messages).
    estimators : list of estimator
        Per feature, the sklearn probe the engine computes (or fits, exactly).
    scoring : None, str or callable
        The scoring as given for these features (None: the probe's default,
        accuracy for classifiers, R² for regressors).
    classes : list of ndarray
        Per feature, its label values (a binary feature's two classes, low first).
    error_score : "raise" or float, default=np.nan
        Score of a probe fit that raises (engines whose fits cannot fail ignore it).

    Attributes
    ----------
    name : str (class attribute)
        What ``methods_`` shows for the features the engine scores.
    probe : str or None (class attribute)
        The named probe it implements: ``"svm"``, ``"logistic"``, ``"threshold"``
        or ``"ols"`` (the probe of a continuous feature under every named probe,
        and of a classifier estimator's continuous features); ``None`` for the exact
        engine. Several engines may implement one probe (e.g. for other scorings);
        the first in :data:`ENGINES` that :meth:`supports` a feature scores it.
    scorers : list of callable
        Per feature, ``get_scorer`` of the scoring (or of the default).
    classifiers : list of bool
        Per feature, whether its probe is a classifier (not a regressor).
    label_stats : LabelStats or None
        Set by the search before each labelling: its per-fold label statistics,
        computed once per column set and shared by the engines (read with
        ``self._stats``).
    """

    name = None
    probe = None
    # Whether refits may run in threads at once: not for an arbitrary estimator
    # (liblinear and libsvm share one global random state that concurrent fits
    # would mix, making best_estimators_ depend on n_jobs).
    refit_in_threads = False
    # The search's LabelStats of the labelling being scored (set per labelling).
    label_stats = None

    def __init__(self, features, names, estimators, scoring, classes, error_score):
        self.features = list(features)
        self.names = list(names)
        self.estimators = list(estimators)
        self.scoring = scoring
        self.classes = list(classes)
        self.error_score = error_score
        self.classifiers = [not is_regressor(e) for e in self.estimators]
        self.scorers = []
        for name, classifier in zip(self.names, self.classifiers, strict=True):
            default = "accuracy" if classifier else "r2"
            try:
                self.scorers.append(get_scorer(default if scoring is None else scoring))
            except ValueError as exc:
                raise InputError(f"scoring for feature {name!r}: {exc}") from exc

    def _stats(self, source, Y, folds, top=None):
        """:func:`~._stats.fold_label_stats` of this engine's columns of ``Y``: from
        the search's shared :class:`LabelStats` when it is of this ``Y``, else
        computed (``top``: the binary features' larger classes, for ``"pos"``)."""
        shared = self.label_stats
        if shared is not None and shared.Y is Y and shared.folds is folds:
            return shared.of(self.features)
        return _label_stats(source, Y, folds, self.features, top)

    @classmethod
    def supports(cls, kind, scoring):
        """Whether the engine scores a feature of this kind with this scoring.

        Parameters
        ----------
        kind : {"binary", "continuous"}
            The feature's kind.
        scoring : None, str or callable
            Its scoring as given (None: the probe's default).

        Returns
        -------
        bool
        """
        return False

    @classmethod
    def estimator(cls, kind, scoring):
        """The sklearn estimator this engine computes for such a feature.

        The exact path (``method="exact"``) clones it, the refit fits it, and it
        is what an agreement test compares with.

        Parameters
        ----------
        kind : {"binary", "continuous"}
            The feature's kind.
        scoring : None, str or callable
            Its scoring as given.

        Returns
        -------
        estimator : sklearn estimator (unfitted)
        """
        raise NotImplementedError

    def fold_scores(self, source, Y, folds, parallel):
        """Held-out score of every (feature, unit, fold) of this engine's features.

        Parameters
        ----------
        source : ActivationSource
            The activations, in memory or out of core (``read_rows``,
            ``read_units`` and the task parts of ``skdni.probing._streaming``).
        Y : ndarray or numpy.memmap of shape (n_rows, n_labels)
            One labelling of all features (observed, permuted or control); the
            engine reads its columns ``self.features``. NaN marks unlabelled rows.
        folds : Folds
            The CV folds (``fold_id``, ``order``, ``offsets``, and the index pairs).
        parallel : sklearn.utils.parallel.Parallel
            The search's one ``Parallel`` (``return_as="generator"``): call it with
            ``delayed`` tasks, consume the result before returning, and size the
            task list from ``effective_n_jobs(parallel.n_jobs)`` or from the data's
            shape only (results must not depend on ``n_jobs``).

        Returns
        -------
        scores : ndarray of shape (len(self.features), n_units, n_folds)
            NaN where a fold has nothing to score.
        """
        raise NotImplementedError

    def chance(self, source, Y, folds):
        """Per-fold score of the constant predictor for this engine's features.

        Closed forms for the default scorings on K-fold style folds (training
        majority class, training mean's R²), 0.5 for balanced accuracy and ROC AUC
        of a classifier, else ``DummyClassifier(strategy="most_frequent")`` /
        ``DummyRegressor()`` fitted and scored per fold.

        Parameters
        ----------
        source : ActivationSource
            The activations (decides whether labels are pooled over row chunks).
        Y : ndarray or numpy.memmap of shape (n_rows, n_labels)
            The observed labels.
        folds : Folds
            The CV folds.

        Returns
        -------
        chance : ndarray of shape (len(self.features), n_folds)
        """
        if self.scoring is None and folds.is_partition:
            top = np.array([values[-1] for values in self.classes])
            stats = self._stats(source, Y, folds, top)
            return default_chance_scores(stats, self.classifiers).T
        out = np.empty((len(self.features), folds.n_folds))
        for i, j in enumerate(self.features):
            rank = isinstance(self.scoring, str) and self.scoring in RANK_METRICS
            if rank and self.classifiers[i]:
                # Balanced accuracy and ROC AUC are 0.5 for any constant predictor
                # (whatever the class balance): that is their chance level.
                out[i] = 0.5
                continue
            out[i] = chance_fold_scores(
                np.asarray(Y[:, j], dtype=np.float64),
                folds,
                folds.fold_id,
                binary=self.classifiers[i],
                scorer=self.scorers[i],
            )
        return out

    def refit(self, i, x, y):
        """The probe of feature ``self.features[i]`` fitted on all its labelled rows.

        Parameters
        ----------
        i : int
            Index into ``self.features``.
        x : ndarray of shape (n_rows, 1)
            The best unit's column (float64).
        y : ndarray of shape (n_rows,)
            The feature's labels, NaN where unlabelled.

        Returns
        -------
        estimator : fitted sklearn estimator
            Predicts from one column, as the probes scored in ``fold_scores``.
        """
        labelled = ~np.isnan(y)
        # Copies the estimator may keep (x and y can be views of shared buffers).
        x, y = (
            (x[labelled], y[labelled]) if not labelled.all() else (x.copy(), y.copy())
        )
        return _owning_arrays(clone(self.estimators[i]).fit(x, y))


class ExactEngine(ProbeEngine):
    """Clone and fit the probe for every (feature, unit, fold): any estimator, any
    scorer, any splitter (``skdni.probing._exact``). A fit that raises scores
    ``error_score`` and is reported in one ``FitFailedWarning`` per labelling."""

    name = "exact"

    @classmethod
    def supports(cls, kind, scoring):
        return True

    def fold_scores(self, source, Y, folds, parallel):
        scores, failures = exact_fold_scores(
            source.X,
            Y,
            self.features,
            self.estimators,
            self.classifiers,
            self.scorers,
            folds,
            parallel,
            self.error_score,
        )
        if failures:
            pairs = sorted({(i, u) for i, u, _, _ in failures})
            shown = "; ".join(
                f"feature {self.names[i]!r}, unit {u} (fold {k}): {message}"
                for i, u, k, message in failures[:3]
            )
            warnings.warn(
                f"{len(failures)} of {scores.size} probe fits failed, in "
                f"{len(pairs)} (feature, unit) pair(s); their folds score "
                f"error_score={self.error_score!r}. First: {shown}",
                FitFailedWarning,
                stacklevel=2,
            )
        return scores


# LinearRegression()'s parameters, under which the closed-form refit is its fit.
_PLAIN_OLS = LinearRegression().get_params()


def _fitted_linear_regression(template, x, y):
    """``clone(template)`` (a ``LinearRegression()``) set to the least-squares line
    of the labelled rows of ``x`` (n, 1), from its closed form; None where that is
    not ``LinearRegression().fit``'s own solution (then the caller fits it).

    ``fit`` centres ``x`` and ``y`` on their means and solves the centred problem by
    SVD (``scipy.linalg.lstsq``); on one column that is ``b = Σx̃ỹ / Σx̃²``, ``a = ȳ −
    b x̄`` with the same means, so coefficients and predictions agree to rounding
    (~1e-15 relative; tested against ``LinearRegression().fit``), without sklearn's
    validation and a copy of the column per refit. A constant column (centred sum
    of squares at rounding level, where ``lstsq``'s answer is noise / noise) is
    left to ``fit``.
    """
    # An unfitted LinearRegression holds exactly its parameters (no get_params).
    if type(template) is not LinearRegression or vars(template) != _PLAIN_OLS:
        return None
    labelled = ~np.isnan(y)
    if not labelled.all():
        x, y = x[labelled], y[labelled]
    n = y.shape[0]
    if n < 2:
        return None
    x_offset = np.mean(x, axis=0)  # as sklearn's _preprocess_data: shape (1,)
    y_offset = np.mean(y, axis=0)
    xc = x[:, 0] - x_offset[0]
    sxx = float(xc @ xc)
    if not sxx > n * (8 * np.finfo(np.float64).eps * x_offset[0]) ** 2:
        return None
    coef = np.array([float(xc @ (y - y_offset)) / sxx])
    estimator = LinearRegression()  # clone(template), without its checks
    estimator.n_features_in_ = 1
    estimator.coef_ = coef
    estimator.rank_ = 1
    estimator.singular_ = np.array([np.sqrt(sxx)])
    estimator.intercept_ = y_offset - np.dot(x_offset, coef)
    return estimator


class OLSEngine(ProbeEngine):
    """``LinearRegression()`` on each unit, R² from per-fold moments
    (``skdni.probing._fast_ols``; pooled over row chunks out of core); the refit is
    the least-squares line in closed form (:func:`_fitted_linear_regression`)."""

    refit_in_threads = True  # a closed form, no random state
    name = "ols"
    probe = "ols"

    @classmethod
    def supports(cls, kind, scoring):
        return scoring is None or (isinstance(scoring, str) and scoring == "r2")

    @classmethod
    def estimator(cls, kind, scoring):
        return LinearRegression()

    def fold_scores(self, source, Y, folds, parallel):
        fold_id, n_folds, feats = folds.fold_id, folds.n_folds, self.features
        stats = self._stats(source, Y, folds)
        if source.out_of_core:
            # Labels read chunk by chunk: no copy of Y, fold-ordered or not.
            return stream_ols_fold_scores(
                source, Y, fold_id, n_folds, stats["min"], stats["max"], feats, parallel
            )
        # Y's columns are sliced fold by fold: no copy of the label columns.
        return ols_fold_scores(
            source.X, Y, fold_id, n_folds, stats["min"], stats["max"], feats
        )

    def refit(self, i, x, y):
        fitted = _fitted_linear_regression(self.estimators[i], x, y)
        return super().refit(i, x, y) if fitted is None else fitted


class SortedEngine(ProbeEngine):
    """A sort-based binary probe: each unit's column sorted once, a numba
    ``kernel`` answering every (feature, fold) from that order
    (``skdni.probing._sorted``). Subclasses set ``kernel`` (and ``options``)."""

    kernel = None
    # Whether the kernel takes the label codes row by row, shape (n, q).
    rows = False
    # The warm-up task compiling the kernels (``skdni._warm_up``): a first fit waits
    # for the background compile of ``import skdni.probing`` when it is under way.
    warm_up_task = None

    @property
    def options(self):
        """Extra arguments of the kernel after ``n_folds``."""
        return ()

    @classmethod
    def supports(cls, kind, scoring):
        return kind == "binary" and (
            scoring is None or (isinstance(scoring, str) and scoring == "accuracy")
        )

    def fold_scores(self, source, Y, folds, parallel):
        if self.warm_up_task is not None:
            wait_for_warm_up(self.warm_up_task)
        top = np.array([values[-1] for values in self.classes])
        return binary_fold_scores(
            self.kernel,
            source,
            fold_label_codes(Y, self.features, top, folds),
            folds,
            parallel,
            options=self.options,
            rows=self.rows,
        )


def _codes(y, top):
    """int8 label codes of ``y``: 1 where ``top``, -1 where NaN, else 0."""
    codes = (y == top).astype(np.int8)
    unlabelled = np.isnan(y)
    if unlabelled.any():
        codes[unlabelled] = -1
    return codes


def _fitted_linear_svc(template, x, y, classes):
    """``clone(template)`` (a ``LinearSVC()``, class-balanced or not) set to the
    exact minimiser of its objective on the labelled rows of ``x``, from the fast
    engine's solver.

    A liblinear refit takes ~10 ms per 50k rows to stop near that minimiser; this
    takes a few passes over ``x`` and predicts as ``LinearSVC().fit`` does (tested).
    """
    codes = _codes(y, classes[-1])
    c1 = c0 = 1.0
    if template.class_weight == "balanced":  # sklearn's n / (2 · count) per class
        n_pos, n_neg = float(np.sum(codes == 1)), float(np.sum(codes == 0))
        c1, c0 = (n_pos + n_neg) / (2.0 * n_pos), (n_pos + n_neg) / (2.0 * n_neg)
    w, b, n_iter = svm_fit_1d(
        np.ascontiguousarray(x, dtype=np.float64), codes, 100, c1, c0
    )
    estimator = clone(template)
    estimator.coef_ = np.array([[w]])
    estimator.intercept_ = np.array([b])
    estimator.classes_ = np.asarray(classes, dtype=np.float64)
    estimator.n_features_in_ = 1
    estimator.n_iter_ = int(n_iter)
    return estimator


def _fitted_svc(template, x, y, classes):
    """``clone(template)`` (``SVC(kernel="linear")``) holding the exact minimiser
    (w, b) of its objective on the labelled rows of ``x``, from the fast solver.

    libsvm needs minutes on a 200k-row column. A linear SVC is fixed by its two
    margin points: fitted on x₁ = (1 − b)/w (``classes_[1]``) and x₀ = (−1 − b)/w
    (``classes_[0]``) with sample weights ≥ w²/2 (so the hard-margin dual weight
    w²/2 fits under C·weight), libsvm returns exactly that separator, whose
    ``coef_``, ``intercept_`` and predictions are the minimiser's; its
    ``support_vectors_`` are those two points, not rows of ``x``. A zero slope
    (no orientation lowers the objective: a weak unit with an imbalanced feature)
    predicts one class for every row, the sign of b; that refit is a
    ``DummyClassifier(strategy="constant")`` predicting it (an ``SVC`` cannot hold
    w = 0 without a minutes-long libsvm fit on every row).
    """
    codes = _codes(y, classes[-1])
    w, b = svc_fit_1d(np.ascontiguousarray(x, dtype=np.float64), codes)
    estimator = clone(template)
    if w == 0:
        constant = classes[-1] if b > 0 else classes[0]
        return DummyClassifier(strategy="constant", constant=np.array([constant])).fit(
            np.zeros((2, 1)), np.asarray(classes[:2], dtype=np.float64)
        )
    points = np.array([[(-1.0 - b) / w], [(1.0 - b) / w]])
    weight = max(1.0, w * w)
    estimator.fit(
        points,
        np.asarray(classes[:2], dtype=np.float64),
        sample_weight=np.full(2, weight),
    )
    return estimator


class SVMEngine(SortedEngine):
    """``LinearSVC()``'s exact 1-D minimiser, held-out accuracy
    (``skdni.probing._fast_svm``); the refit holds the same exact minimiser."""

    refit_in_threads = True  # a closed form, no random state
    name = "svm"
    probe = "svm"
    kernel = staticmethod(svm_unit_scores)
    warm_up_task = "svm"
    rows = True

    @classmethod
    def estimator(cls, kind, scoring):
        return LinearSVC()

    def refit(self, i, x, y):
        return _fitted_linear_svc(self.estimators[i], x[:, 0], y, self.classes[i])


class SVMRankEngine(SVMEngine):
    """Balanced accuracy of ``LinearSVC(class_weight="balanced")`` or ROC AUC of
    ``LinearSVC()``, exact, from ranks (``skdni.probing._fast_rank``)."""

    kernel = staticmethod(svm_rank_scores)
    warm_up_task = "svm_rank"

    @property
    def options(self):
        return (RANK_METRICS[self.scoring],)

    @classmethod
    def supports(cls, kind, scoring):
        return kind == "binary" and isinstance(scoring, str) and scoring in RANK_METRICS

    @classmethod
    def estimator(cls, kind, scoring):
        # Fitted to plain accuracy, the SVM's threshold on an imbalanced feature
        # predicts the majority: balanced accuracy needs the classes balanced.
        if scoring == "balanced_accuracy":
            return LinearSVC(class_weight="balanced")
        return LinearSVC()


class SVCEngine(SortedEngine):
    """The paper's probe, ``SVC(kernel="linear")`` (hinge loss, unregularised
    intercept, C = 1): its exact 1-D minimiser, held-out accuracy
    (``skdni.probing._fast_svc``); the refit holds the same minimiser."""

    refit_in_threads = True  # a closed form, no random state
    name = "svc"
    probe = "svc"
    kernel = staticmethod(svc_sorted_scores)
    warm_up_task = "svc"

    @classmethod
    def estimator(cls, kind, scoring):
        return SVC(kernel="linear")

    def refit(self, i, x, y):
        return _fitted_svc(self.estimators[i], x[:, 0], y, self.classes[i])


class LogisticEngine(SortedEngine):
    """``LogisticRegression()`` from a binned second-order approximation
    (``skdni.probing._fast_logistic``)."""

    name = "logistic"
    probe = "logistic"
    kernel = staticmethod(logistic_unit_scores)
    warm_up_task = "logistic"
    # Bins of the activation histogram the logistic solver works on.
    n_bins = 512

    @property
    def options(self):
        return (self.n_bins,)

    @classmethod
    def estimator(cls, kind, scoring):
        return LogisticRegression()


class ThresholdEngine(SortedEngine):
    """:class:`ThresholdClassifier`, the training-optimal threshold
    (``skdni.probing._fast_threshold``)."""

    name = "threshold"
    probe = "threshold"
    kernel = staticmethod(threshold_unit_scores)
    warm_up_task = "threshold"

    @classmethod
    def estimator(cls, kind, scoring):
        return ThresholdClassifier()


# The fast engines, in the order they are tried; ExactEngine scores the rest.
ENGINES = [
    OLSEngine,
    SVMEngine,
    SVMRankEngine,
    SVCEngine,
    LogisticEngine,
    ThresholdEngine,
]

# The named probes: values of NeuronProbeSearch(probe=...).
NAMED_PROBES = {"auto", *(engine.probe for engine in ENGINES)}


def _probe_of(probe, kind):
    """The named probe of a feature, or None if the estimator is fitted as given."""
    if isinstance(probe, str):
        if kind == "continuous":
            return "ols"
        return _AUTO if probe == "auto" else probe
    if is_regressor(probe) or kind == "binary":
        return None
    return "ols"  # a classifier's continuous features


def plan_engines(probe, scoring, method, names, kinds, classes, folds, error_score):
    """The engines scoring a search's features, each feature in exactly one.

    Parameters
    ----------
    probe : str or estimator
        ``NeuronProbeSearch.probe``.
    scoring : None, str, callable or dict
        ``NeuronProbeSearch.scoring`` (a dict has keys "binary" / "continuous").
    method : {"auto", "exact", "fast"}
        ``NeuronProbeSearch.method``.
    names, kinds, classes : lists, one entry per feature
        Feature names, kinds ("binary" / "continuous") and label values.
    folds : Folds
        The CV folds (fast engines need ``folds.is_partition``).
    error_score : "raise" or float
        Passed to every engine.

    Returns
    -------
    engines : list of ProbeEngine
        In order of their first feature.
    """
    if not isinstance(probe, str) and hasattr(probe, "_parameter_constraints"):
        # Nested parameters are checked here, once, so that a bad one raises a
        # clear error instead of failing every fit (and scoring error_score).
        validate_params(probe)
    groups = {}
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        metric = scoring.get(kind) if isinstance(scoring, dict) else scoring
        named = _probe_of(probe, kind)
        fast = next(
            (e for e in ENGINES if e.probe == named and e.supports(kind, metric)),
            None,
        )
        if fast is not None:
            estimator = fast.estimator(kind, metric)
        elif named is not None:  # the probe's estimator, on the exact path
            first = next(e for e in ENGINES if e.probe == named)
            estimator = first.estimator(kind, metric)
        else:
            estimator = probe
        if method == "exact" or not folds.is_partition:
            fast = None
        if fast is None and method == "fast":
            raise InputError(
                f"method='fast' has no fast engine for feature {name!r} (probe "
                f"{probe!r}, scoring {metric!r}); use method='auto' or 'exact'."
            )
        engine = fast or ExactEngine
        key = (
            engine,
            metric if metric is None or isinstance(metric, str) else id(metric),
        )
        group = groups.setdefault(key, {"scoring": metric, "rows": []})
        group["rows"].append((j, name, estimator, classes[j]))
    return [
        engine(
            [row[0] for row in group["rows"]],
            [row[1] for row in group["rows"]],
            [row[2] for row in group["rows"]],
            group["scoring"],
            [row[3] for row in group["rows"]],
            error_score,
        )
        for (engine, _), group in groups.items()
    ]
