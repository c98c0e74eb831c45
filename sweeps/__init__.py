"""Optuna sweeps over the defense's blur sigma and keep fraction (and optionally the heatmap method).

    bounds = sweeps.SearchSpace(sigma=(0.5, 8.0), keep_fraction=(0.05, 0.5), heatmaps=("lrp_eps",))
    sweeps.run_sweep(settings, data, bounds, study_name="s", storage="sqlite:///optuna.db", n_trials=10)
"""

from sweeps.objectives import OBJECTIVES, Objective, resolve_objective
from sweeps.search_space import SearchSpace
from sweeps.study import DEFAULT_STORAGE, open_study, run_sweep

__all__ = ["DEFAULT_STORAGE", "OBJECTIVES", "Objective", "SearchSpace", "open_study", "resolve_objective",
           "run_sweep"]
