"""The defense: test transforms T (identity, Gaussian blur, heatmap blur per method) and their registry.

    defense.test_sets()               # name -> TestSet record (label, colour, heatmap, variant)
    T = defense.TestTransform("lrp_eps", explainer=model_original)
    x_defended = T(x)                 # NumPy
    forward = T.tf_forward()          # TensorFlow, BPDA gradient for adaptive attacks
"""

from defense.test_sets import BASE_TEST_SETS, TestSet, test_set, test_sets, variant, variants
from defense.transforms import TestTransform

__all__ = ["BASE_TEST_SETS", "TestSet", "TestTransform", "test_set", "test_sets", "variant", "variants"]
