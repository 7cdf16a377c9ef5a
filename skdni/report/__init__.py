"""Figures of a study and a self-contained HTML report."""

from ._figures import (
    figure_to_png_bytes,
    plot_ablation_curves,
    plot_generation_shares,
    plot_score_heatmap,
    plot_unit_over_text,
    plot_unit_scores,
    plot_unit_windows,
    plot_units_above_threshold,
)
from ._html import (
    save_figures,
    save_tables,
    software_versions,
    write_html_report,
    write_unit_page,
)
from ._probing_figures import plot_lag_profile, plot_localization_curve
from ._textview import text_view_data
from ._unit_figures import top_contexts, unit_histogram_svg

__all__ = [
    "figure_to_png_bytes",
    "plot_ablation_curves",
    "plot_generation_shares",
    "plot_lag_profile",
    "plot_localization_curve",
    "plot_score_heatmap",
    "plot_unit_over_text",
    "plot_unit_scores",
    "plot_unit_windows",
    "plot_units_above_threshold",
    "save_figures",
    "save_tables",
    "software_versions",
    "text_view_data",
    "top_contexts",
    "unit_histogram_svg",
    "write_html_report",
    "write_unit_page",
]
