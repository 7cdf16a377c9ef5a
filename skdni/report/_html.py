"""One self-contained HTML report, plus the same figures and tables as files.

The pages are rendered from the jinja2 templates in ``skdni/report/templates``. The
report embeds every figure as a base64 PNG and carries its CSS and its small scripts
(sortable tables, the text view) inline: it opens in a browser with no network, and it
can be mailed as a single file.
"""

import base64
import functools
import importlib.metadata
import math
import os
import platform
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .._errors import InputError, InputTypeError
from ._figures import figure_to_png_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Distributions whose versions a reader needs to reproduce a study.
_DISTRIBUTIONS = (
    "skdni",
    "numpy",
    "scikit-learn",
    "keras",
    "jax",
    "jaxlib",
    "lark",
    "pandas",
    "matplotlib",
)

#: Significant digits of the numbers in tables.
SIGNIFICANT_DIGITS = 3


@functools.cache
def _environment():
    """The report's jinja2 templates (package data); every value is HTML-escaped."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("skdni.report", "templates"),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_template(name: str, **context) -> str:
    """Render one of the report's templates (``skdni/report/templates``)."""
    return _environment().get_template(name).render(**context)


def software_versions() -> dict[str, str]:
    """Versions of Python and the libraries a study's results depend on.

    Keras is never imported here: its backend is read from Keras when the running
    program already imported it, and from ``KERAS_BACKEND`` otherwise.

    Returns
    -------
    versions : dict of str to str

    Examples
    --------
    >>> from skdni.report import software_versions
    >>> sorted(software_versions())[:3]
    ['jax', 'jaxlib', 'keras']
    """
    versions = {"python": f"{platform.python_version()} ({sys.platform})"}
    for name in _DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    keras = sys.modules.get("keras")
    if keras is not None:
        versions["keras backend"] = str(keras.backend.backend())
    else:
        backend = os.environ.get("KERAS_BACKEND")
        versions["keras backend"] = (
            f"{backend} (Keras not imported)" if backend else "Keras not imported"
        )
    return dict(sorted(versions.items()))


def _slug(name):
    slug = re.sub(r"[^a-z0-9_-]+", "-", str(name).lower()).strip("-")
    return slug or "item"


def _unique_slugs(names):
    """Stable, unique, filename- and id-safe slugs for ``names``, in order."""
    seen, slugs = set(), []
    for name in names:
        base = slug = _slug(name)
        n = 2
        while slug in seen:
            slug, n = f"{base}-{n}", n + 1
        seen.add(slug)
        slugs.append(slug)
    return slugs


def _check_mapping(value, name):
    if not isinstance(value, Mapping):
        raise InputTypeError(f"{name} must be a dict, got {type(value).__name__}.")


def _png_of(name, fig, dpi):
    if isinstance(fig, Figure):
        return figure_to_png_bytes(fig, dpi=dpi)
    if isinstance(fig, bytes) and fig.startswith(PNG_SIGNATURE):
        return fig
    raise InputTypeError(
        f"figure {name!r} must be a matplotlib Figure or PNG bytes, "
        f"got {type(fig).__name__}."
    )


def _check_table(name, table):
    if isinstance(table, pd.Series):
        return table.to_frame()
    if not isinstance(table, pd.DataFrame):
        raise InputTypeError(
            f"table {name!r} must be a pandas DataFrame, got {type(table).__name__}."
        )
    return table


def format_number(value) -> str:
    """A table cell: numbers to ``SIGNIFICANT_DIGITS`` significant digits."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int | float) or hasattr(value, "dtype"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        if math.isnan(number):
            return "NaN"
        if float(number).is_integer() and abs(number) < 1e15:
            return f"{int(number):,}" if abs(number) >= 1e4 else str(int(number))
        return f"{number:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


def _sort_value(value):
    """The exact number behind a rounded cell (sorting uses it), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | complex):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    return None if math.isnan(float(value)) else repr(float(value))


