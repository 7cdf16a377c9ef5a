"""Compact data for the report's interactive text view (LSTMVis-like).

Activations are quantised to int8 (a unit's values over its largest |activation|, so
-127..127) and feature values to uint8 (0..254 over the feature's range, 255 for
NaN), each column base64-encoded: one byte per character and unit or feature.
"""

import base64

import numpy as np

from .._errors import InputError

#: Characters shown in the text view (the first texts, whole, up to this many).
MAX_TEXT_VIEW_CHARS = 20_000
#: Units and features embedded in the text view.
MAX_TEXT_VIEW_UNITS = 64
MAX_TEXT_VIEW_FEATURES = 40


def _b64(array) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def quantize_activations(values) -> tuple[np.ndarray, float]:
    """``(int8 codes, scale)``: ``codes / 127 * scale`` approximates ``values``."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    if scale == 0:
        return np.zeros(values.shape, dtype=np.int8), 1.0
    return np.round(values / scale * 127).astype(np.int8), scale


def quantize_labels(values) -> tuple[np.ndarray, float, float]:
    """``(uint8 codes, lo, hi)``: ``lo + (hi - lo) * code / 254``; 255 is NaN."""
    values = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(values)
    lo = float(values[known].min()) if known.any() else 0.0
    hi = float(values[known].max()) if known.any() else 1.0
    span = hi - lo if hi > lo else 1.0
    codes = np.full(values.shape, 255, dtype=np.uint8)
    codes[known] = np.round((values[known] - lo) / span * 254).astype(np.uint8)
    return codes, lo, lo + span


def text_view_data(
    texts,
    activations,
    unit_names,
    features,
    *,
    unit_features=None,
    max_chars=MAX_TEXT_VIEW_CHARS,
) -> dict:
    """The embedded data of the interactive text view.

    Parameters
    ----------
    texts : list of str
        Inspected texts, in the order of the activation rows; the first whole
        texts up to ``max_chars`` characters are shown (at least one, cut).
    activations : array-like of shape (total characters, n_units)
        The units to offer (e.g. the findings), one column each.
    unit_names : list of str
        Their names.
    features : dict of str to (labels, unit columns)
        Each feature's value for every character (NaN: unlabelled) and the columns
        of ``activations`` that encode it, best first.
    unit_features : list of str, default=None
        A short description of each unit (shown on hover of its button).
    max_chars : int, default=20,000
        Most characters embedded (whole texts, at least one, cut).

    Returns
    -------
    data : dict
        JSON-ready: ``text``, ``starts``, ``units`` (``name``, ``scale``,
        ``features``, ``data``), ``features`` (``name``, ``lo``, ``hi``,
        ``units``, ``data``), ``initial_unit``, ``initial_feature``.
    """
    activations = np.asarray(activations)
    if activations.ndim != 2 or activations.shape[1] != len(unit_names):
        raise InputError(
            f"activations must have one column per unit name ({len(unit_names)}), "
            f"got shape {activations.shape}."
        )
    total = sum(map(len, texts))
    if activations.shape[0] != total:
        raise InputError(
            f"texts have {total:,} characters but activations has "
            f"{activations.shape[0]:,} rows."
        )
    shown, n = [], 0
    for text in texts:
        if n + len(text) > max_chars:
            if not shown:
                shown.append(text[:max_chars])
                n = len(shown[0])
            break
        shown.append(text)
        n += len(text)
    starts = np.concatenate([[0], np.cumsum([len(t) for t in shown])[:-1]])
    unit_features = unit_features or [""] * len(unit_names)
    units = []
    for j, name in enumerate(unit_names):
        codes, scale = quantize_activations(activations[:n, j])
        units.append(
            {
                "name": str(name),
                "scale": scale,
                "features": unit_features[j],
                "data": _b64(codes),
            }
        )
    feats = []
    for name, (labels, columns) in features.items():
        codes, lo, hi = quantize_labels(np.asarray(labels, dtype=np.float64)[:n])
        feats.append(
            {
                "name": str(name),
                "lo": lo,
                "hi": hi,
                "units": [int(c) for c in columns],
                "data": _b64(codes),
            }
        )
    initial_feature = next((i for i, f in enumerate(feats) if f["units"]), -1)
    return {
        "text": "".join(shown),
        "starts": [int(s) for s in starts],
        "units": units,
        "features": feats,
        "initial_feature": initial_feature,
        "initial_unit": feats[initial_feature]["units"][0]
        if initial_feature >= 0
        else 0,
    }
