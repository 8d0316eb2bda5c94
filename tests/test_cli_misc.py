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
