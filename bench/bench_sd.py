"""Benchmark the Stable Diffusion path as the product runs it (never a best case).

Two measurements, both through the real folder path (``run_folder``: decode, detect, plan,
bucketed crops, stage-major windows, composite, snapshots, finals, sidecars):

``batching`` (default; CPU-friendly): a folder of >= 14 real photos of faces and hands
(default 32: ~1024-px variants of the photos that ship in scikit-image, matplotlib and ultralytics), the
``faces+hands`` preset, the tiny random SD1.5-inpainting model from ``tests/sd_tiny.py``
loaded from its A1111-style single file, default ``--max-batch 8``. Prints the mean crops per
UNet call (each pipeline call runs every UNet step on all its crops) against the target
(>= 6) and the old executor's 1.2.

``--gpu`` (one prepared command for a lent H200/H100; fits in 10 minutes): full-size
SD1.5-inpainting architecture (shipped config) at random weights, fp16 on CUDA, 48 images of
~1024² with 2–4 regions each (user boxes of 96–384 px, so crops fall in many buckets), 20
steps, strength 0.4. Compares autofix (``fix`` path) with the per-region way (one pipeline
call per region, batch 1, prompt re-encoded per call, 512² crop, as ADetailer/asdff do) on the
same loaded pipeline: regions/s of each, their ratio, and the fraction of wall time the GPU was
busy (``nvidia-smi`` sampled every 100 ms; ``torch.cuda.utilization`` as a fallback).
Targets: >= 8 regions/s, >= 2.5x the per-region way, GPU busy >= 80%.

    python bench/bench_sd.py [--images 32]           # batching, tiny model, CPU
    python bench/bench_sd.py --gpu                   # full size, CUDA (the prepared command)
    python bench/bench_sd.py --gpu --tiny --images 4 # the GPU script's plumbing, on CPU
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_fix import build_folder  # noqa: E402

from autofix.config import build_config  # noqa: E402
from autofix.inpaint.diffusion import DiffusionInpainter  # noqa: E402
from autofix.run.batch import run_folder  # noqa: E402

PROMPT = "a detailed face, sharp focus"


class CallCounter:
    """Counts pipeline calls and the crops in each (wraps ``DiffusionInpainter._run``)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self._original = DiffusionInpainter._run

    def __enter__(self) -> "CallCounter":
        counter, original = self, self._original

        def run(inp: Any, chunk: list[Any], s: Any) -> Any:
            counter.sizes.append(len(chunk))
            return original(inp, chunk, s)

        DiffusionInpainter._run = run
        return self

    def __exit__(self, *exc: Any) -> None:
        DiffusionInpainter._run = self._original


# ---------------------------------------------------------------- batching (tiny model, CPU)


def batching(args: argparse.Namespace) -> int:
    from sd_tiny import make_tiny_models

    root = Path(args.workdir or tempfile.mkdtemp(prefix="autofix-bench-sd-"))
    model = make_tiny_models(root / "models", ("sd15-inpainting",))["sd15-inpainting"]
    src, out = root / "in", root / "out"
    shutil.rmtree(out, ignore_errors=True)
    n = build_folder(src, args.images)
    cfg = build_config("faces+hands", patch={"inpainter": {"model": str(model.single_file),
                                                           "config_dir": str(model.config_dir)}},
                       overrides=["stages.*.inpaint.steps=2", "stages.*.inpaint.strength=0.5"])
    with CallCounter() as calls:
        t = time.perf_counter()
        summary = run_folder(src, out, cfg, progress=False)
        wall = time.perf_counter() - t
    crops = sum(calls.sizes)
    mean = crops / max(1, len(calls.sizes))
    print(f"folder: {n} real photos (~1024 px), preset faces+hands, tiny SD1.5-inpainting, max_batch "
          f"{cfg.inpainter.max_batch}; statuses {dict(summary.counts())}; {wall:.1f} s")
    print(f"pipeline calls: {len(calls.sizes)}, crops: {crops}, batch sizes: {sorted(calls.sizes, reverse=True)}")
    ok = mean >= 6
    print(f"  {'PASS' if ok else 'MISS'}  mean crops per UNet call {mean:.2f} (target >= 6; old executor 1.2)")
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok or not args.check else 1


# ---------------------------------------------------------------- GPU: autofix vs per-region


