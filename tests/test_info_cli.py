"""`autofix info FILE... [--json]` on real generator files."""

from __future__ import annotations

import json
from pathlib import Path

from autofix.cli.main import main

DATA = Path(__file__).parent / "data" / "generators"
KEYS = ["generator", "prompt", "negative_prompt", "seed", "steps", "sampler", "cfg", "size", "model", "loras", "reader"]


def test_info_json_one_file_is_an_object_with_exactly_the_keys(capsys):
    assert main(["info", "--json", str(DATA / "sd-metadata/png/easy-reforge.png")]) == 0
    got = json.loads(capsys.readouterr().out)
    assert list(got) == KEYS
    assert got["generator"] == "reForge" and got["seed"] == 2582194946 and got["size"] == [1024, 1024]
    assert got["loras"] == [{"name": "NoobV065sHyperDmd", "weight": 1.0}]
    assert got["reader"] == "a1111-infotext (png:parameters)"


def test_info_json_several_files_is_a_list_with_nulls_where_unknown(capsys, tmp_path):
    files = [DATA / "sd-metadata/jpg/swarmui.jpg", DATA / "sd-metadata/webp/gimp.webp", tmp_path / "missing.png"]
    assert main(["info", "--json", *map(str, files)]) == 3  # a missing file is a failure, the rest still printed
    out = capsys.readouterr()
    rows = json.loads(out.out)
    assert [list(r) for r in rows] == [KEYS] * 3
    assert rows[0]["generator"].startswith("SwarmUI") and rows[0]["seed"] == 697543491
    assert all(v is None for v in rows[1].values()) and all(v is None for v in rows[2].values())
    assert out.err.strip().splitlines() == [f"autofix: {tmp_path / 'missing.png'}: file not found"]


def test_info_text_names_the_reader_and_says_when_nothing_was_read(capsys, tmp_path):
    evil = tmp_path / "x.png"
    evil.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["info", str(DATA / "sd-metadata/png/comfyui.png"), str(DATA / "sd-metadata/png/gimp.png"),
                 str(evil)]) == 0
    out = capsys.readouterr().out
    assert "reader: comfyui-api (png:prompt)" in out and "seed: 422847914351919" in out
    assert out.count("nothing read:") == 2 and "nothing inherited" in out


def test_info_escapes_control_characters_from_metadata(capsys, tmp_path):
    from io import BytesIO

    from PIL import Image, PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "a \x1b[31mred\x1b[0m cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    buf = BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=meta)
    path = tmp_path / "esc.png"
    path.write_bytes(buf.getvalue())
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "red" in out


def test_info_json_escapes_bidi_and_deep_json_is_safe(capsys, tmp_path):
    from io import BytesIO

    from PIL import Image, PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "a \u202ecat\u202c\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, X: " + "[" * 5000)
    meta.add_text("prompt", "{" + '"a":' * 20000 + "1")
    buf = BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=meta)
    path = tmp_path / "bidi.png"
    path.write_bytes(buf.getvalue())
    assert main(["info", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\\u202e" in out
    assert json.loads(out)["prompt"] == "a \u202ecat\u202c"
