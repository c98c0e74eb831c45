"""The defense: test transforms T (identity, Gaussian blur, heatmap blur per method).

    T = defense.TestTransform("lrp_eps", explainer=model_original)
    x_defended = T(x)                 # NumPy
    forward = T.tf_forward()          # TensorFlow, BPDA gradient for adaptive attacks
"""

from defense.transforms import TEST_SETS, TestTransform, check_test_set

__all__ = ["TEST_SETS", "TestTransform", "check_test_set"]
