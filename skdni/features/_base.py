"""Plumbing shared by the featurizers: text transformers, one row per character."""

import warnings
from collections.abc import Iterator

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.parallel import Parallel, delayed
from tqdm.auto import tqdm

from .._errors import InputError
from .._text_transformer import TextTransformerMixin
from .._texts import char_offsets, text_lengths

# Labels per chunk when streaming to ``out``: 2**21 cells are 16 MB of float64,
# so peak memory stays one chunk of texts whatever the corpus size.
_OUT_CHUNK_CELLS = 1 << 21
# Columns assumed before ``fit`` has counted them (fit_transform with ``out``).
_OUT_UNKNOWN_COLUMNS = 256


class _TextFeaturizer(TextTransformerMixin, BaseEstimator):
    """Base of the featurizers: tags, parallel mapping over chunks of texts.

    Subclasses set ``feature_names_`` in ``fit``; ``fit`` / ``transform`` /
    ``fit_transform`` are :class:`~skdni._text_transformer.TextTransformerMixin`'s.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    def _map_chunks(self, func, texts, *args):
        """``func(chunk_texts, first_index, *args)`` of every chunk, in corpus order."""
        return [res for _, _, res in self._iter_chunks(func, texts, *args)]

    def _iter_chunks(self, func, texts, *args, max_chars=None):
        """Yield ``(lo, hi, func(texts[lo:hi], lo, *args))`` chunk by chunk.

        Chunks are contiguous and come back in corpus order as they are computed
        (a joblib generator, so the caller can write each one away before the
        next arrives), and the output does not depend on ``n_jobs``. ``max_chars``
        caps the characters per chunk (a chunk holds at least one text). A single
        sequential chunk gets ``verbose`` so its progress bar advances per text.
        """
        n_jobs = getattr(self, "n_jobs", None)
        verbose = getattr(self, "verbose", 0)
        bounds = _chunk_bounds(texts, n_jobs, max_chars)
        if len(bounds) == 2:
            yield 0, len(texts), func(texts, 0, *args, verbose=verbose)
            return
        spans = list(zip(bounds[:-1], bounds[1:], strict=True))
        jobs = (delayed(func)(texts[lo:hi], lo, *args, verbose=0) for lo, hi in spans)
        results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
        progress_bar = tqdm(
            results,
            total=len(spans),
            disable=not verbose,
            desc=type(self).__name__,
            unit="chunk",
        )
        for (lo, hi), res in zip(spans, progress_bar, strict=True):
            yield int(lo), int(hi), res

    def _out_chunk_chars(self, n_features=None):
        """Characters per chunk so one chunk's labels hold ``_OUT_CHUNK_CELLS``."""
        if n_features is None:
            n_features = _OUT_UNKNOWN_COLUMNS
        return max(1, _OUT_CHUNK_CELLS // max(n_features, 1))

    def _write_out(self, texts, chunks):
        """Write each ``(lo, hi, labels)`` of ``chunks`` (rows of texts ``lo:hi``,
        in corpus order) into the output; return it (the memmap of ``out``)."""
        offsets = char_offsets(texts)
        blocks = (
            (slice(offsets[lo], offsets[hi]), labels) for lo, hi, labels in chunks
        )
        return self._write_rows(texts, blocks)


class _ParsingFeaturizer(_TextFeaturizer):
    """Base of the featurizers that parse texts with a grammar.

    Subclasses define ``_parse_chunk`` (a module-level function run in workers:
    ``(texts, first, *self._parse_args(), verbose) -> dict`` of arrays, ``names``,
    ``failed`` and ``n_texts``), ``_spec`` (its picklable parser arguments),
    ``_fit_parsed(parsed)`` (learn the features) and ``_labels(parsed)`` (the
    ``(n_chars, n_features)`` labels before failed texts and ``shift`` are applied).
    """

    #: chunk arrays holding chunk-local character positions
    _position_keys = ("start", "end")

    def _iter_parsed(self, texts, max_chars=None):
        return self._iter_chunks(
            type(self)._parse_chunk, texts, *self._parse_args(), max_chars=max_chars
        )

    def _parse_args(self) -> tuple:
        """``_parse_chunk``'s arguments after the texts and their first index."""
        return self._spec(), self.on_error

    def _parse(self, texts):
        results = [res for _, _, res in self._iter_parsed(texts)]
        return self._merge(texts, results)

    def _merge(self, texts, results):
        """One parse of the whole corpus from its chunks' parse results."""
        lengths = text_lengths(texts)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        firsts = np.cumsum([0] + [res["n_texts"] for res in results[:-1]])
        parsed = {
            key: np.concatenate(
                [
                    res[key] + offsets[first]
                    if key in self._position_keys
                    else res[key]
                    for res, first in zip(results, firsts, strict=True)
                ]
            )
            for key, value in results[0].items()
            if isinstance(value, np.ndarray)
        }
        parsed.update(
            names=results[0]["names"],
            failed=[failure for res in results for failure in res["failed"]],
            lengths=lengths,
            offsets=offsets,
        )
        self._note_failed(parsed["failed"])
        return parsed

    def _note_failed(self, failed):
        self.failed_texts_ = [i for i, _ in failed]
        if failed:
            warnings.warn(
                f"{len(failed)} text(s) did not parse and are labelled NaN "
                f"(failed_texts_); first: {failed[0][1]}",
                UserWarning,
                stacklevel=4,
            )

    def _chunk_labels(self, res, lo, hi, lengths):
        """Final labels (failed texts NaN, ``shift`` applied) of texts ``lo:hi``
        from their chunk's parse result ``res``, whose positions are chunk-local;
        texts never straddle chunks, so this equals those rows of ``_finish``."""
        return self._finish(self._chunk_parsed(res, lo, hi, lengths))

    def _chunk_parsed(self, res, lo, hi, lengths):
        """The parse of texts ``lo:hi`` (``_finish``'s input) from their chunk's
        parse result ``res``."""
        chunk_lengths = lengths[lo:hi]
        parsed = {k: v for k, v in res.items() if isinstance(v, np.ndarray)}
        parsed.update(
            names=res["names"],
            failed=[(i - lo, message) for i, message in res["failed"]],
            lengths=chunk_lengths,
            offsets=np.concatenate([[0], np.cumsum(chunk_lengths)]),
        )
        return parsed

    def _stream(self, texts, chunks):
        """Write the labels of the parsed ``chunks`` to ``out``; return the memmap."""
        lengths = text_lengths(texts)
        failed = []

        def labels():
            for lo, hi, res in chunks:
                failed.extend(res["failed"])
                yield lo, hi, self._chunk_labels(res, lo, hi, lengths)

        out = self._write_out(texts, labels())
        self._note_failed(failed)
        return out

    def _choose_rules(self, names, seen_ids, hidden) -> list:
        """``rules`` (checked against the grammar's ``names``), else every rule whose
        id is in ``seen_ids`` (met in ``fit``) and not ``hidden(name)``; in grammar
        order."""
        if self.rules is not None:
            unknown = [r for r in self.rules if r not in names]
            if unknown:
                raise InputError(
                    f"Unknown rule(s) {unknown} for this grammar; rules: "
                    f"{', '.join(names)}."
                )
            return [n for n in names if n in self.rules]
        seen = set(np.unique(seen_ids).tolist())
        return [n for i, n in enumerate(names) if i in seen and not hidden(n)]

    def _finish(self, parsed):
        out = self._labels(parsed)
        offsets = parsed["offsets"]
        for i, _ in parsed["failed"]:
            out[offsets[i] : offsets[i + 1]] = np.nan
        return shift_rows(out, parsed["lengths"], self.shift)

    # ------------------------------------------- the template's hooks

    def _check_params(self):
        self._validate()

    def _fit(self, texts):
        parsed = self._parse(texts)
        self._fit_parsed(parsed)
        return parsed

    def _fit_transform_array(self, texts):
        return self._finish(self._fit(texts))

    def _fit_transform_out(self, texts):
        # fitting needs the whole parse (O(parse nodes)); the labels are then
        # written chunk by chunk from the chunks' parse results
        chunks = list(self._iter_parsed(texts, self._out_chunk_chars()))
        self._fit_parsed(self._merge(texts, [res for _, _, res in chunks]))
        return self._stream(texts, chunks)

    def _transform_array(self, texts):
        return self._finish(self._parse(texts))

    def _transform_out(self, texts):
        n_features = len(self.feature_names_)
        return self._stream(
            texts, self._iter_parsed(texts, self._out_chunk_chars(n_features))
        )


def _chunk_bounds(texts, n_jobs, max_chars=None) -> np.ndarray:
    """Text boundaries of contiguous chunks of about equal numbers of characters,
    about ``max_chars`` at most when given."""
    from joblib import effective_n_jobs

    n_workers = effective_n_jobs(n_jobs) if n_jobs not in (None, 1) else 1
    cum = np.cumsum(text_lengths(texts))
    n_chunks = 4 * n_workers if n_workers > 1 else 1
    if max_chars is not None:
        n_chunks = max(n_chunks, -(-int(cum[-1]) // max_chars))
    n_chunks = min(len(texts), n_chunks)
    targets = cum[-1] * np.arange(1, n_chunks) / n_chunks
    inner = np.searchsorted(cum, targets, side="left") + 1
    return np.unique(np.concatenate([[0], inner, [len(texts)]]))


def progress(iterable, progress, desc, total=None):
    """``tqdm`` over texts when ``progress`` (the verbose level) is truthy."""
    return tqdm(iterable, disable=not progress, desc=desc, total=total, unit="text")


def shift_rows(labels: np.ndarray, lengths: np.ndarray, shift: int) -> np.ndarray:
    """Row t of a text gets the labels of char t + shift; rows past an end are NaN."""
    if shift == 0:
        return labels
    n = labels.shape[0]
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.arange(n) - starts
    src = pos + shift
    valid = (src >= 0) & (src < np.repeat(lengths, lengths))
    out = np.full_like(labels, np.nan)
    out[valid] = labels[(np.arange(n) + shift)[valid]]
    return out


def check_labels(
    labels, text, index, n_expected_cols=None, seen_in="fit"
) -> np.ndarray:
    """Validate user labels for one text: shape (len(text), k), values in [0, 1]."""
    if isinstance(labels, str | bytes) or isinstance(labels, Iterator):
        what = "a string" if isinstance(labels, str | bytes) else "an iterator"
        raise InputError(
            f"Text {index}: the feature function returned {what} "
            f"({type(labels).__name__}); return a list or array of numbers, one "
            "per character (e.g. list(...) of a generator)."
        )
    try:
        arr = np.asarray(labels, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"Text {index}: the feature function returned labels that are not "
            f"numbers ({type(labels).__name__}: {exc})."
        ) from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != len(text):
        raise InputError(
            f"Text {index}: the feature function returned labels of shape "
            f"{np.shape(labels)} for a text of {len(text)} characters; expected "
            f"({len(text)},) or ({len(text)}, k)."
        )
    if n_expected_cols is not None and arr.shape[1] != n_expected_cols:
        raise InputError(
            f"Text {index}: the feature function returned {arr.shape[1]} columns, "
            f"but {n_expected_cols} were seen in {seen_in}."
        )
    finite = arr[~np.isnan(arr)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        bad = np.argwhere((arr < 0) | (arr > 1) | np.isinf(arr))[0]
        raise InputError(
            f"Text {index}: label {float(arr[tuple(bad)])} at character {bad[0]} "
            f"(column {bad[1]}) is outside [0, 1]; scale features to [0, 1]."
        )
    return arr
