"""FunctionFeaturizer: imperative Python labelling code as a feature (paper §3.1)."""

import os
from numbers import Integral

import numpy as np

from .._compat import StrOptions
from .._docstring import fill_doc
from .._errors import InputError
from ._base import _TextFeaturizer, check_labels, progress


def _label_chunk(texts, first, func, n_cols, *, verbose=0):
    """Call ``func`` on every text and stack the validated labels; runs in workers.

    Without ``n_cols`` (in ``fit``) the first text sets the number of columns.
    """
    blocks, seen_in = [], "fit"
    for i, text in enumerate(progress(texts, verbose, "labelling")):
        blocks.append(check_labels(func(text), text, first + i, n_cols, seen_in))
        if n_cols is None:
            n_cols, seen_in = blocks[0].shape[1], f"text {first}"
    return first, np.concatenate(blocks, axis=0)


def _binary_columns(labels: np.ndarray) -> np.ndarray:
    """Per column: is every non-NaN label 0 or 1?"""
    return (np.isnan(labels) | (labels == 0) | (labels == 1)).all(axis=0)


@fill_doc
class FunctionFeaturizer(_TextFeaturizer):
    """Wrap a Python function that labels the characters of a text.

    ``func(text)`` returns per-character labels: a sequence or an array of shape
    ``(len(text),)`` or ``(len(text), k)`` with values in [0, 1] (NaN where the
    function cannot label). Wrong lengths or values outside [0, 1] raise
    :class:`~skdni.InputError` naming the text.

    Parameters
    ----------
    func : callable
        ``func(text) -> labels``. Lambdas and closures work in-process; with
        ``n_jobs > 1`` the function is sent to worker processes and must pickle (a
        module-level function or an instance of a module-level class).
    names : list of str or None, default=None
        One name per output column. None: ``func.names`` if it has that attribute,
        else the function's name (suffixed ``:0``, ``:1``, ... for several columns).
    kind : {"auto", "binary", "continuous"} or list of them, default="auto"
        Whether the labels are binary (probed with a classifier) or continuous
        (probed with a regression), for all columns or one per column. ``"auto"``:
        binary if every label seen in ``fit`` is 0 or 1.
    %(n_jobs)s
    %(verbose)s
    %(out)s

    Attributes
    ----------
    n_features_out_ : int
    feature_names_ : list of str
    feature_kinds_ : list of {"binary", "continuous"}

    Examples
    --------
    >>> from skdni.features import FunctionFeaturizer
    >>> vowel = FunctionFeaturizer(lambda t: [c in "aeiou" for c in t], names=["vowel"])
    >>> vowel.fit_transform(["abe"]).ravel().tolist()
    [1.0, 0.0, 1.0]
    >>> vowel.feature_kinds_
    ['binary']
    """

    _parameter_constraints = {
        "func": [callable],
        "names": [list, tuple, None],
        "kind": [StrOptions({"auto", "binary", "continuous"}), list, tuple],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "out": [None, str, os.PathLike],
    }

    def __init__(
        self, func, *, names=None, kind="auto", n_jobs=None, verbose=0, out=None
    ):
        self.func = func
        self.names = names
        self.kind = kind
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.out = out

    def _iter_labels(self, texts, n_cols, max_chars=None):
        """Yield ``(lo, hi, labels)`` of the chunks of texts, in corpus order."""
        chunks = self._iter_chunks(
            _label_chunk, texts, self.func, n_cols, max_chars=max_chars
        )
        for lo, hi, (first, block) in chunks:
            # in fit each chunk takes its column count from its own first text
            if n_cols is None:
                n_cols = block.shape[1]
            elif block.shape[1] != n_cols:
                raise InputError(
                    f"Text {first}: the feature function returned {block.shape[1]} "
                    f"columns, but {n_cols} were seen in text 0."
                )
            yield lo, hi, block

    def _labels(self, texts, n_cols):
        blocks = [block for *_, block in self._iter_labels(texts, n_cols)]
        return np.concatenate(blocks, axis=0)

    def _learn(self, k, binary):
        """Names and kinds of ``k`` columns; ``binary[j]``: column j held only 0/1."""
        names = self.names
        if names is None:
            names = getattr(self.func, "names", None)
        if names is None:
            base = getattr(self.func, "__name__", type(self.func).__name__)
            base = "func" if base == "<lambda>" else base
            names = [base] if k == 1 else [f"{base}:{j}" for j in range(k)]
        names = [str(n) for n in names]
        if len(names) != k or len(set(names)) != k:
            raise InputError(
                f"{k} feature column(s) but names {names!r}: give one distinct name "
                "per column."
            )
        self.n_features_out_ = k
        self.feature_names_ = names
        if isinstance(self.kind, list | tuple):
            if len(self.kind) != k or set(self.kind) - {"binary", "continuous"}:
                raise InputError(
                    f"kind lists one of 'binary'/'continuous' per column ({k}), got "
                    f"{self.kind!r}."
                )
            self.feature_kinds_ = list(self.kind)
        elif self.kind == "auto":
            self.feature_kinds_ = [
                "binary" if b else "continuous" for b in np.asarray(binary)
            ]
        else:
            self.feature_kinds_ = [self.kind] * k

    # ------------------------------------------- the template's hooks

    def _fit(self, texts):
        labels = self._labels(texts, None)
        self._learn(labels.shape[1], _binary_columns(labels))

    def _fit_transform_array(self, texts):
        labels = self._labels(texts, None)
        self._learn(labels.shape[1], _binary_columns(labels))
        return labels

    def _fit_transform_out(self, texts):
        binary = []

        def chunks():
            for lo, hi, block in self._iter_labels(
                texts, None, self._out_chunk_chars()
            ):
                binary.append(_binary_columns(block))
                yield lo, hi, block

        out = self._write_out(texts, chunks())
        self._learn(out.shape[1], np.logical_and.reduce(binary))
        return out

    def _transform_array(self, texts):
        return self._labels(texts, self.n_features_out_)

    def _transform_out(self, texts):
        k = self.n_features_out_
        return self._write_out(
            texts, self._iter_labels(texts, k, self._out_chunk_chars(k))
        )
