"""A plain NumPy LRP-epsilon, written from the rule's definition, for one fixed test model.

Every layer is an explicit dense matrix; BatchNormalization is folded into
the convolution before it by hand; relevance moves with
``R_i = sum_j x_i w_ij / (z_j + eps * sign(z_j)) * R_j``. Deliberately slow
and shares no code with ``heatmaps``.
"""

import keras
import numpy as np


def build_model(seed: int = 0) -> keras.Model:
    """pad -> conv+BN+relu -> maxpool -> [conv+BN+relu -> conv+BN] + skip -> relu
    -> 1x1 conv with built-in relu (no BN) -> global average pool -> dense."""
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.ZeroPadding2D(1, name="pad")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="valid", name="conv_a")(x)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.Activation("relu", name="relu_a")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv_b")(x)
    y = keras.layers.BatchNormalization(name="bn_b")(y)
    y = keras.layers.Activation("relu", name="relu_b")(y)
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv_c")(y)
    y = keras.layers.BatchNormalization(name="bn_c")(y)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.Activation("relu", name="relu_add")(x)
    x = keras.layers.Conv2D(3, 1, activation="relu", name="conv_d")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="dense")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([
                rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),      # gamma, beta
                rng.normal(0, 0.2, c), rng.uniform(0.5, 1.5, c),       # moving mean, variance
            ])
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernel, bias = layer.get_weights()
            layer.set_weights([rng.normal(0, 0.5, kernel.shape), rng.normal(0, 0.2, bias.shape)])
    return model


def conv_matrix(kernel, bias, in_shape, padding):
    """Dense (in, out) matrix and bias of a stride-1 'same'/'valid' convolution."""
    height, width, cin = in_shape
    kh, kw, _, cout = kernel.shape
    pad = kh // 2 if padding == "same" else 0
    out_h, out_w = height + 2 * pad - kh + 1, width + 2 * pad - kw + 1
    matrix = np.zeros((height * width * cin, out_h * out_w * cout))
    for oi in range(out_h):
        for oj in range(out_w):
            for di in range(kh):
                for dj in range(kw):
                    i, j = oi + di - pad, oj + dj - pad
                    if 0 <= i < height and 0 <= j < width:
                        for c in range(cin):
                            for o in range(cout):
                                matrix[(i * width + j) * cin + c, (oi * out_w + oj) * cout + o] += kernel[di, dj, c, o]
    return matrix, np.tile(bias, out_h * out_w), (out_h, out_w, cout)


def fold(layer_weights, bn_weights, bn_epsilon):
    kernel, bias = layer_weights
    gamma, beta, mean, var = bn_weights
    scale = gamma / np.sqrt(var + bn_epsilon)
    return kernel * scale, (bias - mean) * scale + beta


def stabilised(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def lrp_linear(x, matrix, bias, relevance, eps):
    z = x @ matrix + bias
    return x * (matrix @ (relevance / stabilised(z, eps)))


def relevance(model: keras.Model, image: np.ndarray, target: int, eps: float) -> np.ndarray:
    """LRP-epsilon relevance (6, 6, 2) of ``image`` for logit ``target``."""
    w = {layer.name: [np.asarray(v, dtype=np.float64) for v in layer.get_weights()] for layer in model.layers}
    bn_eps = {layer.name: layer.epsilon for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    x = image.astype(np.float64)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))

    ka, ba = fold(w["conv_a"], w["bn_a"], bn_eps["bn_a"])
    ma, ba, shape_a = conv_matrix(ka, ba, (8, 8, 2), "valid")
    za = padded.ravel() @ ma + ba
    aa = np.maximum(za, 0).reshape(shape_a)

    pooled = np.zeros((3, 3, 4))
    winner = {}
    for i in range(3):
        for j in range(3):
            for c in range(4):
                window = aa[2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
                di, dj = np.unravel_index(np.argmax(window), (2, 2))
                pooled[i, j, c] = window[di, dj]
                winner[(i, j, c)] = (2 * i + di, 2 * j + dj, c)

    kb, bb = fold(w["conv_b"], w["bn_b"], bn_eps["bn_b"])
    mb, bb, _ = conv_matrix(kb, bb, (3, 3, 4), "same")
    zb = pooled.ravel() @ mb + bb
    ab = np.maximum(zb, 0)
    kc, bc = fold(w["conv_c"], w["bn_c"], bn_eps["bn_c"])
    mc, bc, _ = conv_matrix(kc, bc, (3, 3, 4), "same")
    zc = ab @ mc + bc
    s = pooled.ravel() + zc
    a_s = np.maximum(s, 0)
    md, bd, _ = conv_matrix(w["conv_d"][0], w["conv_d"][1], (3, 3, 4), "same")
    zd = a_s @ md + bd
    ad = np.maximum(zd, 0)
    m_gap = np.zeros((27, 3))
    for p in range(9):
        for c in range(3):
            m_gap[p * 3 + c, c] = 1.0 / 9.0
    g = ad @ m_gap
    logits = g @ w["dense"][0] + w["dense"][1]

    r_logits = np.zeros(3)
    r_logits[target] = logits[target]
    r_g = lrp_linear(g, w["dense"][0], w["dense"][1], r_logits, eps)
    r_ad = lrp_linear(ad, m_gap, 0.0, r_g, eps)
    r_as = lrp_linear(a_s, md, bd, r_ad, eps)          # relu passes relevance unchanged
    share = r_as / stabilised(s, eps)                    # Add: split by contribution
    r_pooled = pooled.ravel() * share
    r_zc = zc * share
    r_ab = lrp_linear(ab, mc, bc, r_zc, eps)
    r_pooled = r_pooled + lrp_linear(pooled.ravel(), mb, bb, r_ab, eps)
    r_aa = np.zeros(shape_a)
    for key, (i, j, c) in winner.items():
        r_aa[i, j, c] += r_pooled.reshape(3, 3, 4)[key]
    r_padded = lrp_linear(padded.ravel(), ma, ba, r_aa.ravel(), eps).reshape(8, 8, 2)
    return r_padded[1:-1, 1:-1], logits
