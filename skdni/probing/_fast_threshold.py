"""The accuracy-optimal 1-D threshold rule: an sklearn classifier and its fast engine.

The model (both paths implement exactly this):

* Candidates, for direction ``s = +1`` ("class 1 iff x > t"): t = −∞, the midpoints
  ``0.5 * (v_i + v_{i+1})`` of consecutive distinct training values in ascending order,
  t = +∞; then the same thresholds for ``s = −1`` ("class 1 iff x < t").
* ``fit`` picks the first candidate, in that order, with the highest training accuracy
  (so ties go to s = +1, then to the lowest threshold).
* A training set with a single class predicts that class (t = −∞ or +∞).
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets

from .._compat import check_is_fitted, validate_data
from .._errors import InputError
from .._numba import kernel

__all__ = ["ThresholdClassifier", "threshold_unit_scores"]


def _best_threshold(x, y):
    """(accuracy count, threshold, direction) of the first most accurate candidate."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    n, n_pos = ys.size, int(ys.sum())
    # Cut c puts the c smallest distinct values on the "x <= t" side.
    last = np.r_[np.flatnonzero(xs[1:] != xs[:-1]), n - 1]
    neg_le = np.cumsum(1 - ys)[last]
    pos_le = np.cumsum(ys)[last]
    acc_plus = np.r_[n_pos, neg_le + (n_pos - pos_le)]
    values = xs[last]
    thresholds = np.r_[-np.inf, 0.5 * (values[:-1] + values[1:]), np.inf]
    best_plus = int(np.argmax(acc_plus))
    best_minus = int(np.argmin(acc_plus))
    if n - acc_plus[best_minus] > acc_plus[best_plus]:
        return n - acc_plus[best_minus], thresholds[best_minus], -1
    return acc_plus[best_plus], thresholds[best_plus], 1


def _is_binary(estimator):
    """decision_function exists for binary rules (and before fit, as sklearn's do)."""
    return not hasattr(estimator, "classes_") or estimator.classes_.size == 2


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """The training-accuracy-optimal threshold on one feature (a decision stump).

    Predicts ``classes_[1]`` where ``x > threshold_`` (``direction_ = 1``) or
    ``x < threshold_`` (``direction_ = -1``), with ``x = X[:, feature_]``. Candidates
    are ±∞ and the midpoints between consecutive distinct training values; ties go to
    ``direction_ = 1``, then to the lowest threshold, then (with several columns) to the
    first column. Every 1-D linear classifier is such a rule, so on one column this is
    the best training accuracy any of them can reach. Binary targets only (its tags
    say so: ``classifier_tags.multi_class`` is False).

    Attributes
    ----------
    classes_ : ndarray of shape (2,) or (1,)
        The class labels seen in ``fit``.
    feature_ : int
        The column the rule thresholds (0 for a single column).
    threshold_ : float
        The threshold (±inf for a rule predicting one class).
    direction_ : {1, -1}
        1: ``classes_[1]`` above the threshold; -1: below it.
    n_features_in_ : int
        Number of columns seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.probing import ThresholdClassifier
    >>> clf = ThresholdClassifier().fit([[0.1], [0.2], [0.8], [0.9]], [0, 0, 1, 1])
    >>> float(clf.threshold_), int(clf.direction_)
    (0.5, 1)
    >>> clf.predict([[0.4], [0.6]]).tolist()
    [0, 1]
    """

    # No hyper-parameters: the rule is fully determined by the training data.
    _parameter_constraints: dict = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # One threshold separates two classes: sklearn's checks then use binary
        # targets. (A multi-class y still fits: a stump predicting two classes.)
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y):
        """Pick the column, threshold and direction that maximise training accuracy.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training values (usually one column: a unit's activations).
        y : array-like of shape (n_samples,)
            Binary class labels (one class is allowed: the rule predicts it).

        Returns
        -------
        self : ThresholdClassifier
            The fitted rule.
        """
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.size > 2:
            raise InputError(
                f"ThresholdClassifier: Only binary classification is supported; y "
                f"has {self.classes_.size} classes {self.classes_.tolist()[:5]}."
            )
        self.feature_, self.threshold_, self.direction_ = 0, -np.inf, 1
        if self.classes_.size == 1:
            return self
        best = -1
        for col in range(X.shape[1]):
            correct, threshold, direction = _best_threshold(X[:, col], codes)
            if correct > best:
                best = correct
                self.feature_, self.threshold_, self.direction_ = (
                    col,
                    threshold,
                    direction,
                )
        return self

    @available_if(_is_binary)
    def decision_function(self, X):
        """Signed distance to the threshold (positive means ``classes_[1]``).

        An infinite threshold (a rule predicting one class) gives the constant ±1, not
        ±inf, so scorers such as ROC AUC see a constant score instead of failing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values, the same columns as in ``fit``.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``direction_ * (X[:, feature_] - threshold_)``, or ±1 everywhere.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        if np.isinf(self.threshold_):
            sign = np.sign(-self.direction_ * self.threshold_)
            return np.full(X.shape[0], float(sign))
        return self.direction_ * (X[:, self.feature_] - self.threshold_)

    def predict(self, X):
        """``classes_[1]`` on the threshold's positive side, else ``classes_[0]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values, the same columns as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        if self.classes_.size == 1:
            return np.full(X.shape[0], self.classes_[0])
        x = X[:, self.feature_]
        positive = x > self.threshold_ if self.direction_ == 1 else x < self.threshold_
        return self.classes_[positive.astype(int)]


