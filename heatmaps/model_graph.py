"""Walking a Keras 3 functional (or Sequential) model layer by layer.

Explanation rules change what a layer does in the backward pass, so they need
to re-run the model's graph with some layers replaced by modified callables.
Keras 3 keeps that graph on the model (``Functional._run_through_graph`` and
the node lists); this module is the single place that touches those
internals, so a Keras upgrade that moves them breaks here, loudly.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import keras
import tensorflow as tf

OperationFn = Callable[[keras.layers.Layer], Callable]


def functional_graph(model: keras.Model):
    """The ``keras.Model`` whose graph can be walked (the model itself, or a Sequential's)."""
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    if graph is None or not hasattr(graph, "_run_through_graph") or not hasattr(graph, "_nodes_by_depth"):
        raise ValueError(
            "The model must be a Keras functional or Sequential model built with a known input "
            f"shape (subclassed models have no graph to walk). Received: {type(model).__name__} "
            f"'{getattr(model, 'name', model)}'"
        )
    return graph


def consumers(model: keras.Model) -> dict[int, list[keras.layers.Layer]]:
    """Map ``id(layer)`` to the layers that consume its output, in graph order."""
    graph = functional_graph(model)
    result: dict[int, list] = defaultdict(list)
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            for tensor in node.input_tensors:
                producer = tensor._keras_history.operation
                if producer is not None:
                    result[id(producer)].append(node.operation)
    return result


def output_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that produce the model's outputs."""
    graph = functional_graph(model)
    return [tensor._keras_history.operation for tensor in graph.outputs]


def inference_call(layer: keras.layers.Layer) -> Callable:
    """``layer`` called in inference mode (``training=False`` where it takes it)."""

    def call(*args, **kwargs):
        if "training" in getattr(layer, "_call_context_args", ()):
            kwargs["training"] = False
        return layer(*args, **kwargs)

    return call


def run(model: keras.Model, inputs: tf.Tensor, operation_fn: OperationFn) -> tf.Tensor:
    """Run ``model`` on ``inputs`` with every layer replaced by ``operation_fn(layer)``."""
    graph = functional_graph(model)
    return graph._run_through_graph(inputs, operation_fn=operation_fn)