def collapse_chance_ties(table: pd.DataFrame) -> pd.DataFrame:
    """One row per feature for its units at chance, instead of one tied row each.

    A (feature, unit) score table (columns ``feature``, ``unit`` and
    ``above_chance``) lists many units of a feature at chance with equal or
    meaningless scores; they add nothing a reader can use. Their rows are replaced
    by one row (``unit`` = "12 units at chance", the best of their numbers);
    other tables are returned unchanged.
    """
    needed = {"feature", "unit", "above_chance"}
    if not needed <= set(table.columns) or table.empty:
        return table
    found = table["above_chance"].fillna(False).astype(bool)
    keep = table[found]
    rows = []
    for _, group in table[~found].groupby("feature", sort=False):
        row = group.iloc[0].copy()
        numeric = group.select_dtypes("number")
        for column in numeric.columns:
            row[column] = numeric[column].max()
        row["unit"] = f"{len(group)} unit{'s' if len(group) != 1 else ''} at chance"
        row["above_chance"] = False
        rows.append(row)
    if not rows:
        return table
    collapsed = pd.concat([keep, pd.DataFrame(rows)])
    order = {f: i for i, f in enumerate(dict.fromkeys(table["feature"]))}
    return collapsed.sort_values(
        "feature", key=lambda c: c.map(order), kind="stable"
    ).reset_index(drop=True)


def table_context(
    table: pd.DataFrame, *, max_rows=None, links: Mapping | None = None
) -> dict:
    """A table as the templates draw it: header, formatted rows, a row-cap note.

    ``links`` maps a cell's text (e.g. a unit name) to the page it links to.
    """
    note = ""
    if max_rows is not None and len(table) > max_rows:
        note = f"The first {max_rows:,} of {len(table):,} rows."
        table = table.head(max_rows)
    links = links or {}
    # a plain 0..n-1 row number says nothing: shown only when it is a real label
    show_index = table.index.name is not None or not pd.api.types.is_integer_dtype(
        table.index
    )
    columns = [str(c) for c in table.columns]
    if show_index:
        columns.insert(0, table.index.name or "")
    rows = []
    for index, values in zip(table.index, table.itertuples(index=False), strict=True):
        cells = []
        values = (index, *values) if show_index else values
        for column, value in zip(columns, values, strict=True):
            text = format_number(value)
            cells.append(
                {
                    "text": text,
                    "value": _sort_value(value),
                    "href": links.get(text)
                    if column in ("unit", "best_units")
                    else None,
                    "collapsed": column == "unit" and text.endswith("at chance"),
                }
            )
        rows.append(cells)
    return {"columns": columns, "rows": rows, "note": note}


def _image_of(name, fig, dpi):
    """``(mime type, bytes)``: SVG documents as they are, anything else as PNG."""
    if isinstance(fig, bytes) and fig.lstrip().startswith(b"<svg"):
        return "image/svg+xml", fig
    return "image/png", _png_of(name, fig, dpi)


def figure_context(figures: Mapping, captions: Mapping, dpi: int) -> list[dict]:
    """Figures as the templates draw them: id, name, caption, base64 image."""
    pngs = {name: _image_of(name, fig, dpi) for name, fig in figures.items()}
    return [
        {
            "id": f"figure-{slug}",
            "name": str(name),
            "caption": captions.get(name) or default_caption(name),
            "mime": mime,
            "data": base64.b64encode(image).decode("ascii"),
        }
        for (name, (mime, image)), slug in zip(
            pngs.items(), _unique_slugs(pngs), strict=True
        )
    ]


#: How to read the figures a study draws, by figure name.
_CAPTIONS = {
    "unit scores": "Every unit's cross-validated probe score for each feature, units "
    "sorted from best to worst (the paper's Figure 2/3); the dashed line of the same "
    "colour is the feature's chance level. A curve that starts well above its chance "
    "line and drops fast means a few units carry the feature.",
    "features x top units": "Probe scores of the best units (columns) for each "
    "feature with a unit above chance (rows); darker is a higher score. Compare a "
    "row with its chance level in the tables below.",
    "ablation curves": "The model's metric on the inspected texts when the feature's "
    "top-k units are zeroed (line) versus k random units (band: 95% of random "
    "draws) and no intervention (dotted). A top-k line well below the band means the "
    "model relies on those units; inside the band, no effect beyond random units.",
    "unit over text": "The best unit of the best feature over a few short windows of "
    "inspected text: each character is coloured by the unit's activation, the "
    "feature's spans marked below. See the interactive text view for any unit.",
}


def default_caption(name) -> str:
    """A figure's caption when its producer gave none."""
    return _CAPTIONS.get(str(name), f"{name}.")


