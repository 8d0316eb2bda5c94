"""Benchmark: one pipeline call per region (ADetailer/asdff style) vs the batched backend.

A set of 1024² images with 2–4 regions each; every region is cut out and resized to a
512² crop (so only the inpainter is measured). Both ways run in one process on the same
loaded pipeline, after a warm-up of each:

  (a) per-region: ``pipe(prompt=..., image=crop, mask_image=mask, generator=...)`` once per
      region, batch 1, prompt encoded every call — what ADetailer and asdff do;
  (b) batched: ``DiffusionInpainter.inpaint(all regions)`` — same-size crops in one call
      (chunks of ``--max-batch``), each prompt encoded once.

Printed (fastest of ``--repeats`` alternating rounds): regions/s of each and their ratio,
the share of wall time spent in UNet / VAE / text-encoder forwards (timed around each
forward, CUDA-synchronised), peak memory (``torch.cuda.max_memory_allocated`` on CUDA, peak
RSS on CPU), and how far (b)'s pixels are from (a)'s (same seeds, so they should match up to
float rounding).

Models: by default the tiny random SD1.5-inpainting model from ``tests/sd_tiny.py`` (CPU
friendly); ``--full`` builds the full-size SD1.5-inpainting architecture from the shipped
config with random weights, writes it as one A1111-style ``.safetensors`` (original key
names) and loads it through the backend's single-file loader — meant for CUDA (fp16).

    python bench/bench_sd.py                      # tiny, CPU
    python bench/bench_sd.py --full --images 8    # full size, CUDA
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from autofix.config import InpainterConfig  # noqa: E402
from autofix.inpaint.diffusion import DiffusionInpainter  # noqa: E402
from autofix.types import InpaintJob  # noqa: E402

PROMPTS = ("a detailed face, sharp focus", "a detailed hand, five fingers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="full-size SD1.5-inpainting (random weights); for CUDA")
    p.add_argument("--images", type=int, default=4, help="number of 1024² images (2–4 regions each)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--strength", type=float, default=0.4)
    p.add_argument("--cfg", type=float, default=7.0)
    p.add_argument("--crop", type=int, default=512, help="crop side the regions are resized to")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="rounds of (a) then (b); the fastest of each is reported")
    p.add_argument("--workdir", default=None, help="where models are written (default: a temp folder)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_args(argv)


# ---------------------------------------------------------------- workload


def make_jobs(n_images: int, crop: int, seed: int, params: dict[str, Any]) -> list[InpaintJob]:
    """2–4 regions per synthetic 1024² image, each cut out and resized to ``crop``², ellipse mask."""
    import cv2

    rng = np.random.default_rng(seed)
    jobs = []
    for i in range(n_images):
        image = _synthetic_image(rng)
        for r in range(int(rng.integers(2, 5))):
            side = int(rng.integers(160, 400))
            x0, y0 = (int(v) for v in rng.integers(0, 1024 - side, 2))
            cut = cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (crop, crop), interpolation=cv2.INTER_CUBIC)
            mask = np.zeros((crop, crop), np.uint8)
            cv2.ellipse(mask, (crop // 2, crop // 2), (crop // 3, crop * 2 // 5), 0, 0, 360, 255, -1)
            jobs.append(InpaintJob(cut, mask, seed=seed + 100 * i + r, prompt=PROMPTS[r % 2], params=params))
    return jobs


def _synthetic_image(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:1024, 0:1024] / 1024.0
    base = np.stack([xx, yy, 1 - xx * yy], -1) * 200 + rng.normal(0, 12, (1024, 1024, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- models


def tiny_inpainter(workdir: Path, args: argparse.Namespace) -> DiffusionInpainter:
    from sd_tiny import make_tiny_models

    m = make_tiny_models(workdir, ("sd15-inpainting",))["sd15-inpainting"]
    cfg = InpainterConfig(backend="diffusers", model=str(m.single_file), device=args.device)
    return DiffusionInpainter(cfg, config_dir=str(m.config_dir), max_batch=args.max_batch)


def full_inpainter(workdir: Path, args: argparse.Namespace) -> DiffusionInpainter:
    """Full-size SD1.5-inpainting, random weights, saved as an A1111-style file, loaded with the shipped config."""
    path = workdir / "sd15-inpainting-random.safetensors"
    if not path.exists():
        _write_full_checkpoint(path)
    cfg = InpainterConfig(backend="diffusers", model=str(path), device=args.device)
    return DiffusionInpainter(cfg, max_batch=args.max_batch)


def _write_full_checkpoint(path: Path) -> None:
    import torch
    from diffusers import AutoencoderKL, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from sd_tiny import save_single_file
    from transformers import CLIPTextConfig, CLIPTextModel

    from autofix.inpaint.sd_loading import SD_CONFIGS, load_tokenizer

    cfg_dir = SD_CONFIGS / "sd15-inpainting"
    torch.manual_seed(0)
    t0 = time.perf_counter()
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(cfg_dir / "unet")))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(cfg_dir / "vae")))
    te = CLIPTextModel(CLIPTextConfig.from_pretrained(str(cfg_dir / "text_encoder")))
    from diffusers import DDIMScheduler

    pipe = StableDiffusionInpaintPipeline(
        vae=vae, text_encoder=te, tokenizer=load_tokenizer(cfg_dir), unet=unet,
        scheduler=DDIMScheduler.from_pretrained(str(cfg_dir / "scheduler")),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).to(torch.float16)
    save_single_file(pipe, path)
    print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s", flush=True)


# ---------------------------------------------------------------- timing


class Timers:
    """Wall time spent inside wrapped callables, by label (CUDA-synchronised around each call)."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.total: dict[str, float] = {}

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._sync()
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._sync()
                self.total[label] = self.total.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, timed)

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()


