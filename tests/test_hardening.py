"""Issue 11 (hardening): a bad-input and fault corpus.

Every case asserts the exit code, exactly one error line naming the file or option (no
traceback), and that nothing already written changed. Disk-full and read-only cases run on
a small tmpfs and are skipped, with the reason, where one cannot be mounted.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from autofix.errors import one_line, show_path

ERROR_PREFIXES = ("autofix:", "error:")


# ----------------------------------------------------------------------------- helpers


def cli(*args: object, umask: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``autofix ARGS`` in a subprocess (bytes arguments allowed, for non-UTF-8 names)."""
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    argv = [sys.executable, "-m", "autofix.cli.main", *(a if isinstance(a, bytes) else str(a) for a in args)]
    return subprocess.run(argv, capture_output=True, text=True, errors="backslashreplace", timeout=timeout,
                          preexec_fn=preexec)


def error_lines(res: subprocess.CompletedProcess) -> list[str]:
    """Lines of stderr that report an error; asserts there is no traceback."""
    assert "Traceback" not in res.stderr, res.stderr
    return [line for line in res.stderr.splitlines() if line.startswith(ERROR_PREFIXES)]


def one_error(res: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """Assert exit ``code`` and exactly one error line containing every needle; return it."""
    lines = error_lines(res)
    assert res.returncode == code, (res.returncode, res.stderr)
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: relative path → (bytes, mode)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob("*")) if p.is_file()}