@kernel
def threshold_unit_scores(xs, fs, cs, xf, cf, fold_off, n_folds):
    """Held-out accuracy of :class:`ThresholdClassifier` per feature and fold."""
    q, n = cs.shape
    out = np.full((q, n_folds), np.nan)
    for j in range(q):
        codes = cs[j]
        tot_pos = 0
        tot_neg = 0
        for i in range(n):
            if codes[i] == 1:
                tot_pos += 1
            elif codes[i] == 0:
                tot_neg += 1
        for k in range(n_folds):
            lo, hi = fold_off[k], fold_off[k + 1]
            f_pos = 0
            f_neg = 0
            for s in range(lo, hi):
                if cf[j, s] == 1:
                    f_pos += 1
                elif cf[j, s] == 0:
                    f_neg += 1
            n_pos = tot_pos - f_pos
            n_neg = tot_neg - f_neg
            if f_pos + f_neg == 0 or n_pos + n_neg == 0:
                continue
            if n_pos == 0 or n_neg == 0:
                out[j, k] = (f_pos if n_pos > 0 else f_neg) / (f_pos + f_neg)
                continue
            # Scan the training rows in ascending order; a cut sits between two
            # distinct training values. Candidate 0 is t = -inf (everything class 1).
            best_plus = n_pos
            lo_plus = -np.inf
            hi_plus = -np.inf
            best_min = n_pos
            lo_min = -np.inf
            hi_min = -np.inf
            neg_le = 0
            pos_le = 0
            last = 0.0
            seen = False
            for i in range(n):
                v = codes[i]
                if v < 0 or fs[i] == k:
                    continue
                x = xs[i]
                if seen and x != last:
                    acc = neg_le + (n_pos - pos_le)
                    if acc > best_plus:
                        best_plus, lo_plus, hi_plus = acc, last, x
                    if acc < best_min:
                        best_min, lo_min, hi_min = acc, last, x
                if v == 1:
                    pos_le += 1
                else:
                    neg_le += 1
                last = x
                seen = True
            acc = n_neg  # t = +inf: everything class 0
            if acc > best_plus:
                best_plus, lo_plus, hi_plus = acc, np.inf, np.inf
            if acc < best_min:
                best_min, lo_min, hi_min = acc, np.inf, np.inf
            direction = 1
            t_lo, t_hi = lo_plus, hi_plus
            if (n_pos + n_neg) - best_min > best_plus:
                direction = -1
                t_lo, t_hi = lo_min, hi_min
            t = t_lo if np.isinf(t_lo) else 0.5 * (t_lo + t_hi)
            correct = 0
            for s in range(lo, hi):
                v = cf[j, s]
                if v < 0:
                    continue
                pred = xf[s] > t if direction == 1 else xf[s] < t
                if pred == (v == 1):
                    correct += 1
            out[j, k] = correct / (f_pos + f_neg)
    return out