@contextmanager
def measured(timers: Timers, cuda: bool) -> Iterator[dict[str, float]]:
    """Wall time, per-label time and peak memory of the block."""
    import torch

    out: dict[str, float] = {}
    timers.total.clear()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        _reset_peak_rss()
    t0 = time.perf_counter()
    yield out
    if cuda:
        torch.cuda.synchronize()
    out["wall"] = time.perf_counter() - t0
    out.update({k: v for k, v in timers.total.items()})
    out["peak_mem_gib"] = (torch.cuda.max_memory_allocated() if cuda else _peak_rss()) / 2**30


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset VmHWM
    except OSError:
        pass


def _peak_rss() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# ---------------------------------------------------------------- the two ways


def per_region(pipe: Any, jobs: list[InpaintJob], args: argparse.Namespace) -> list[np.ndarray]:
    """ADetailer/asdff style: one pipeline call per region, batch 1, prompt encoded each time."""
    import torch
    from PIL import Image

    out = []
    for job in jobs:
        res = pipe(
            prompt=job.prompt, negative_prompt=job.negative_prompt, image=Image.fromarray(job.image),
            mask_image=Image.fromarray(job.mask), height=job.image.shape[0], width=job.image.shape[1],
            strength=args.strength, num_inference_steps=args.steps, guidance_scale=args.cfg,
            generator=torch.Generator("cpu").manual_seed(job.seed), output_type="np",
        ).images[0]
        out.append((res * 255).round().astype(np.uint8))
    return out


def batched(inp: DiffusionInpainter, jobs: list[InpaintJob]) -> list[np.ndarray]:
    return [r.candidates[0] for r in inp.inpaint(jobs)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="autofix-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    inp = (full_inpainter if args.full else tiny_inpainter)(workdir, args)
    pipe = inp.pipeline
    cuda = inp.device.type == "cuda"
    params = {"strength": args.strength, "steps": args.steps, "cfg": args.cfg, "scheduler": None}
    jobs = make_jobs(args.images, args.crop, args.seed, params)
    timers = Timers(cuda)
    for owner, attr, label in ((pipe.unet, "forward", "unet"), (pipe.vae, "encode", "vae"),
                               (pipe.vae, "decode", "vae"), (pipe.text_encoder, "forward", "text")):
        timers.wrap(owner, attr, label)
    per_region(pipe, jobs[:1], args)  # warm-up both paths (kernels, allocator, caches)
    batched(inp, jobs[: min(len(jobs), args.max_batch)])
    rounds = []
    for _ in range(args.repeats):  # alternate the two ways so machine noise hits both alike
        with measured(timers, cuda) as a:
            ref = per_region(pipe, jobs, args)
        inp._embeds.clear()  # (b) pays for its own prompt encodings every round
        with measured(timers, cuda) as b:
            got = batched(inp, jobs)
        rounds.append((a, b))
    diff = np.abs(np.stack(ref).astype(int) - np.stack(got).astype(int))
    best_a = min((r[0] for r in rounds), key=lambda m: m["wall"])
    best_b = min((r[1] for r in rounds), key=lambda m: m["wall"])
    walls = {name: [round(r[i]["wall"], 2) for r in rounds] for i, name in enumerate(("per_region", "batched"))}
    return _report(args, inp, jobs, best_a, best_b, diff, walls)


def _report(args, inp, jobs, a, b, diff, walls) -> dict[str, Any]:  # noqa: ANN001
    import torch

    n = len(jobs)
    rows = {"per_region": a, "batched": b}
    print(f"\nmodel: {inp.name} ({inp.source.family}, {inp.source.in_channels}-ch UNet), {inp.device} {inp.dtype}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"workload: {args.images} images of 1024², {n} regions → {args.crop}² crops, steps {args.steps}, "
          f"strength {args.strength} ({int(args.steps * args.strength)} UNet steps), cfg {args.cfg}, "
          f"max_batch {args.max_batch}\n")
    print(f"{'mode':<12}{'wall s':>9}{'regions/s':>11}{'UNet':>8}{'VAE':>8}{'text':>8}{'other':>8}{'peak GiB':>10}")
    for name, r in rows.items():
        shares = {k: r.get(k, 0.0) / r["wall"] for k in ("unet", "vae", "text")}
        other = 1 - sum(shares.values())
        print(f"{name:<12}{r['wall']:>9.2f}{n / r['wall']:>11.2f}{shares['unet']:>8.0%}{shares['vae']:>8.0%}"
              f"{shares['text']:>8.0%}{other:>8.0%}{r['peak_mem_gib']:>10.2f}")
    speedup = a["wall"] / b["wall"]
    print(f"\nbest of {args.repeats} rounds shown; all walls (s): {walls}")
    print(f"batched / per-region throughput: {speedup:.2f}x")
    print(f"pixels vs per-region (same seeds): max |diff| {int(diff.max())}, {100 * (diff > 0).mean():.3f}% differ")
    out = {"device": str(inp.device), "dtype": str(inp.dtype), "regions": n, "speedup": speedup, "walls": walls,
           "max_pixel_diff": int(diff.max()), **{f"{k}_{m}": v for k, r in rows.items() for m, v in r.items()}}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    run(parse_args())
