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

    assert set(cli("presets", "--json")) == {"faces", "hands", "faces+hands", "faces+eyes+mouth", "remove"}
    assert len(cli("config", "--preset", "faces", "--json")["config_hash"]) == 64
    assert cli("sample", str(tmp_path / "s"), "--json")["written"]
    rows = cli("models", "list", "--json")
    assert {r["name"] for r in rows} >= {"face_yolov8n", "hand_yolov8n", "sam_vit_b", "sd15_inpainting"}


def test_flag_combinations_are_usage_errors_exit_2(tmp_path, capsys):
    """Flags that cannot go together or are out of range exit 2 (usage), like argparse's own
    errors, with one line; a bad config value stays 1 (fatal). One table: autofix.errors."""
    from autofix.cli.main import main
    from autofix.errors import EXIT_FATAL, EXIT_USAGE

    out = str(tmp_path / "o")
    for extra in (["--window", "0"], ["--cpu-workers", "2"], ["--control-type", "tile"]):
        assert main(["fix", str(tmp_path), "-o", out, *extra]) == EXIT_USAGE, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("autofix: "), err
    assert main(["remove", str(tmp_path), "-o", out, "--prompts", "p.json", "--box", "1,1,5,5"]) == EXIT_USAGE
    assert main(["fix", str(tmp_path), "-o", out, "--set", "stages.*.mask.blur=-3"]) == EXIT_FATAL


def test_cli_choices_are_the_config_literals():
    """Every closed CLI choice is exactly what the pydantic config accepts (one definition,
    autofix.choices, read by both); a value added to the config reaches the CLI."""
    from typing import get_args

    from autofix.cli.main import build_parser
    from autofix.config import CropConfig, DetectorConfig, InpainterConfig, InpaintParams, OutputConfig
    from autofix.run.executor import RunOptions

    fields = {"--inpainter": (InpainterConfig, "backend"), "--dtype": (InpainterConfig, "dtype"),
              "--masked-content": (InpaintParams, "masked_content"), "--inpaint-area": (CropConfig, "area"),
              "--resize-mode": (CropConfig, "resize_mode"), "--format": (OutputConfig, "format"),
              "--refine": (DetectorConfig, "refine")}
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    seen = {}
    for name in ("fix", "remove"):
        for action in sub[name]._actions:
            for flag in action.option_strings:
                seen[flag] = action.choices
    for flag, (model, field) in fields.items():
        assert tuple(seen[flag]) == get_args(model.model_fields[field].annotation), flag
    from autofix.config import ControlNetUnit

    assert tuple(seen["--control-type"]) == get_args(ControlNetUnit.model_fields["type"].annotation)
    assert "overlays" in RunOptions.__dataclass_fields__ and tuple(seen["--overlays"]) == ("auto", "always", "never")