def full_pipeline(device: str, dtype: Any) -> Any:
    """Full-size SD1.5-inpainting from the shipped config with random weights, built on ``device``."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from autofix.inpaint.sd_loading import SD_CONFIGS, load_tokenizer

    cfg_dir = SD_CONFIGS / "sd15-inpainting"
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(cfg_dir / "unet")))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(cfg_dir / "vae")))
        te = CLIPTextModel(CLIPTextConfig.from_pretrained(str(cfg_dir / "text_encoder")))
    pipe = StableDiffusionInpaintPipeline(
        vae=vae, text_encoder=te, tokenizer=load_tokenizer(cfg_dir), unet=unet,
        scheduler=DDIMScheduler.from_pretrained(str(cfg_dir / "scheduler")),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    if device.startswith("cuda"):
        pipe.unet.to(memory_format=torch.channels_last)
    return pipe


def tiny_pipeline(device: str) -> Any:
    from sd_tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline("sd15", 9)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def region_folder(folder: Path, n: int, seed: int) -> tuple[dict[str, Any], int]:
    """``n`` real-photo variants (~1024 px) and 2–4 random boxes of 96–384 px on each."""
    from autofix.detect.user_prompts import ImagePrompts

    build_folder(folder, n)
    rng = np.random.default_rng(seed)
    prompts, regions = {}, 0
    for path in sorted(folder.glob("*.png")):
        w, h = Image.open(path).size
        boxes = []
        for _ in range(int(rng.integers(2, 5))):
            bw, bh = (int(v) for v in rng.integers(96, 385, 2))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            boxes.append((float(x0), float(y0), float(x0 + bw), float(y0 + bh)))
        prompts[path.name] = ImagePrompts(tuple(boxes))
        regions += len(boxes)
    return prompts, regions


def gpu_config(args: argparse.Namespace) -> Any:
    return build_config("remove", overrides=[
        "stages.*.detector.refine=none", "stages.*.mask.dilate=0", "stages.*.mask.blur=8",
        "stages.*.crop.padding=32", "stages.*.crop.resolution=512", f"stages.*.inpaint.steps={args.steps}",
        f"stages.*.inpaint.strength={args.strength}", "stages.*.inpaint.cfg=7.0", f"stages.*.inpaint.prompt={PROMPT}",
        "stages.*.inpaint.negative_prompt=blurry", "stages.*.inpaint.masked_content=original",
    ], patch={"inpainter": {"backend": "diffusers", "max_batch": args.max_batch}})


class GpuBusy:
    """Samples GPU utilisation every 100 ms while active (nvidia-smi, else torch.cuda.utilization)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.samples, self._stop = enabled, [], threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "GpuBusy":
        if not self.enabled:
            return self
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                           "-lms", "100", "-i", "0"], stdout=subprocess.PIPE, text=True)
            self._thread = threading.Thread(target=self._read, daemon=True)
        else:
            self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        for line in self._proc.stdout:  # type: ignore[union-attr]
            if line.strip().isdigit():
                self.samples.append(int(line))

    def _poll(self) -> None:
        import torch

        while not self._stop.wait(0.1):
            try:
                self.samples.append(int(torch.cuda.utilization()))
            except Exception:  # noqa: BLE001 - no NVML: report n/a
                return

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=2)

    @property
    def busy(self) -> float | None:
        return float(np.mean(self.samples)) / 100 if self.samples else None


def per_region_way(pipe: Any, src: Path, prompts: dict[str, Any], args: argparse.Namespace, out: Path) -> int:
    """ADetailer/asdff style: per region, a 512² crop, one pipeline call, batch 1, prompt re-encoded."""
    import cv2
    import torch

    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, p in sorted(prompts.items()):
        img = np.asarray(Image.open(src / name).convert("RGB")).copy()
        h, w = img.shape[:2]
        for i, (x0, y0, x1, y1) in enumerate(p.boxes):
            side = int(max(x1 - x0, y1 - y0)) + 64
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            a0 = int(min(max(cx - side / 2, 0), max(0, w - side)))
            b0 = int(min(max(cy - side / 2, 0), max(0, h - side)))
            a1, b1 = min(w, a0 + side), min(h, b0 + side)
            crop = cv2.resize(img[b0:b1, a0:a1], (512, 512), interpolation=cv2.INTER_CUBIC)
            mask = np.zeros((b1 - b0, a1 - a0), np.uint8)
            mask[int(y0) - b0:int(y1) - b0, int(x0) - a0:int(x1) - a0] = 255
            mask512 = cv2.resize(mask, (512, 512), interpolation=cv2.INTER_NEAREST)
            res = pipe(prompt=PROMPT, negative_prompt="blurry", image=Image.fromarray(crop),
                       mask_image=Image.fromarray(mask512), height=512, width=512, strength=args.strength,
                       num_inference_steps=args.steps, guidance_scale=7.0,
                       generator=torch.Generator("cpu").manual_seed(i), output_type="np").images[0]
            back = cv2.resize((res * 255).round().astype(np.uint8), (a1 - a0, b1 - b0), interpolation=cv2.INTER_AREA)
            sel = mask > 0
            img[b0:b1, a0:a1][sel] = back[sel]
            n += 1
        Image.fromarray(img).save(out / name, compress_level=1)
    return n


