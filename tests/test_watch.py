"""`autofix watch`: only completely written files, A1111 metadata inherited and written back."""

from __future__ import annotations

import io
import json
import threading
import time

from PIL import Image, PngImagePlugin

from autofix.config import build_config
from autofix.io.metadata import parse_a1111
from autofix.photos import photo_array
from autofix.run.watch import watch

PARAMS = "portrait of a footballer\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Seed: 77, Size: 1280x720"


def _png_bytes() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", PARAMS)
    buf = io.BytesIO()
    Image.fromarray(photo_array("zidane")).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_watch_waits_for_complete_files_and_inherits_prompt(tmp_path):
    src, out = tmp_path / "outputs", tmp_path / "fixed"
    src.mkdir()
    data = _png_bytes()

    def slow_writer():  # a generator writing the file in pieces, like a webui saving
        with open(src / "00001-77.png", "wb") as fh:
            for i in range(0, len(data), len(data) // 6 + 1):
                fh.write(data[i:i + len(data) // 6 + 1])
                fh.flush()
                time.sleep(0.25)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    cfg = build_config("faces", patch={"inpainter": {"backend": "classical"}})
    outcomes = watch(src, out, cfg, settle=0.4, max_seconds=6)
    writer.join()
    assert [o.status for o in outcomes] == ["fixed"], [o.detail for o in outcomes]
    side = json.loads((out / "00001-77.png.autofix.json").read_text())
    faces = side["stages"][0]["regions"]
    assert faces and all(r["prompt"] == "portrait of a footballer, detailed face" for r in faces)
    assert all(r["negative_prompt"] == "blurry, blurry, deformed" for r in faces)
    text = Image.open(out / "00001-77.png").text["parameters"]
    back = parse_a1111(text)
    assert back.prompt == "portrait of a footballer" and back.seed == 77
    assert back.settings["autofix stages"] == "face:2/2" and back.settings["autofix inpainter"] == "classical:telea"


def test_watch_restart_skips_done_images(tmp_path):
    src, out = tmp_path / "outputs", tmp_path / "fixed"
    src.mkdir()
    (src / "a.png").write_bytes(_png_bytes())
    cfg = build_config("faces", patch={"inpainter": {"backend": "classical"}})
    first = watch(src, out, cfg, settle=0.2, once=True)
    second = watch(src, out, cfg, settle=0.2, once=True)
    assert [o.status for o in first] == ["fixed"]
    assert [o.status for o in second] == ["unchanged"]
