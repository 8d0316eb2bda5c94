"""The Ray engine (a local Ray instance): same outputs and sidecars as the local engine, a
worker SIGKILLed mid-run loses nothing, one run per output folder, throughput in the summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray")

from autofix.config import build_config  # noqa: E402
from autofix.errors import LockHeld  # noqa: E402
from autofix.io.atomic import TMP_MARK  # noqa: E402
from autofix.photos import photo_array  # noqa: E402
from autofix.run.batch import run_folder  # noqa: E402
from autofix.run.executor import RunOptions  # noqa: E402
from autofix.run.ray_engine import RayOptions  # noqa: E402
from autofix.run.output_folder import OutputStore  # noqa: E402

pytestmark = pytest.mark.slow


def _photos(src: Path, copies: int = 1) -> Path:
    src.mkdir(parents=True, exist_ok=True)
    for k in range(copies):
        for name in ("astronaut", "zidane", "grace_hopper", "camera"):
            img = photo_array(name)
            Image.fromarray(img[:, ::-1] if k % 2 else img).save(src / f"{name}-{k}.png")
    return src


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file() and "_autofix" not in p.parts}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "autofix.cli.main", *args]


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    src = _photos(root / "in", copies=2)
    (src / "broken.png").write_text("not an image")
    ref = root / "local"
    done = subprocess.run(_cli("fix", str(src), "-o", str(ref), "--inpainter", "classical", "-q"),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 3, done.stderr  # the broken input fails, the rest is fixed
    return src, ref


def test_ray_engine_matches_local_outputs_and_sidecars(local_reference, tmp_path):
    src, ref = local_reference
    out = tmp_path / "ray"
    cfg = build_config("faces+hands", patch={"inpainter": {"backend": "classical"}})
    summary = run_folder(src, out, cfg, RunOptions(window=2), progress=False, ray=RayOptions(cpu_workers=2))
    counts = summary.counts()
    assert counts["fixed"] == 8 and counts["failed"] == 1
    assert _outputs(out) == _outputs(ref)  # finals and sidecars, byte for byte
    assert "images/s" in summary.lines()[0] and "regions/s" in summary.lines()[0]
    events = [json.loads(line)["event"] for line in (out / "_autofix" / "journal.jsonl").read_text().splitlines()]
    assert events.count("image_done") == 8 and events[0] == "run_start" and events[-1] == "run_end"


def test_worker_sigkill_mid_run_resumes_byte_identical(local_reference, tmp_path):
    src, ref = local_reference
    out = tmp_path / "ray-kill"
    proc = subprocess.Popen(_cli("fix", str(src), "-o", str(out), "--inpainter", "classical", "--engine", "ray",
                                 "--window", "1", "--cpu-workers", "2", "-q"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal, killed, start = out / "_autofix" / "journal.jsonl", [], time.time()
    while proc.poll() is None and not killed and time.time() - start < 240:
        done = journal.read_text().count('"stage_done"') if journal.exists() else 0
        if done >= 2:
            for pid in _ray_task_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
    _, err = proc.communicate(timeout=300)
    assert killed, "no window task was running to kill"
    assert proc.returncode == 3, err  # only the broken input failed: the killed window was retried
    assert _outputs(out) == _outputs(ref)
    assert not [p for p in out.rglob(f"*{TMP_MARK}*")]


def _ray_task_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"ray::_window"):
                pids.append(int(entry.name))
    return pids


def test_one_run_per_output_folder(tmp_path):
    src = _photos(tmp_path / "in")
    holder = OutputStore(tmp_path / "out")
    holder.acquire_lock()
    try:
        with pytest.raises(LockHeld):
            run_folder(src, tmp_path / "out", build_config("faces"), progress=False, ray=RayOptions())
    finally:
        holder.release_lock()


def test_sd_through_actors_matches_local(tmp_path):
    pytest.importorskip("diffusers")
    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    model = make_tiny_models(tmp_path / "models", ("sd15-inpainting",))["sd15-inpainting"]
    src = tmp_path / "in"
    src.mkdir()
    for name in ("zidane", "astronaut"):
        Image.fromarray(photo_array(name)).save(src / f"{name}.png")
    cfg = build_config("faces", patch={"inpainter": {"model": str(model.single_file),
                                                     "config_dir": str(model.config_dir)}},
                       overrides=["stages.*.inpaint.steps=2", "stages.*.inpaint.strength=0.5",
                                  "stages.*.crop.resolution=128"])
    local = run_folder(src, tmp_path / "local", cfg, RunOptions(window=2), progress=False)
    remote = run_folder(src, tmp_path / "ray", cfg, RunOptions(window=2), progress=False, ray=RayOptions())
    assert local.counts() == remote.counts() and local.counts()["fixed"] == 2, [o.detail for o in remote.outcomes]
    for rel in ("zidane.png", "astronaut.png"):
        a = np.asarray(Image.open(tmp_path / "local" / rel)).astype(int)
        b = np.asarray(Image.open(tmp_path / "ray" / rel)).astype(int)
        assert np.abs(a - b).max() <= 2, rel  # same model, same batches: float order only
        side_a = json.loads((tmp_path / "local" / f"{rel}.autofix.json").read_text())
        side_b = json.loads((tmp_path / "ray" / f"{rel}.autofix.json").read_text())
        assert side_a["stages"][0]["inpainter"] == side_b["stages"][0]["inpainter"]
        assert [r["seed"] for r in side_a["stages"][0]["regions"]] == [r["seed"] for r in side_b["stages"][0]["regions"]]
