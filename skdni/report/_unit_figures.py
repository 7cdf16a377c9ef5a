"""Per-unit views of the report: activation histograms and top activating contexts.

Plain arrays in, a small SVG or plain data out (no estimator): a report draws these
for up to a hundred units, where a matplotlib figure each would take minutes.
"""

from xml.sax.saxutils import escape

import numpy as np

from .._errors import InputError

# A continuous feature with more distinct values than this is split at its quartiles.
MAX_LEVELS = 5


def _groups(labels, kind):
    """``[(legend, mask)]``: the rows of each value (or value range) of a feature."""
    labels = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(labels)
    if kind == "binary":
        return [("feature = 0", known & (labels == 0)), ("feature = 1", labels == 1)]
    values = np.unique(labels[known])
    if values.size <= MAX_LEVELS:
        return [(f"feature = {v:g}", labels == v) for v in values]
    edges = np.unique(np.quantile(labels[known], [0, 0.25, 0.5, 0.75, 1]))
    groups = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        last = i == len(edges) - 2
        mask = known & (labels >= lo) & ((labels <= hi) if last else (labels < hi))
        groups.append((f"{lo:.3g} ≤ feature {'≤' if last else '<'} {hi:.3g}", mask))
    return groups


_COLORS = ("#8c8c8c", "#d6604d", "#4393c3", "#1b7837", "#762a83")


def unit_histogram_svg(
    activations, labels, *, unit_name, feature_name, kind, width=420, height=190
) -> bytes:
    """Histogram of one unit's activations split by a feature's value, as SVG.

    A unit that encodes the feature shows separated histograms: for a binary
    feature the ``feature = 1`` characters sit apart from the ``feature = 0`` ones.
    Each group is normalised to its own total (a density), so a rare value stays
    visible; NaN labels (characters the feature cannot label) are left out. Drawn
    as a small SVG (a few kB, no matplotlib): a report draws one per unit and
    feature, for up to a hundred units.

    Parameters
    ----------
    activations : array-like of shape (n_chars,)
        One unit's activation of every character.
    labels : array-like of shape (n_chars,)
        The feature's value of every character (NaN: unlabelled).
    unit_name, feature_name : str
        Named on the axes.
    kind : str
        ``"binary"`` or another feature kind (continuous or count).
    width, height : int
        Size in pixels.

    Returns
    -------
    svg : bytes
        A standalone SVG document.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.report import unit_histogram_svg
    >>> svg = unit_histogram_svg(np.linspace(-1, 1, 10), np.arange(10) % 2,
    ...                          unit_name="h3", feature_name="range:add",
    ...                          kind="binary")
    >>> svg[:4], b"activation of h3" in svg
    (b'<svg', True)
    """
    activations = np.asarray(activations, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=np.float64).ravel()
    if activations.shape != labels.shape:
        raise InputError(
            f"activations has {activations.size} values but labels has {labels.size}."
        )
    finite = activations[np.isfinite(activations)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1, 1)
    hi = hi if hi > lo else lo + 1.0
    edges = np.linspace(lo, hi, 41)
    left, right, top, bottom = 44, width - 8, 22, height - 34
    groups = []
    for (legend, mask), color in zip(_groups(labels, kind), _COLORS, strict=False):
        values = activations[mask & np.isfinite(activations)]
        if values.size:
            density, _ = np.histogram(values, bins=edges, density=True)
            groups.append((legend, int(values.size), density, color))
    peak = max((float(d.max()) for _, _, d, _ in groups), default=1.0) or 1.0

    def x(v):
        return left + (v - lo) / (hi - lo) * (right - left)

    def y(d):
        return bottom - d / peak * (bottom - top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="13" text-anchor="middle" font-size="11">'
        f"{escape(unit_name)} by {escape(feature_name)}</text>",
    ]
    for _, _, density, color in groups:
        points = [f"{x(lo):.1f},{bottom}"]
        for i, d in enumerate(density):
            points += [
                f"{x(edges[i]):.1f},{y(d):.1f}",
                f"{x(edges[i + 1]):.1f},{y(d):.1f}",
            ]
        points.append(f"{x(hi):.1f},{bottom}")
        parts.append(
            f'<polygon points="{" ".join(points)}" fill="{color}" fill-opacity="0.4" '
            f'stroke="{color}"/>'
        )
    parts.append(
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/>'
    )
    for v in sorted({lo, hi, 0.0} if lo < 0 < hi else {lo, hi}):
        parts.append(
            f'<text x="{x(v):.1f}" y="{bottom + 12}" '
            f'text-anchor="middle">{v:.3g}</text>'
        )
    parts.append(
        f'<text x="{(left + right) / 2:.0f}" y="{height - 6}" text-anchor="middle">'
        f"activation of {escape(unit_name)}</text>"
        f'<text x="12" y="{(top + bottom) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(top + bottom) / 2:.0f})">density</text>'
    )
    for i, (legend, count, _, color) in enumerate(groups):
        parts.append(
            f'<rect x="{right - 150}" y="{top + 2 + 13 * i}" width="9" height="9" '
            f'fill="{color}" fill-opacity="0.6"/><text x="{right - 137}" '
            f'y="{top + 10 + 13 * i}">{escape(legend)} ({count:,})</text>'
        )
    parts.append("</svg>")
    return "".join(parts).encode("utf-8")


def top_contexts(texts, activations, *, n_contexts=8, width=30):
    """The text windows around a unit's strongest activations, for HTML shading.

    Windows do not overlap (the strongest first) and stay inside one text.

    Parameters
    ----------
    texts : list of str
        The inspected texts, in the order of the activation rows.
    activations : array-like of shape (total characters,)
        One unit's activation of every character.
    n_contexts : int, default=8
        Most windows returned.
    width : int, default=30
        Characters shown either side of the peak.

    Returns
    -------
    contexts : list of dict
        ``text`` (index), ``position`` of the peak in that text, ``peak`` (its
        activation) and ``chars``: ``[(char, activation), ...]`` of the window.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.report._unit_figures import top_contexts
    >>> ctx = top_contexts(["abc", "defg"], np.array([0, 0, 0, 0, 0, 3.0, 0]),
    ...                    n_contexts=1, width=1)
    >>> ctx[0]["text"], ctx[0]["position"], "".join(c for c, _ in ctx[0]["chars"])
    (1, 2, 'efg')
    """
    activations = np.asarray(activations, dtype=np.float64).ravel()
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if lengths.sum() != activations.size:
        raise InputError(
            f"texts have {int(lengths.sum()):,} characters but activations has "
            f"{activations.size:,} values."
        )
    starts = np.concatenate([[0], np.cumsum(lengths)])
    order = np.argsort(-np.nan_to_num(activations, nan=-np.inf), kind="stable")
    taken = np.zeros(activations.size, dtype=bool)
    contexts = []
    for row in order[: max(50 * n_contexts, 1000)]:
        if len(contexts) == n_contexts:
            break
        if taken[row]:
            continue
        t = int(np.searchsorted(starts, row, side="right") - 1)
        lo = max(starts[t], row - width)
        hi = min(starts[t + 1], row + width + 1)
        # a later peak this close would show an overlapping window
        taken[max(starts[t], row - 2 * width) : row + 2 * width + 1] = True
        text = texts[t]
        contexts.append(
            {
                "text": t,
                "position": int(row - starts[t]),
                "peak": float(activations[row]),
                "chars": [
                    (text[i - starts[t]], float(activations[i])) for i in range(lo, hi)
                ],
            }
        )
    return contexts
