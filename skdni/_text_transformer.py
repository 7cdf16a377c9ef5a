"""The text-transformer template: input checks -> row blocks -> array or memmap.

Every skdni transformer takes a list of texts and returns one row per character.
:class:`TextTransformerMixin` writes ``fit``, ``transform`` and ``fit_transform``
once (parameter validation, the ``out=`` checks, the text checks, the fitted check,
the in-memory or out-of-core output); a transformer fills in hooks:

* ``_fit(texts)``: learn from the checked texts;
* ``_transform_blocks(texts)``: yield ``(rows, block)`` pairs, ``rows`` a slice or
  an index array of the output rows, in any order covering every row once;
* optionally ``_transform_array(texts)`` (the in-memory output in one piece, when
  there is a faster way than filling blocks) and ``_transform_out(texts)`` (the
  memmap ``out``), ``_fit_transform_array(texts)`` and
  ``_fit_transform_out(texts)`` (fitting and transforming in one pass over the
  texts), ``_check_texts(texts)`` (stricter text checks), ``_check_params()``
  (checks beyond ``_parameter_constraints``, before the texts are read) and
  ``_out_dtype()``.

Each output path is built from :meth:`TextTransformerMixin._write_rows`, which
fills an array or the ``.npy`` file ``out`` from ``(rows, block)`` pairs.
"""

import numpy as np
from sklearn.base import TransformerMixin

from ._compat import _fit_context, check_is_fitted
from ._docstring import fill_doc
from ._memmap import RowWriter, check_out, close_out, discard_out, open_out
from ._texts import check_texts, text_lengths

__all__ = ["TextTransformerMixin"]


class TextTransformerMixin(TransformerMixin):
    """Template of skdni's text transformers (texts -> one row per character).

    Subclasses set ``_fitted_attr`` (an attribute ``fit`` sets), ``_output_what``
    (what the rows are, for error messages) and implement the hooks named in the
    module docstring. The estimator needs an ``out`` parameter.
    """

    #: an attribute that ``fit`` sets, checked by ``transform``
    _fitted_attr = "feature_names_"
    #: what the output rows hold (in the ``out=`` error message)
    _output_what = "labels"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags

    # ------------------------------------------------------------ the template

    @fill_doc
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, texts, y=None):
        """Check ``texts`` and learn what ``transform`` needs.

        Parameters
        ----------
        %(texts)s
        %(y)s

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._check_params()
        self._fit(self._check_texts(texts))
        return self

    @fill_doc
    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, texts, y=None):
        """Fit to ``texts`` and return their rows, reading each text once.

        Parameters
        ----------
        %(texts)s
        %(y)s

        Returns
        -------
        %(rows)s
        """
        check_out(self, self._output_what)
        self._check_params()
        texts = self._check_texts(texts)
        if self.out is None:
            return self._fit_transform_array(texts)
        return self._fit_transform_out(texts)

    @fill_doc
    def transform(self, texts):
        """One row per character of ``texts``.

        Parameters
        ----------
        %(texts)s

        Returns
        -------
        %(rows)s
        """
        check_is_fitted(self, self._fitted_attr)
        check_out(self, self._output_what)
        texts = self._check_texts(texts)
        if self.out is None:
            return self._transform_array(texts)
        return self._transform_out(texts)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : None
            Ignored: texts have no input feature names; present for API
            compatibility.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column, e.g. ``"range:add"`` or ``"h17"``.
        """
        check_is_fitted(self, self._fitted_attr)
        return np.array(self._feature_names(), dtype=object)

    # ------------------------------------------------------------------ hooks

    def _check_params(self):
        """Checks beyond ``_parameter_constraints``, before the texts are read."""

    def _check_texts(self, texts):
        return check_texts(texts)

    def _fit(self, texts):
        raise NotImplementedError

    def _transform_blocks(self, texts):
        raise NotImplementedError

    def _feature_names(self):
        return self.feature_names_

    def _transform_array(self, texts):
        return self._write_rows(texts, self._transform_blocks(texts))

    def _transform_out(self, texts):
        return self._write_rows(texts, self._transform_blocks(texts))

    def _fit_transform_array(self, texts):
        self._fit(texts)
        return self._transform_array(texts)

    def _fit_transform_out(self, texts):
        self._fit(texts)
        return self._transform_out(texts)

    def _out_dtype(self):
        return np.dtype(getattr(self, "dtype", np.float64))

    # --------------------------------------------------------------- the rows

    def _write_rows(self, texts, blocks):
        """Fill the output with ``blocks``, in memory or in the ``.npy`` file ``out``.

        The output is allocated at the first block, which sets the number of
        columns; a failure removes the partial file and leaves ``out`` as it was.
        """
        n_rows = int(text_lengths(texts).sum())
        rows_out = writer = None
        try:
            for rows, block in blocks:
                if rows_out is None:
                    shape = (n_rows, block.shape[1])
                    if self.out is None:
                        rows_out = np.empty(shape, self._out_dtype())
                    else:
                        rows_out = open_out(self.out, shape, self._out_dtype())
                        writer = RowWriter(rows_out)
                if writer is None or not writer.write(rows, block):
                    rows_out[rows] = block
            if writer is not None:
                writer.close()
        except BaseException:
            if writer is not None:
                writer.close(discard=True)
            if self.out is not None:
                discard_out(rows_out)
            raise
        if self.out is None:
            return rows_out
        return close_out(rows_out, self.out)
