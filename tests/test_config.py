"""Typed configuration: presets, unknown keys, ranges, overrides, hashes."""

from __future__ import annotations

import pytest

from autofix.config import apply_override, build_config, config_hash, preset_names
from autofix.errors import ConfigError


@pytest.mark.parametrize("name", ["faces", "hands", "faces+hands", "remove"])
def test_every_shipped_preset_validates(name):
    assert name in preset_names()
    cfg = build_config(name)
    assert cfg.preset == name and cfg.stages


def test_default_preset_is_hands_then_faces():
    assert [s.name for s in build_config().stages] == ["hand", "face"]


def test_unknown_key_is_rejected_with_its_path(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("stages:\n  - name: x\n    label: face\n    detector: mediapipe_face\n    mask: {dilat: 3}\n")
    with pytest.raises(ConfigError, match=r"stages\.0\.mask\.dilat"):
        build_config(file=f)


@pytest.mark.parametrize("override", [
    "stages.*.filters.confidence=1.5", "stages.*.crop.resolution=500", "stages.*.mask.blur=-1",
    "stages.*.inpaint.candidates=0", "stages.*.filters.min_area_ratio=0.9",
])
def test_out_of_range_values_are_rejected(override):
    with pytest.raises(ConfigError):
        build_config("faces", overrides=[override] + (["stages.*.filters.max_area_ratio=0.5"] if "min_area" in override else []))


def test_overrides_by_wildcard_name_and_index():
    cfg = build_config("faces+hands", overrides=["stages.*.mask.blur=3", "stages.face.crop.padding=64",
                                                  "stages.0.inpaint.prompt=a hand"])
    assert [s.mask.blur for s in cfg.stages] == [3, 3]
    assert cfg.stages[1].crop.padding == 64 and cfg.stages[0].crop.padding == 32
    assert cfg.stages[0].inpaint.prompt == "a hand"


def test_bad_override_forms():
    with pytest.raises(ConfigError, match="key=value"):
        build_config("faces", overrides=["stages.*.mask.blur"])
    with pytest.raises(ConfigError, match="no list item"):
        build_config("faces", overrides=["stages.nosuch.mask.blur=3"])
    with pytest.raises(ConfigError, match="unknown preset"):
        build_config("nope")


def test_detector_shorthand_and_hash_changes():
    d = {}
    apply_override(d, "x=1")
    assert d == {"x": 1}
    a = build_config("faces")
    b = build_config("faces", overrides=["stages.face.detector=mediapipe_face:short"])
    assert b.stages[0].detector.backend == "mediapipe_face" and b.stages[0].detector.model == "short"
    assert config_hash(a) == config_hash(build_config("faces")) != config_hash(b)


def test_duplicate_stage_names_rejected():
    with pytest.raises(ConfigError, match="unique"):
        build_config("faces", patch={"stages": [
            {"name": "a", "label": "face", "detector": "mediapipe_face"},
            {"name": "a", "label": "hand", "detector": "mediapipe_hands"}]})
