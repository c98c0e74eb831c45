"""Test settings shared by every test module.

TensorFlow reads TF_ENABLE_ONEDNN_OPTS when it is first imported: this file
runs before any test module imports it.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "data" / "cifar10-jpg"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared CIFAR-10 image tree (never copied into the repo)."""
    if not (DATA_ROOT / "train" / "airplane").is_dir():
        pytest.skip(f"shared CIFAR-10 image tree not found at {DATA_ROOT}")
    return DATA_ROOT
