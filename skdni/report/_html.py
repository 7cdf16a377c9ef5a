"""One self-contained HTML report, plus the same figures and tables as files.

The report embeds every figure as a base64 PNG and carries its CSS inline: it opens in a
browser with no network and no JavaScript, and it can be mailed as a single file.
"""

import base64
import html
import importlib.metadata
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

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
nav ul { columns: 2; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
table.skdni-table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1.5em; }
table.skdni-table th, table.skdni-table td { border: 1px solid #ddd;
       padding: .25em .6em; text-align: right; }
table.skdni-table th { background: #f3f3f3; }
table.skdni-table tr:nth-child(even) td { background: #fafafa; }
.table-scroll { overflow-x: auto; }
pre.sample { background: #f6f6f6; border-left: 3px solid #888; padding: .6em;
             white-space: pre-wrap; word-break: break-all; }
""".strip()


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


def _key_value_table(mapping):
    rows = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in mapping.items()
    )
    return f'<table class="skdni-table">\n{rows}\n</table>'


def _format_float(value):
    return f"{value:.4g}"


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
) -> Path:
    """Write one self-contained HTML report: tables, figures, samples, parameters.

    Figures are embedded as base64 PNG ``<img>`` elements (``id="figure-<slug>"``,
    ``data-figure="<name>"``, ``alt="<name>"``); tables become ``<table
    class="skdni-table">`` inside ``<section id="table-<slug>" data-table="<name>">``;
    every text is HTML-escaped. Only inline CSS, no JavaScript, no external reference:
    the file renders offline.

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
        Figures, in display order; the name is the caption.
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
    pngs = {name: _png_of(name, fig, dpi) for name, fig in figures.items()}
    esc = html.escape

    body = [f"<h1>{esc(str(title))}</h1>"]
    if notes:
        body += [
            f"<p>{esc(p.strip())}</p>" for p in re.split(r"\n\s*\n", notes) if p.strip()
        ]
    figure_ids = [f"figure-{s}" for s in _unique_slugs(pngs)]
    table_ids = [f"table-{s}" for s in _unique_slugs(tables)]
    sample_ids = [f"samples-{s}" for s in _unique_slugs(samples)]

    # results first; the run's parameters and versions close the page
    toc = []
    for section, names, ids in (
        ("Tables", tables, table_ids),
        ("Figures", pngs, figure_ids),
        ("Generated samples", samples, sample_ids),
    ):
        toc += [
            f'<li>{section}: <a href="#{i}">{esc(str(n))}</a></li>'
            for n, i in zip(names, ids, strict=True)
        ]
    toc.append('<li><a href="#parameters">Parameters</a></li>')
    toc.append('<li><a href="#software">Software versions</a></li>')
    body.append("<nav><ul>\n" + "\n".join(toc) + "\n</ul></nav>")

    if tables:
        body.append("<h2>Tables</h2>")
    for (name, table), id_ in zip(tables.items(), table_ids, strict=True):
        note = ""
        if max_table_rows is not None and len(table) > max_table_rows:
            note = (
                f'<p class="table-note">The first {max_table_rows:,} of '
                f"{len(table):,} rows.</p>"
            )
            table = table.head(max_table_rows)
        table_html = table.to_html(
            classes="skdni-table", escape=True, border=0, float_format=_format_float
        )
        body.append(
            f'<section id="{id_}" data-table="{esc(str(name))}">'
            f"<h3>{esc(str(name))}</h3>{note}"
            f'<div class="table-scroll">{table_html}</div></section>'
        )

    if pngs:
        body.append("<h2>Figures</h2>")
    for (name, png), id_ in zip(pngs.items(), figure_ids, strict=True):
        data = base64.b64encode(png).decode("ascii")
        label = esc(str(name))
        body.append(
            f'<figure><img id="{id_}" data-figure="{label}" alt="{label}" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{label}</figcaption></figure>"
        )

    if samples:
        body.append("<h2>Generated samples</h2>")
    for (name, texts), id_ in zip(samples.items(), sample_ids, strict=True):
        pres = "\n".join(f'<pre class="sample">{esc(t)}</pre>' for t in texts)
        body.append(
            f'<section id="{id_}" data-samples="{esc(str(name))}">'
            f"<h3>{esc(str(name))}</h3>\n{pres}</section>"
        )

    body.append('<section id="parameters"><h2>Parameters</h2>')
    body.append(_key_value_table(parameters) + "</section>")
    body.append('<section id="software"><h2>Software versions</h2>')
    body.append(_key_value_table(software_versions()) + "</section>")

    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(str(title))}</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the report's file name.")
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
