"""CLI comfort: --help imports nothing heavy; --json outputs parse."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout


def test_help_imports_nothing_heavy():
    out = _run("import sys\nfrom autofix.cli.main import build_parser\nbuild_parser().format_help()\n"
               "print(','.join(m for m in ('numpy','torch','cv2','mediapipe','PIL','diffusers','pydantic') "
               "if m in sys.modules))")
    assert out.strip() == ""


def test_json_outputs_parse(tmp_path):
    def cli(*args):
        res = subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    assert set(cli("presets", "--json")) == {"faces", "hands", "faces+hands", "remove"}
    assert len(cli("config", "--preset", "faces", "--json")["config_hash"]) == 64
    assert cli("sample", str(tmp_path / "s"), "--json")["written"]
    rows = cli("models", "list", "--json")
    assert {r["name"] for r in rows} >= {"face_yolov8n", "hand_yolov8n", "sam_vit_b", "sd15_inpainting"}