def noise_png(path: Path, size: tuple[int, int] = (64, 64), seed: int = 0) -> Path:
    """A small random RGB PNG (nothing to detect: fast)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(name, kb)`` → a fresh tmpfs folder of ``kb`` KiB; skipped where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(name: str, kb: int) -> Path:
        where = tmp_path / name
        where.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(where)],
                             capture_output=True, text=True)
        if res.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({(res.stderr or res.stdout).strip() or res.returncode})")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def used_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


# ----------------------------------------------------------------------------- 1 memory


def test_thin_png_fix_memory_and_time_are_bounded(tmp_path):
    """A legal 20000x4 PNG: detection, planning, snapshots and the report stay small
    (it once took 3 GB and a 960000-px-wide contact sheet)."""
    noise_png(tmp_path / "in" / "thin.png", (20000, 4))
    # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts at the (pytest) parent's peak
    code = ("import re, sys, time; from autofix.cli.main import main; t = time.time(); "
            f"rc = main(['fix', {str(tmp_path / 'in')!r}, '-o', {str(tmp_path / 'out')!r}, '-q']); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(rc, time.time() - t, hwm)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    rc, seconds, rss_kb = res.stdout.split()
    assert int(rc) == 0, res.stderr
    assert float(seconds) < 60
    assert int(rss_kb) < 1_000_000, f"{int(rss_kb) // 1024} MB"


# ----------------------------------------------------------------------------- 2 one line


def test_report_disk_full_is_one_line_exit_3(tmp_path, tmpfs):
    """The images are written; the report written at the end then hits a full disk.

    A first run on an empty tmpfs measures what the run and its closing report take; the
    second gets a tmpfs with room for the run and only half the closing report's files."""
    inp = tmp_path / "in"
    for i in range(2):
        noise_png(inp / f"n{i}.png", (256, 256), seed=i)
    first = tmpfs("first", 32768)
    assert cli("fix", inp, "-o", first / "out", "-q").returncode == 0
    report = first / "out" / "_autofix" / "report"
    closing = [*report.glob("contact-sheet-*.png"), report / "index.html"]
    closing_bytes = sum(-(-p.stat().st_size // 4096) * 4096 for p in closing)
    assert closing_bytes > 64 * 1024
    second = tmpfs("second", 32768)
    st = os.statvfs(second)
    room = used_bytes(first) - closing_bytes // 2
    (second / "ballast").write_bytes(b"\0" * (st.f_blocks * st.f_frsize - room))
    res = cli("fix", inp, "-o", second / "out", "-q")
    one_error(res, 3, "report not written", "No space left on device")
    done = {k: v for k, v in tree(second / "out").items() if not k.startswith("_autofix/")}
    assert done == {k: v for k, v in tree(first / "out").items() if not k.startswith("_autofix/")}
    assert {"n0.png", "n1.png", "n0.png.autofix.json", "n1.png.autofix.json"} <= set(done)


def test_read_only_output_folder(tmp_path, tmpfs):
    inp = tmp_path / "in"
    noise_png(inp / "a.png")
    ro = tmpfs("ro", 4096)
    assert cli("fix", inp, "-o", ro / "out", "-q").returncode == 0
    before = tree(ro)
    res = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot remount read-only ({res.stderr.strip()})")
    one_error(cli("fix", inp, "-o", ro / "out", "-q", "--set", "stages.*.mask.blur=3"), 1,
              str(ro / "out"), "Read-only file system")
    one_error(cli("report", ro / "out"), 1, str(ro / "out"), "Read-only file system")
    one_error(cli("fix", inp, "-o", ro / "new", "-q"), 1, str(ro / "new"), "Read-only file system")
    assert tree(ro) == before


def test_output_naming_a_file(tmp_path):
    noise_png(tmp_path / "in" / "a.png")
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    one_error(cli("fix", tmp_path / "in", "-o", target), 1, "-o", "notes.txt", "is a file, not a folder")
    one_error(cli("remove", tmp_path / "in" / "a.png", "-o", target / "sub", "--box", "1,1,9,9"), 1, "-o",
              "is a file")
    assert target.read_text() == "keep me"


def test_set_values_are_text_for_text_keys():
    res = cli("config", "--json", "--set", "stages.*.inpaint.prompt={prompt}, detailed face",
              "--set", "stages.*.inpaint.negative_prompt=12", "--set", "stages.face.label=yes")
    assert res.returncode == 0, res.stderr
    stages = json.loads(res.stdout)["config"]["stages"]
    assert {s["inpaint"]["prompt"] for s in stages} == {"{prompt}, detailed face"}
    assert {s["inpaint"]["negative_prompt"] for s in stages} == {"12"}
    assert [s["label"] for s in stages if s["name"] == "face"] == ["yes"]
    one_error(cli("config", "--set", "stages.*.mask.blur=["), 1, "stages.*.mask.blur=[", "not valid YAML")
    one_error(cli("config", "--set", "stages.*.mask.blur=soft"), 1, "mask.blur")


def test_deeply_nested_yaml_and_prompts_json(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 50000 + "]" * 50000 + "\n")
    one_error(cli("config", "--config", deep), 1, "deep.yaml", "nested too deeply")
    one_error(cli("fix", tmp_path, "-o", tmp_path.parent / "out-deep", "--config", deep), 1, "deep.yaml")
    noise_png(tmp_path / "in" / "a.png")
    prompts = tmp_path / "deep.json"
    prompts.write_text('{"a.png": ' + "[" * 50000 + "]" * 50000 + "}")
    one_error(cli("remove", tmp_path / "in", "-o", tmp_path / "out", "--prompts", prompts), 1,
              "deep.json", "nested too deeply")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "out-deep").exists()


def test_sub_pixel_box_is_one_line_not_an_opencv_assertion(tmp_path):
    image = noise_png(tmp_path / "in" / "a.png")
    res = cli("remove", image, "-o", tmp_path / "out", "--box", "10.2,10.2,10.4,10.4", "--no-report", "-q")
    one_error(res, 3, "a.png", "10.2,10.2,10.4,10.4", "less than one pixel")
    assert not (tmp_path / "out" / "a.png").exists()


def test_grabcut_survives_boxes_of_a_pixel_or_two():
    from autofix.detect.grabcut import GrabCutRefiner

    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    for box in [(10, 10, 11.5, 11.5), (0, 0, 2, 2), (62, 62, 64, 64), (30, 30, 31, 33)]:
        mask, score = GrabCutRefiner().refine(image, box=box)
        assert mask.shape == (64, 64) and score in (0.0, 1.0)


# ----------------------------------------------------------------------------- 3 umask


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_follow_the_umask(tmp_path, umask):
    noise_png(tmp_path / "in" / "a.png")
    res = cli("fix", tmp_path / "in", "-o", tmp_path / "out", "-q", "--inpainter", "classical", umask=umask)
    assert res.returncode == 0, res.stderr
    files = tree(tmp_path / "out")
    assert {"a.png", "a.png.autofix.json", "_autofix/report/index.html"} <= set(files)
    assert {k: oct(m) for k, (_, m) in files.items() if m != 0o666 & ~umask} == {}


def test_umask_is_read_without_changing_it():
    from autofix.io import atomic

    code = ("import os; os.umask(0o007); from autofix.io import atomic; "
            "print(oct(atomic.new_file_mode()), oct(os.umask(0o007)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0o660", "0o7"]
    assert atomic.new_file_mode() == 0o666 & ~atomic.current_umask()


# ----------------------------------------------------------------------------- 4 names


def test_names_with_newlines_and_escape_codes_are_quoted(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "x\nerror: forged.png").write_bytes(b"not an image")
    (inp / "\x1b[31mred.png").write_bytes(b"not an image either")
    res = cli("fix", inp, "-o", tmp_path / "out", "--no-report", "-q")
    assert res.returncode == 3
    lines = error_lines(res)
    assert len(lines) == 2, res.stderr
    assert "\x1b" not in res.stderr
    assert not any(line.startswith("error: forged") for line in res.stderr.splitlines())
    assert any("'" + str(inp) + "/x\\nerror: forged.png'" in line for line in lines), lines
    assert any("\\x1b[31mred.png'" in line for line in lines), lines


def test_show_path_and_one_line():
    assert show_path("plain name.png") == "plain name.png"
    assert show_path("a\nb.png") == "'a\\nb.png'"
    assert show_path(os.fsdecode(b"caf\xe9.png")) == "'caf\\xe9.png'"
    assert show_path("it's\t.png") == "'it\\'s\\t.png'"
    assert show_path(Path("\u202eevil.png")) == "'\\u202eevil.png'"
    assert one_line("a\nb\x1b[0m") == "a\\nb\\x1b[0m"


# ----------------------------------------------------------------------------- 5 lost results


def test_converted_names_never_collide(tmp_path):
    inp = tmp_path / "in"
    for i, name in enumerate(["a.jpg", "a.png", "a.jpg.png", "b.webp", "B.PNG"]):
        im = Image.fromarray(np.random.default_rng(i).integers(0, 255, (48, 48, 3), dtype=np.uint8))
        inp.mkdir(exist_ok=True)
        im.save(inp / name, format={"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[name.rsplit(".", 1)[1].lower()])
    res = cli("fix", inp, "-o", tmp_path / "out", "--format", "png", "--no-report", "-q", "--json")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith('{"input"')]
    outputs = [row["output"] for row in rows]
    assert len(rows) == 5 and len({o.casefold() for o in outputs}) == 5, outputs
    sidecars = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.autofix.json")]
    assert sorted(s["input"]["path"] for s in sidecars) == sorted(["a.jpg", "a.png", "a.jpg.png", "b.webp", "B.PNG"])


def test_final_path_names_are_stable_and_distinct(tmp_path):
    from autofix.run.output_folder import OutputStore

    for name in ["a.jpg", "a.png", "a.jpg.png", "c.webp", "d.jpg", "d.jpg.webp"]:
        (tmp_path / name).write_bytes(b"x")
    store = OutputStore(tmp_path / "out")
    names = {n: store.final_path(Path(n), ".png", tmp_path).name for n in sorted(os.listdir(tmp_path))
             if n != "out"}
    assert names == {"a.jpg": "a.jpg-2.png", "a.png": "a.png", "a.jpg.png": "a.jpg.png", "c.webp": "c.png",
                     "d.jpg": "d.png", "d.jpg.webp": "d.jpg.png"}
    assert store.final_path(Path("c.webp"), ".webp", tmp_path).name == "c.webp"


def test_non_utf8_file_name_gets_output_and_sidecar(tmp_path):
    inp = tmp_path / "in"
    noise_png(inp / "x.png").rename(os.fsdecode(bytes(inp) + b"/caf\xe9.png"))
    out = tmp_path / "out"
    res = cli("fix", inp, "-o", out, "--no-report", "-q", "--json")
    assert res.returncode == 0, res.stderr
    name = os.fsdecode(b"caf\xe9.png")
    assert (out / name).is_file() and (out / (name + ".autofix.json")).is_file()
    again = cli("fix", inp, "-o", out, "--no-report", "-q", "--json")
    assert json.loads(again.stdout.splitlines()[0])["status"] == "unchanged"


def test_non_utf8_file_name_report_failure_is_one_line(tmp_path):
    """Whatever the report does with the name, the run's images are done: one line, never exit 1."""
    inp = tmp_path / "in"
    noise_png(inp / "x.png").rename(os.fsdecode(bytes(inp) + b"/caf\xe9.png"))
    res = cli("fix", inp, "-o", tmp_path / "out", "-q")
    if res.returncode == 3:
        one_error(res, 3, "report not written")
    else:
        assert res.returncode == 0 and not error_lines(res), res.stderr
    assert (tmp_path / "out" / (os.fsdecode(b"caf\xe9.png") + ".autofix.json")).is_file()


def test_non_utf8_file_name_gets_a_report(tmp_path):
    inp = tmp_path / "in"
    noise_png(inp / "x.png").rename(os.fsdecode(bytes(inp) + b"/caf\xe9.png"))
    res = cli("fix", inp, "-o", tmp_path / "out", "-q")
    assert res.returncode == 0, res.stderr


def test_prompts_naming_missing_images(tmp_path):
    noise_png(tmp_path / "in" / "a.png")
    prompts = tmp_path / "boxes.json"
    prompts.write_text(json.dumps({"a.png": {"boxes": [[4, 4, 20, 20]]}, "typo.png": {"boxes": [[1, 1, 9, 9]]},
                                   "sub/other.png": {"boxes": [[1, 1, 9, 9]]}}))
    one_error(cli("remove", tmp_path / "in", "-o", tmp_path / "out", "--prompts", prompts), 1,
              "boxes.json", "no image sub/other.png", "1 more")
    assert not (tmp_path / "out").exists()
    single = cli("remove", tmp_path / "in" / "a.png", "-o", tmp_path / "out", "--prompts", prompts, "-q",
                 "--no-report")
    assert single.returncode == 0 and not error_lines(single), single.stderr  # other entries: not for this run
    prompts.write_text(json.dumps({"b.png": {"boxes": [[1, 1, 9, 9]]}}))
    before = tree(tmp_path / "out")
    one_error(cli("remove", tmp_path / "in" / "a.png", "-o", tmp_path / "out", "--prompts", prompts), 1,
              "boxes.json", "no boxes or points for a.png")
    assert tree(tmp_path / "out") == before


# ----------------------------------------------------------------------------- 6 metadata


def _png_with_text(path: Path, key: str, value: str, itxt: bool = False) -> Path:
    info = PngImagePlugin.PngInfo()
    if itxt:
        info.add_itxt(key, value, zip=True)
    else:
        info.add_text(key, value, zip=True)
    info.add_text("parameters", "a portrait")
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path, pnginfo=info)
    return path


def _workflow(size: int) -> str:
    nodes = [{"id": i, "type": "KSampler", "widgets_values": [os.urandom(16).hex()]} for i in range(size // 70)]
    return json.dumps({"nodes": nodes})


def test_compressed_text_over_one_megabyte_is_kept(tmp_path):
    from autofix.io.image import load_image

    workflow = _workflow(1_700_000)
    assert len(workflow) > 1_048_576  # over Pillow's PngImagePlugin.MAX_TEXT_CHUNK
    loaded = load_image(_png_with_text(tmp_path / "wf.png", "workflow", workflow))
    assert loaded.text["workflow"] == workflow and loaded.text["parameters"] == "a portrait"
    loaded = load_image(_png_with_text(tmp_path / "wfi.png", "workflow", workflow, itxt=True))
    assert loaded.text["workflow"] == workflow


def test_compressed_text_too_large_is_dropped_with_a_note(tmp_path, monkeypatch):
    from autofix.io import image

    monkeypatch.setattr(image, "MAX_BIG_TEXT", 1_100_000)
    loaded = image.load_image(_png_with_text(tmp_path / "wf.png", "workflow", _workflow(1_700_000), itxt=True))
    assert "workflow" not in loaded.text and loaded.text["parameters"] == "a portrait"
    assert "png_text_dropped:workflow" in loaded.normalisations
    assert loaded.rgb.shape == (40, 40, 3)


def test_fix_an_image_with_a_big_workflow_chunk(tmp_path):
    (tmp_path / "in").mkdir()
    _png_with_text(tmp_path / "in" / "wf.png", "workflow", _workflow(1_700_000))
    res = cli("fix", tmp_path / "in", "-o", tmp_path / "out", "--no-report", "-q", "--inpainter", "classical")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "out" / "wf.png.autofix.json").read_text())["status"] != "failed"


def test_sixteen_bit_rgb_is_noted(tmp_path):
    import cv2

    from autofix.io.image import load_image

    for channels in (3, 4):
        data = np.random.default_rng(0).integers(0, 65535, (8, 8, channels)).astype(np.uint16)
        path = tmp_path / f"c{channels}.png"
        cv2.imwrite(str(path), data)
        assert "16bit_rgb_truncated_to_8bit" in load_image(path).normalisations
    noise_png(tmp_path / "eight.png")
    assert "16bit_rgb_truncated_to_8bit" not in load_image(tmp_path / "eight.png").normalisations


# ----------------------------------------------------------------------------- 8 smaller ones


def test_torn_journal_line_does_not_swallow_the_next_event(tmp_path):
    from autofix.io.atomic import append_line_durable

    journal = tmp_path / "journal.jsonl"
    journal.write_bytes(b'{"event": "a"}\n{"event": "to')
    append_line_durable(journal, json.dumps({"event": "b"}))
    append_line_durable(journal, json.dumps({"event": "c"}))
    lines = journal.read_text().splitlines()
    assert lines == ['{"event": "a"}', '{"event": "to', '{"event": "b"}', '{"event": "c"}']


def test_mask_bbox_rejects_non_2d_masks():
    from autofix.plan.masks import mask_bbox

    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 3:7] = 255
    assert mask_bbox(mask) == (3, 2, 7, 4)
    with pytest.raises(ValueError, match=r"\(H, W\) mask.*\(6, 8, 3\)"):
        mask_bbox(np.repeat(mask[:, :, None], 3, axis=2))


