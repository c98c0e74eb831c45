"""Evaluating a classifier on the thesis' grid: test sets x attacks x orders.

    x_eval = evaluation.attack_inputs(model, T, x, y, "fgsm", "adaptive")
    evaluation.accuracy(model_predictions, y)   # correct, n, 95% Wilson interval
"""

from evaluation.curves import CURVE_LINES, curve_rows, parse_curve_eps, robustness_curve
from evaluation.grid import CLEAN, SIZES, Cell, cells, metric_name, parse_metric, size_metric_name
from evaluation.orders import (ORDER_RECORDS, ORDERS, AttackedImages, Order, attack_cell, attack_inputs,
                               check_attack_order, check_order, defended_classifier, perturbation_sizes,
                               subset_indices)
from evaluation.statistics import Accuracy, accuracy, mean_std, wilson_interval

__all__ = [
    "CURVE_LINES",
    "SIZES",
    "AttackedImages",
    "attack_cell",
    "check_attack_order",
    "curve_rows",
    "parse_curve_eps",
    "perturbation_sizes",
    "robustness_curve",
    "size_metric_name",
    "subset_indices",
    "CLEAN",
    "Cell",
    "cells",
    "metric_name",
    "parse_metric",
    "ORDER_RECORDS",
    "ORDERS",
    "Order",
    "Accuracy",
    "accuracy",
    "attack_inputs",
    "check_order",
    "defended_classifier",
    "mean_std",
    "wilson_interval",
]
