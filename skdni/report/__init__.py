"""Figures of a study and a self-contained HTML report."""

from ._figures import (
    figure_to_png_bytes,
    plot_ablation_curves,
    plot_score_heatmap,
    plot_unit_over_text,
    plot_unit_scores,
    plot_unit_windows,
)
from ._html import save_figures, save_tables, software_versions, write_html_report
from ._probing_figures import plot_lag_profile, plot_localization_curve

__all__ = [
    "figure_to_png_bytes",
    "plot_ablation_curves",
    "plot_lag_profile",
    "plot_localization_curve",
    "plot_score_heatmap",
    "plot_unit_over_text",
    "plot_unit_scores",
    "plot_unit_windows",
    "save_figures",
    "save_tables",
    "software_versions",
    "write_html_report",
]
