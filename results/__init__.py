"""Results: the thesis' Tables 4.1-4.5 and Figures 4.2-4.5 rebuilt from logged evaluate runs.

    cells = results.collect(tracking_uri, profile="quick")      # one row per (variant, seed, cell)
    table = results.model_table(cells, "lrp_eps")                # rows x test-set columns, text cells
    results.write_report(cells, folder)                          # Markdown, CSV, LaTeX, PNG
"""

from results.collect import (check_same_test_images, collect, collect_curves, collect_outcomes, collect_overlap,
                             newest_evaluate_runs, of_seeds)
from results.fidelity import compared_cells, fidelity_figure, fidelity_summary
from results.figures import bar_figure, curve_figure, heatmap_gallery
from results.masking import masking_flags
from results.processors import mixed_seeds, processor_table
from results.report_files import write_report
from results.report_sections import (coverage_lines, incomplete_seeds, overlap_lines, own_clean_cells,
                                     processor_lines, seed_noise_lines, sizes_lines, subset_lines, summary_lines)
from results.stage_times import collect_stage_runs, stage_table, stage_times
from results.tables import (cell_summary, column_labels, model_labels, model_table, row_label, row_labels,
                            size_table, unbounded_attacks)
from results.thesis import THESIS_FILE, load_thesis, thesis_difference

__all__ = [
    "THESIS_FILE",
    "bar_figure",
    "cell_summary",
    "check_same_test_images",
    "collect",
    "collect_curves",
    "collect_outcomes",
    "collect_overlap",
    "curve_figure",
    "masking_flags",
    "mixed_seeds",
    "processor_lines",
    "processor_table",
    "of_seeds",
    "size_table",
    "unbounded_attacks",
    "collect_stage_runs",
    "stage_table",
    "stage_times",
    "compared_cells",
    "column_labels",
    "fidelity_figure",
    "fidelity_summary",
    "heatmap_gallery",
    "newest_evaluate_runs",
    "load_thesis",
    "model_labels",
    "model_table",
    "row_label",
    "row_labels",
    "thesis_difference",
    "coverage_lines",
    "incomplete_seeds",
    "overlap_lines",
    "own_clean_cells",
    "seed_noise_lines",
    "sizes_lines",
    "subset_lines",
    "summary_lines",
    "write_report",
]
