"""`autofix remove`: box/click prompts on real photos, same staging and guarantees as fix."""

from __future__ import annotations

import json
import subprocess
import sys

from pathlib import Path

import numpy as np
from PIL import Image

from autofix.photos import photo_array


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True, timeout=300)


def test_remove_box_changes_only_inside_mask(tmp_path):
    src = tmp_path / "astro.png"
    rgb = photo_array("astronaut")
    Image.fromarray(rgb).save(src)
    res = _cli("remove", str(src), "--box", "350,380,500,500", "-o", str(tmp_path / "clean"), "-q")
    assert res.returncode == 0, res.stderr
    out = np.asarray(Image.open(tmp_path / "clean" / "astro.png"))
    from autofix.run.snapshots import SnapshotStore

    (mask,) = SnapshotStore(tmp_path / "clean" / "_autofix").stage_unions(Path("astro.png"), out.shape[:2])
    assert np.array_equal(out[mask == 0], rgb[mask == 0])
    assert (out[mask == 255] != rgb[mask == 255]).any()
    ys, xs = np.nonzero(mask)
    assert xs.min() >= 350 - 60 and xs.max() < 500 + 60 and ys.min() >= 380 - 60  # grabcut stays near the box
    side = json.loads((tmp_path / "clean" / "astro.png.autofix.json").read_text())
    assert side["stages"][0]["inpainter"]["name"] == "classical:auto"  # the remove preset: PatchMatch / TELEA
    assert side["stages"][0]["detector"] == "prompt+grabcut"


def test_remove_with_clicks_and_prompts_file(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    Image.fromarray(photo_array("astronaut")).save(folder / "a.png")
    Image.fromarray(photo_array("camera")).save(folder / "b.png")
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"a.png": {"boxes": [[350, 380, 500, 500]], "points": [[420, 440, 1]]},
                                   "b.png": {"boxes": [[330, 280, 400, 370]]}}))
    res = _cli("remove", str(folder), "--prompts", str(prompts), "-o", str(tmp_path / "out"), "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert {x["input"]: x["status"] for x in lines[:-1]} == {"a.png": "fixed", "b.png": "fixed"}
    click = _cli("remove", str(folder / "a.png"), "--point", "420,440", "--point", "300,100:neg",
                 "-o", str(tmp_path / "out2"), "-q")
    assert click.returncode == 0, click.stderr


def test_remove_bad_prompts_give_clear_errors(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(photo_array("astronaut")).save(src)
    outside = _cli("remove", str(src), "--box", "600,10,700,100", "-o", str(tmp_path / "o1"), "-q")
    assert outside.returncode == 3 and "a.png: box 600,10,700,100 is outside the 512x512 image" in outside.stderr
    zero = _cli("remove", str(src), "--box", "10,10,10,50", "-o", str(tmp_path / "o2"), "-q")
    assert zero.returncode in (1, 3) and "10,10,10,50" in zero.stderr
    point = _cli("remove", str(src), "--box", "10,10,100,100", "--point", "900,5", "-o", str(tmp_path / "o3"), "-q")
    assert point.returncode in (1, 3) and "900" in point.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    malformed = _cli("remove", str(tmp_path), "--prompts", str(bad), "-o", str(tmp_path.parent / "o4"), "-q")
    assert malformed.returncode == 1 and "bad.json" in malformed.stderr
    nothing = _cli("remove", str(src), "-o", str(tmp_path / "o5"))
    assert nothing.returncode == 2 and "nothing to remove" in nothing.stderr  # a usage error (README's exit codes)
