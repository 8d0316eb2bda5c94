"""A run killed with SIGKILL at random moments and re-run ends byte-identical to an
uninterrupted run, with no partial file at any final path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from autofix.io.atomic import TMP_MARK
from autofix.photos import photo_array, photo_path

pytestmark = pytest.mark.slow


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "autofix.cli.main", *args]


def _make_inputs(src: Path) -> None:
    for i, name in enumerate(("astronaut", "zidane", "camera", "grace_hopper")):
        sub = src / f"set{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_array(name)).save(sub / f"{name}.png")
    (src / "set0" / "zidane.jpg").write_bytes(photo_path("zidane").read_bytes())  # same stem, other format
    (src / "set1" / "broken.png").write_text("not an image")


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in out.rglob("*") if p.is_file() and "_autofix" not in p.parts}


def _journal_lines(out: Path) -> int:
    j = out / "_autofix" / "journal.jsonl"
    return len(j.read_text().splitlines()) if j.exists() else 0


def test_sigkill_mid_run_then_resume_is_byte_identical(tmp_path):
    src, ref, out = tmp_path / "in", tmp_path / "ref", tmp_path / "out"
    _make_inputs(src)
    args = ["--inpainter", "classical", "-q"]
    done = subprocess.run(_cli("fix", str(src), "-o", str(ref), *args), capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr  # one broken input: finished with failures
    assert "broken.png" in done.stderr
    reference = _outputs(ref)
    assert len([k for k in reference if not k.endswith(".json")]) == 5

    kills = 0
    for wait_lines in (2, 5, 9, 14):
        proc = subprocess.Popen(_cli("fix", str(src), "-o", str(out), *args),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start, target = time.time(), _journal_lines(out) + wait_lines
        while proc.poll() is None and _journal_lines(out) < target and time.time() - start < 120:
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        for name, data in _outputs(out).items():  # nothing half-written at a final path
            if TMP_MARK not in name:
                assert data == reference[name], f"partial or wrong file at {name}"
    assert kills >= 2, "the run finished before it could be killed; make the input set bigger"

    final = subprocess.run(_cli("fix", str(src), "-o", str(out), *args), capture_output=True, text=True, timeout=300)
    assert final.returncode == 3, final.stderr
    assert _outputs(out) == reference
    assert not [p for p in out.rglob(f"*{TMP_MARK}*")]


def test_second_run_on_locked_folder_exits_4(tmp_path):
    from autofix.run.output_folder import OutputStore

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    store = OutputStore(out)
    store.acquire_lock()
    try:
        res = subprocess.run(_cli("fix", str(src), "-o", str(out), "-q"), capture_output=True, text=True, timeout=120)
    finally:
        store.release_lock()
    assert res.returncode == 4
    assert "another autofix run" in res.stderr


def test_fatal_and_usage_exit_codes(tmp_path):
    missing = subprocess.run(_cli("fix", str(tmp_path / "nope"), "-o", str(tmp_path / "o")),
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr
    bad_cfg = subprocess.run(_cli("fix", str(tmp_path), "-o", str(tmp_path / "o"), "--set", "stages.*.mask.blur=-3"),
                             capture_output=True, text=True, timeout=60)
    assert bad_cfg.returncode == 1 and "blur" in bad_cfg.stderr
    usage = subprocess.run(_cli("fix"), capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2