def gpu(args: argparse.Namespace) -> int:
    import torch

    from autofix.run.backends import Backends
    from autofix.run.executor import ImageRunner, RunOptions
    from autofix.run.output_folder import OutputStore

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.startswith("cuda")
    t0 = time.perf_counter()
    pipe = tiny_pipeline(device) if args.tiny else full_pipeline(device, torch.float16 if cuda else torch.float32)
    print(f"pipeline: {'tiny' if args.tiny else 'full-size SD1.5-inpainting (random weights)'} on {device}, "
          f"{pipe.unet.dtype}, built in {time.perf_counter() - t0:.1f} s", flush=True)
    root = Path(args.workdir or tempfile.mkdtemp(prefix="autofix-bench-gpu-"))
    src = root / "in"
    shutil.rmtree(root / "out", ignore_errors=True)
    shutil.rmtree(root / "per-region", ignore_errors=True)
    prompts, regions = region_folder(src, args.images, args.seed)
    cfg = gpu_config(args)

    def autofix_run(out: Path) -> tuple[float, int, list[int]]:
        store = OutputStore(out)
        store.acquire_lock()
        try:
            backends = Backends(cfg)
            backends.use_inpainter("diffusers", DiffusionInpainter.from_pipeline(pipe, cfg.inpainter))
            runner = ImageRunner(cfg, store, src, backends, RunOptions(overlays="never", report=True), prompts)
            from autofix.run.batch import begin_run

            begin_run(store, cfg, src)
            with CallCounter() as calls:
                t = time.perf_counter()
                outcomes = list(runner.run_many(sorted(Path(k) for k in prompts)))
                if cuda:
                    torch.cuda.synchronize()
                wall = time.perf_counter() - t
        finally:
            store.release_lock()
        done = sum(o.repainted for o in outcomes)
        return wall, done, calls.sizes

    # warm-up both ways on a tiny subset (kernels, allocator, cuDNN autotune)
    warm = dict(list(prompts.items())[:1])
    per_region_way(pipe, src, warm, args, root / "warm-per-region")
    autofix_run(root / "warm-out")
    shutil.rmtree(root / "warm-out", ignore_errors=True)

    with GpuBusy(cuda) as busy_a:
        t = time.perf_counter()
        n_a = per_region_way(pipe, src, prompts, args, root / "per-region")
        if cuda:
            torch.cuda.synchronize()
        wall_a = time.perf_counter() - t
    with GpuBusy(cuda) as busy_b:
        wall_b, n_b, sizes = autofix_run(root / "out")
    rate_a, rate_b = n_a / wall_a, n_b / wall_b
    fmt = (lambda b: "n/a" if b is None else f"{b:.0%}")
    print(f"workload: {args.images} images (~1024 px), {regions} regions (2-4 per image, 96-384 px boxes), "
          f"{args.steps} steps, strength {args.strength}, max_batch {args.max_batch}")
    print(f"per-region way : {n_a} regions in {wall_a:.1f} s = {rate_a:.2f} regions/s, GPU busy {fmt(busy_a.busy)}")
    print(f"autofix fix    : {n_b} regions in {wall_b:.1f} s = {rate_b:.2f} regions/s, GPU busy {fmt(busy_b.busy)}; "
          f"{len(sizes)} pipeline calls, {sum(sizes) / max(1, len(sizes)):.2f} crops/call")
    checks = [(f"autofix {rate_b:.2f} regions/s (target >= 8)", rate_b >= 8),
              (f"autofix / per-region {rate_b / rate_a:.2f}x (target >= 2.5)", rate_b / rate_a >= 2.5),
              (f"GPU busy {fmt(busy_b.busy)} (target >= 80%)", busy_b.busy is not None and busy_b.busy >= 0.8)]
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "regions": regions, "per_region_rps": rate_a, "autofix_rps": rate_b, "ratio": rate_b / rate_a,
            "gpu_busy_per_region": busy_a.busy, "gpu_busy_autofix": busy_b.busy, "calls": sizes}, indent=2))
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gpu", action="store_true", help="autofix vs the per-region way at full size (CUDA)")
    p.add_argument("--tiny", action="store_true", help="with --gpu: the tiny model instead (plumbing check on CPU)")
    p.add_argument("--images", type=int, default=None, help="default: 16 (batching), 48 (--gpu)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--strength", type=float, default=0.4)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None, help="keep models and folders here")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--check", action="store_true", help="exit 1 when the batching target is missed")
    args = p.parse_args(argv)
    args.images = args.images or (48 if args.gpu else 32)
    return args


if __name__ == "__main__":
    a = parse_args()
    sys.exit(gpu(a) if a.gpu else batching(a))