def test_watch_exit_code_counts_the_last_outcome(tmp_path):
    """A file that failed while still being written, then was fixed, counts as fixed."""
    from autofix.io.image import TRUNCATED
    from autofix.run import watch as w
    from autofix.run.executor import ImageOutcome

    inp = tmp_path / "in"
    inp.mkdir()
    target = inp / "slow.png"
    target.write_bytes(b"\x89PNG partial")

    class Runner:
        store = type("S", (), {"journal": staticmethod(lambda *a, **k: None)})()

        def run(self, rel):
            if target.read_bytes().startswith(b"\x89PNG partial"):
                return ImageOutcome(rel, "failed", f"{rel}: {TRUNCATED}")
            return ImageOutcome(rel, "fixed", "ok")

    def grow(outcome):  # the writer finishes only after the second failure
        if outcome.status == "failed":
            target.write_bytes(b"a complete image, at last")

    outcomes = w._loop(inp, Runner(), 0.01, True, 5.0, grow)
    assert [o.status for o in outcomes] == ["failed", "fixed"]
    assert [o.status for o in w.latest_outcomes(outcomes)] == ["fixed"]


def test_help_texts_and_defaults():
    from autofix.cli.main import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in ("fix", "watch", "remove", "config", "report", "sample", "presets"):
        for action in subs[name]._actions:
            assert action.help, (name, action.option_strings or action.dest)
    helps = {a.dest: a.help for a in subs["fix"]._actions}
    for dest in ("steps", "strength", "cfg", "seed", "candidates", "confidence", "top_k", "padding", "resolution",
                 "dilate", "blur", "dtype", "masked_content", "scheduler", "format", "max_batch"):
        assert "default" in helps[dest], dest
    assert "YOLO" in helps["allow_pickle"] and "weights_only" in helps["allow_pickle"]
    remove_inpainter = next(a.help for a in subs["remove"]._actions if a.dest == "inpainter")
    assert "classical" in remove_inpainter.split(":", 1)[1]
    config_dests = {a.dest for a in subs["config"]._actions}
    assert not {"overlays", "quiet"} & config_dests


