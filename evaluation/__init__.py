"""Evaluating a classifier on the thesis' grid: test sets x attacks x orders.

    x_eval = evaluation.attack_inputs(model, T, x, y, "fgsm", "adaptive")
    evaluation.accuracy(model_predictions, y)   # correct, n, 95% Wilson interval
"""

from evaluation.grid import CLEAN, Cell, cells, metric_name, parse_metric
from evaluation.orders import ORDER_RECORDS, ORDERS, Order, attack_inputs, check_order, defended_classifier
from evaluation.statistics import Accuracy, accuracy, mean_std, wilson_interval

__all__ = [
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