def write_html_report(
    path,
    *,
    title: str,
    parameters: Mapping,
    tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, Figure | bytes],
    samples: Mapping[str, list[str]] | None = None,
    notes: str | None = None,
    dpi: int = 110,
    max_table_rows: int | None = 200,
    captions: Mapping[str, str] | None = None,
    findings: Mapping | None = None,
    text_view: Mapping | None = None,
    table_captions: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    glossary: bool = True,
    max_findings: int = 20,
    samples_caption: str = "",
) -> Path:
    """Write one self-contained HTML report: findings, figures, tables, samples.

    The page opens with the findings (``<section id="findings">``, when given),
    then the figures (each with a caption saying how to read it), the interactive
    text view (when given), the tables, generated samples, a glossary, and the
    run's parameters and software versions.

    Figures are embedded as base64 PNG ``<img>`` elements (``id="figure-<slug>"``,
    ``data-figure="<name>"``, ``alt="<name>"``); tables become sortable ``<table
    class="skdni-table">`` inside ``<section id="table-<slug>" data-table="<name>">``,
    numbers rounded to 3 significant digits and the units of a feature at chance
    collapsed into one row (:func:`collapse_chance_ties`); every text is
    HTML-escaped. Only inline CSS and inline scripts, no external reference: the
    file renders offline.

    Parameters
    ----------
    path : str or Path
        File to write (its parent folders are created).
    title : str
        Title of the page.
    parameters : dict
        The run's parameters, shown as a key/value table.
    tables : dict of str to DataFrame
        Result tables, in display order (a Series is shown as a one-column table).
    figures : dict of str to Figure or PNG bytes
        Figures, in display order; the name is the caption's title.
    samples : dict of str to list of str, default=None
        Generated texts (e.g. with clamped units), one ``<pre>`` per text.
    notes : str, default=None
        Free text shown under the title; blank lines separate paragraphs.
    dpi : int, default=110
        Resolution of the embedded PNGs (lowered for a figure larger than 4,000
        pixels on a side, see :func:`figure_to_png_bytes`).
    max_table_rows : int or None, default=200
        Show at most this many rows of each table (the first ones, with a note
        giving the total), so the page stays small whatever the study; None shows
        every row.
    captions : dict of str to str, default=None
        How to read each figure, by figure name (a generic text otherwise).
    findings : dict, default=None
        The findings section: ``model`` (a sentence on the model), ``lead``,
        ``items`` (one dict per finding: ``feature``, ``unit``, ``href``,
        ``stats``, ``others``, ``more``, ``causal``), ``at_chance`` (feature
        names) and ``notes``; see :func:`skdni._study_report.findings_context`.
    text_view : dict, default=None
        ``intro`` and ``data`` of the interactive text view
        (:func:`skdni.report.text_view_data`).
    table_captions : dict of str to str, default=None
        A sentence under a table's title.
    links : dict of str to str, default=None
        Unit name -> its page (relative URL), linked from the tables.
    glossary : bool, default=True
        Explain the study's terms (range, impulse, depth, chance, ...).
    max_findings : int, default=20
        Finding sentences shown open; the others are folded (``<details>``).
    samples_caption : str, default=""
        Shown above the samples: how they were generated (which units were
        clamped to what).

    Returns
    -------
    path : Path
        The written file.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from pathlib import Path
    >>> from matplotlib.figure import Figure
    >>> from skdni.report import write_html_report
    >>> fig = Figure(figsize=(2, 2)); _ = fig.add_subplot().plot([0, 1])
    >>> out = write_html_report(Path(tempfile.mkdtemp()) / "report.html",
    ...                         title="demo", parameters={"seed": 0},
    ...                         tables={"scores": pd.DataFrame({"a": [1.0]})},
    ...                         figures={"a line": fig})
    >>> 'id="figure-a-line"' in out.read_text()
    True
    """
    _check_mapping(parameters, "parameters")
    _check_mapping(tables, "tables")
    _check_mapping(figures, "figures")
    samples = {} if samples is None else samples
    _check_mapping(samples, "samples")
    for name, texts in samples.items():
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise InputTypeError(f"samples[{name!r}] must be a list of str.")
    tables = {name: _check_table(name, t) for name, t in tables.items()}
    table_captions = table_captions or {}
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the report's file name.")
    page = render_template(
        "report.html.j2",
        title=str(title),
        notes=[p.strip() for p in re.split(r"\n\s*\n", notes or "") if p.strip()],
        findings=findings,
        figures=figure_context(figures, captions or {}, dpi),
        text_view=text_view,
        tables=[
            dict(
                table_context(
                    collapse_chance_ties(table), max_rows=max_table_rows, links=links
                ),
                id=f"table-{slug}",
                name=str(name),
                caption=table_captions.get(name, ""),
            )
            for (name, table), slug in zip(
                tables.items(), _unique_slugs(tables), strict=True
            )
        ],
        samples=[
            {"id": f"samples-{slug}", "name": str(name), "texts": list(texts)}
            for (name, texts), slug in zip(
                samples.items(), _unique_slugs(samples), strict=True
            )
        ],
        samples_caption=samples_caption,
        glossary=glossary,
        max_findings=max_findings,
        parameters={str(k): str(v) for k, v in parameters.items()},
        versions=software_versions(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def save_figures(
    figures: Mapping[str, Figure | bytes], folder, *, dpi: int = 110
) -> dict[str, Path]:
    """Write each figure as ``<folder>/<slug of name>.png``.

    Parameters
    ----------
    figures : dict of str to Figure or PNG bytes
        Figure name -> figure (rendered) or PNG bytes (written as they are).
    folder : str or Path
        Created if missing.
    dpi : int, default=110
        Resolution of the rendered figures.

    Returns
    -------
    paths : dict of str to Path
        Figure name -> written file.
    """
    _check_mapping(figures, "figures")
    pngs = {name: _png_of(name, fig, dpi) for name, fig in figures.items()}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for (name, png), slug in zip(pngs.items(), _unique_slugs(pngs), strict=True):
        paths[name] = folder / f"{slug}.png"
        paths[name].write_bytes(png)
    return paths


def save_tables(tables: Mapping[str, pd.DataFrame], folder) -> dict[str, Path]:
    """Write each table as ``<folder>/<slug of name>.csv`` (index included).

    Parameters
    ----------
    tables : dict of str to DataFrame
        Table name -> table.
    folder : str or Path
        Created if missing.

    Returns
    -------
    paths : dict of str to Path
        Table name -> written file.
    """
    _check_mapping(tables, "tables")
    tables = {name: _check_table(name, t) for name, t in tables.items()}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for (name, table), slug in zip(tables.items(), _unique_slugs(tables), strict=True):
        paths[name] = folder / f"{slug}.csv"
        table.to_csv(paths[name])
    return paths


# Glyphs that make whitespace visible in the shaded contexts.
_VISIBLE = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍"}


def _shade(value, scale) -> str:
    """Inline CSS of a character shaded by an activation (red +, blue -)."""
    alpha = min(1.0, abs(value) / scale) if scale > 0 else 0.0
    rgb = "214,96,77" if value >= 0 else "67,147,195"
    return f"background-color: rgba({rgb},{alpha:.2f})"


def write_unit_page(
    path,
    *,
    title: str,
    back: str,
    features: pd.DataFrame,
    figures: Mapping[str, Figure | bytes],
    contexts: list,
    effects: list,
    captions: Mapping[str, str] | None = None,
    no_effect: str = "",
    links: Mapping[str, str] | None = None,
    dpi: int = 90,
) -> Path:
    """Write one unit's page: its features, histograms, top contexts and effect.

    Parameters
    ----------
    path : str or Path
        File to write (its parent folders are created).
    title : str
        Page title (the unit's name).
    back : str
        Relative link to the report.
    features : DataFrame
        The features the unit encodes (scores, chance, skill, q-values).
    figures : dict of str to Figure or PNG bytes
        E.g. activation histograms by feature value.
    contexts : list of dict
        Top activating contexts, as :func:`skdni.report._unit_figures.top_contexts`
        returns them.
    effects : list of dict
        ``effect`` (``"found"``, ``"none"`` or ``"opposite"``) and ``text``: the
        causal checks that involved the unit.
    captions : dict of str to str, default=None
        Caption of each figure, by name.
    no_effect : str, default=""
        Shown when ``effects`` is empty.
    links : dict of str to str, default=None
        Pages of other units, by unit name, linked where they are named.
    dpi : int, default=90
        Resolution of figures given as matplotlib figures.

    Returns
    -------
    path : Path
        The written file.
    """
    _check_mapping(figures, "figures")
    scale = max((abs(a) for c in contexts for _, a in c["chars"]), default=0.0)
    rendered = []
    for c in contexts:
        spans = []
        best = max(range(len(c["chars"])), key=lambda i: c["chars"][i][1])
        for i, (ch, a) in enumerate(c["chars"]):
            spans.append((_VISIBLE.get(ch, ch), _shade(a, scale), i == best))
        rendered.append(dict(c, spans=spans))
    page = render_template(
        "unit.html.j2",
        title=str(title),
        back=back,
        features=table_context(_check_table("features", features), links=links),
        figures=figure_context(figures, captions or {}, dpi),
        contexts=rendered,
        scale=scale,
        effects=effects,
        no_effect=no_effect,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
