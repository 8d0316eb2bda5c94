"""Shared fixtures: offline switches, real photos that ship in packages, ground truth."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_cfg = Path(tempfile.gettempdir()) / "autofix-test-config"
for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
    "YOLO_CONFIG_DIR": str(_cfg / "yolo"),
    "MPLCONFIGDIR": str(_cfg / "mpl"),
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}.items():
    os.environ.setdefault(_k, _v)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autofix.photos import photo_array, photo_path  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def groundtruth() -> dict:
    """Hand-made face/hand boxes for package-shipped photos (tests/data)."""
    return json.loads((DATA / "open-photos-groundtruth.json").read_text())["images"]


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return photo_array("astronaut")


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    return photo_array("camera")


@pytest.fixture(scope="session")
def zidane_path() -> Path:
    return photo_path("zidane")


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    return photo_path("grace_hopper")