def test_dry_run_prints_where_the_plans_are(tmp_path):
    noise_png(tmp_path / "in" / "a.png")
    res = cli("fix", tmp_path / "in", "-o", tmp_path / "out", "--dry-run", "-q")
    assert res.returncode == 0, res.stderr
    assert f"plans: {tmp_path / 'out' / '_autofix' / 'plans'}" in res.stderr.splitlines()


def test_cpu_offload_on_cpu_warns(tmp_path):
    noise_png(tmp_path / "in" / "a.png")
    res = cli("fix", tmp_path / "in", "-o", tmp_path / "out", "--dry-run", "-q", "--cpu-offload", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    assert [line for line in res.stderr.splitlines() if "--cpu-offload does nothing on cpu" in line]


def test_missing_extra_hint_names_working_commands():
    from autofix.errors import BackendUnavailable
    from autofix.registry import Registry

    reg: Registry[object] = Registry("thing")
    reg.register("x", requires=("no_such_module_for_autofix",), extra="sd")(lambda: None)
    with pytest.raises(BackendUnavailable, match=r"scripts/install.sh --sd"):
        reg.build("x")


def test_models_list_says_the_shipped_presets_need_none():
    res = cli("models", "list")
    assert res.returncode == 0, res.stderr
    assert "the shipped presets (" in res.stderr and "faces+hands, " in res.stderr
    assert "remove) need none of these files" in res.stderr
