"""The ``autofix`` command: a thin layer over the library. ``--help`` imports nothing heavy."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Sequence, get_args

from ..choices import (ControlType, CropArea, Dtype, InpainterBackend, MaskedContent, OutputFormat, Overlays, Refine,
                       ResizeMode)
from ..errors import (EXIT_FAILURES, EXIT_FATAL, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE,
                      UsageError)

_STAGE_FLAGS = {  # flag dest -> dotted key under every stage
    "prompt": "inpaint.prompt", "negative_prompt": "inpaint.negative_prompt", "steps": "inpaint.steps",
    "strength": "inpaint.strength", "cfg": "inpaint.cfg", "seed": "inpaint.seed",
    "candidates": "inpaint.candidates", "scheduler": "inpaint.scheduler", "masked_content": "inpaint.masked_content",
    "confidence": "filters.confidence", "top_k": "filters.top_k", "padding": "crop.padding",
    "resolution": "crop.resolution", "dilate": "mask.dilate", "blur": "mask.blur",
    "inpaint_area": "crop.area", "resize_mode": "crop.resize_mode", "guide_size": "crop.guide_size",
}


_ALLOW_PICKLE_HELP = ("read pickle model files (.ckpt/.pt/.pth/.bin) whose sha256 is not in the manifest, as tensors "
                      "only: torch.load(weights_only=True) for SD, SAM and merge inputs, ultralytics' restricted "
                      "loader for YOLO .pt; a file that needs more (code) is still refused. Same as "
                      "AUTOFIX_ALLOW_PICKLE=1")


def _add_config_args(p: argparse.ArgumentParser, default_preset: str, run: bool = True) -> None:
    """Options that decide the config (every command) and, with ``run``, how a run reports."""
    from_preset = "(default: from the preset)"
    g = p.add_argument_group("configuration")
    g.add_argument("--preset", default=None, help=f"shipped preset (default {default_preset}); see `autofix presets`")
    g.add_argument("--config", type=Path, metavar="FILE.yaml", help="a YAML config file (instead of a preset)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. stages.*.mask.blur=12 or stages.face.crop.padding=64 "
                   "(repeatable; values are YAML, text keys such as prompts are taken as written)")
    m = p.add_argument_group("inpainting")
    auto = ("classical (OpenCV) fill unless a diffusion model is given" if default_preset == "remove"
            else "diffusion model if given, else faces/hands are planned but not repainted")
    m.add_argument("--inpainter", choices=get_args(InpainterBackend),
                   help=f"auto (default): {auto}")
    m.add_argument("--model", help="diffusion model: a .safetensors/.ckpt file, a diffusers folder, or a HF repo id "
                   "(default: none)")
    m.add_argument("--model-dir", metavar="DIR", help="an A1111 models/Stable-diffusion or ComfyUI models/checkpoints "
                   "folder; --model then picks a file in it by name")
    m.add_argument("--device", help="torch device for the diffusion model (default: cuda if available, else cpu)")
    m.add_argument("--allow-pickle", action="store_true", help=_ALLOW_PICKLE_HELP)
    m.add_argument("--max-batch", type=int, metavar="N", help="most crops per pipeline call (default 8)")
    m.add_argument("--dtype", choices=get_args(Dtype),
                   help="diffusion weights' dtype (default auto: float16 on CUDA, float32 on CPU)")
    m.add_argument("--cpu-offload", action="store_true",
                   help="CUDA only: keep just the running model component on the GPU (less memory, slower)")
    m.add_argument("--safety-checker", action="store_true", help="run the SD safety checker; flagged regions keep their pixels")
    m.add_argument("--model-config", metavar="DIR", help="architecture folder for a single-file checkpoint "
                   "(default: the shipped SD1.5/SDXL config matching the file)")
    m.add_argument("--prompt", help="prompt template; {prompt} is the image's own prompt " + from_preset)
    m.add_argument("--negative-prompt", help="negative prompt template; {negative_prompt} is the image's own "
                   + from_preset)
    m.add_argument("--steps", type=int, help="denoising steps, 1-150 (default: 20)")
    m.add_argument("--strength", type=float, help="how much of a region is repainted, 0-1 (default: 0.4; remove 0.9)")
    m.add_argument("--cfg", type=float, help="classifier-free guidance scale, 0-30 (default: 7)")
    m.add_argument("--seed", type=_seed_arg, metavar="N|-1|image",
                   help="base seed; region i uses seed+i; -1 draws a random one per region; 'image': the image's "
                   "own generation seed + i (as ADetailer); recorded in the sidecar (default: 0)")
    m.add_argument("--candidates", type=int, metavar="N",
                   help="best-of-N per region with a never-worse guard, 1-16 (default: 1)")
    m.add_argument("--scheduler", "--sampler", dest="scheduler",
                   help="sampler in A1111/ComfyUI spelling, e.g. 'DPM++ 2M Karras', euler_a, dpmpp_2m; "
                   "'image': the one the image was generated with (default: the model's own)")
    m.add_argument("--webui-dir", action="append", metavar="DIR",
                   help="an A1111/Forge or ComfyUI install (root or its models folder): bare YOLO/SAM names are also "
                   "looked up in its models/adetailer, models/ultralytics/bbox|segm, models/sams, models/sam "
                   "(--model-dir counts too)")
    m.add_argument("--lora-dir", action="append", metavar="DIR",
                   help="a folder of LoRA .safetensors for <lora:NAME:W> prompt tags (repeatable; also searched: "
                   "A1111 models/Lora and ComfyUI models/loras beside the model, $AUTOFIX_LORA_DIRS)")
    m.add_argument("--masked-content", choices=get_args(MaskedContent),
                   help="what the masked area starts from (default: original; remove: fill)")
    c = p.add_argument_group("controlnet (diffusion model only; every stage)")
    c.add_argument("--controlnet", action="append", metavar="PATH", help="a ControlNet: diffusers folder or "
                   ".safetensors (A1111 models/ControlNet, ComfyUI models/controlnet); repeat for several")
    c.add_argument("--control-type", action="append", choices=get_args(ControlType),
                   help="control image per --controlnet, in order (default: inpaint); built in: inpaint, tile, "
                   "canny, openpose (from the MediaPipe landmarks)")
    c.add_argument("--control-image", action="append", metavar="PATH",
                   help="a control image made elsewhere (depth map, line art, ...) per --controlnet, in order: a "
                   "file, or a folder with one per input under its relative path (needed for depth/lineart/softedge)")
    c.add_argument("--control-weight", type=float, metavar="W", help="conditioning scale, 0-2 (default: 1)")
    c.add_argument("--control-start", type=float, metavar="F", help="fraction of steps where control starts (default 0)")
    c.add_argument("--control-end", type=float, metavar="F", help="fraction of steps where control ends (default 1)")
    r = p.add_argument_group("regions")
    r.add_argument("--confidence", type=float,
                   help="minimum detector score, 0-1 (default: 0.3 hands, 0.5 faces, 0 remove)")
    r.add_argument("--top-k", type=int, metavar="K", help="keep only the K largest regions per stage (default: 0, all)")
    r.add_argument("--padding", type=int, metavar="PX",
                   help="context around each region's crop, px (default: 32; remove 48)")
    r.add_argument("--resolution", type=int, metavar="PX",
                   help="processing size of a crop, multiple of 8, 64-2048 (default: 512)")
    r.add_argument("--guide-size", type=int, metavar="PX",
                   help="Impact-Pack's guide_size: diffusion crops are upscaled so a region's detection box's "
                   "shorter side becomes about PX (longer crop side <= crop.max_side, default 2 x resolution); "
                   "regions already that large are skipped unless crop.force_inpaint (default: unset)")
    r.add_argument("--dilate", type=int, metavar="PX", help="grow (or, negative, shrink) masks, px "
                   "(default: 4 hands, 8 faces, 6 remove)")
    r.add_argument("--blur", type=int, metavar="PX", help="feather mask edges, px (default: 8; remove 4)")
    r.add_argument("--inpaint-area", choices=get_args(CropArea),
                   help="masked: only-masked crops (default); whole: the model sees the whole picture "
                   "(A1111 'Whole picture'), only masked pixels are composited")
    r.add_argument("--resize-mode", choices=get_args(ResizeMode),
                   help="--inpaint-area whole with crop.whole_size of another aspect: how the picture "
                   "meets the canvas, as A1111 (default: just_resize)")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=get_args(OutputFormat), help="output format (default: same as input)")
    o.add_argument("--png-compression", type=int, metavar="0-9",
                   help="zlib level of PNG outputs (default 1: fast; 9: smallest; the pixels are identical)")
    o.add_argument("--json", action="store_true", help="print JSON instead of text")
    if not run:
        return
    o.add_argument("--overlays", choices=get_args(Overlays), default="auto",
                   help="plan overlays under OUT/_autofix/plans (default auto: dry runs and regions not repainted)")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-image lines")
    o.add_argument("--keep-candidates", action="store_true", help="write every candidate of every region "
                   "(--candidates N) under OUT/_autofix/candidates for `autofix pick`; the report shows them")
    o.add_argument("--force", action="store_true", help="repaint images autofix already repainted (refused by "
                   "default: its own metadata says so, and repeated inpainting degrades an image)")
    o.add_argument("--window", type=int, metavar="N",
                   help="images in flight per stage-major window; all their crops reach the inpainter together "
                        "(default: --max-batch with a diffusion model, 4 otherwise; outputs do not depend on it)")


def _seed_arg(text: str) -> int | str:
    """``--seed``: an integer (``-1`` for a fresh random seed per region) or ``image``."""
    if text.strip().lower() == "image":
        return "image"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, -1 or 'image', not {text!r}") from None


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine`` and its Ray options (``fix`` and ``remove``; ``watch`` runs locally)."""
    e = p.add_argument_group("engine")
    e.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default): this process; ray: windows as Ray tasks, inpainting on model-holding "
                        "actors (input/output on a filesystem every node sees; see README)")
    e.add_argument("--ray-address", metavar="ADDR",
                   help="with --engine ray: join this cluster (e.g. ray://head:10001); default: start a local Ray")
    e.add_argument("--gpus-per-worker", type=float, default=1.0, metavar="G",
                   help="with --engine ray: GPUs per inpainting actor (default 1; one actor per G GPUs)")
    e.add_argument("--cpu-workers", type=int, metavar="N",
                   help="with --engine ray: windows in flight at once (default: the cluster's CPUs)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="autofix", description="Repair faces, hands and stray objects in images.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"autofix {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fix = sub.add_parser("fix", help="fix faces/hands over an image or a folder (staged, resumable)")
    fix.add_argument("input", type=Path, help="an image or a folder (searched recursively)")
    fix.add_argument("-o", "--output", type=Path, required=True, help="output folder (mirrors the input tree)")
    fix.add_argument("--dry-run", action="store_true", help="detect and plan; draw the plans; inpaint nothing")
    fix.add_argument("--no-report", action="store_true", help="skip the HTML report / contact sheet at the end")
    _add_config_args(fix, "faces+hands")
    _add_engine_args(fix)
    watch = sub.add_parser("watch", help="fix images as they land in a folder (A1111, ComfyUI, Fooocus outputs)")
    watch.add_argument("input", type=Path, help="the folder a generator writes into (watched recursively)")
    watch.add_argument("-o", "--output", type=Path, required=True, help="output folder (mirrors the watched tree)")
    watch.add_argument("--settle", type=float, default=1.0, help="seconds a file must stay unchanged (default 1)")
    watch.add_argument("--once", action="store_true", help="exit when nothing new is left")
    watch.add_argument("--max-seconds", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    _add_config_args(watch, "faces+hands")
    rep = sub.add_parser("report", help="write an HTML page and PNG contact sheets for an output folder")
    rep.add_argument("output", type=Path, help="an output folder of fix/remove/watch (holds _autofix/)")
    rep.add_argument("--json", action="store_true", help="print JSON instead of text")
    remove = sub.add_parser("remove", help="remove objects given by boxes/clicks (classical fill unless a model is given)")
    remove.add_argument("input", type=Path, help="an image (with --box/--point) or a folder (with --prompts)")
    remove.add_argument("-o", "--output", type=Path, required=True, help="output folder (mirrors the input tree)")
    remove.add_argument("--box", action="append", default=[], metavar="X0,Y0,X1,Y1", help="object box in pixels")
    remove.add_argument("--point", action="append", default=[], metavar="X,Y[:neg]", help="a click on (or :neg off) the object")
    remove.add_argument("--prompts", type=Path, help="JSON or CSV of boxes/clicks per image (see README)")
    remove.add_argument("--refine", choices=get_args(Refine),
                        help="how a box/click becomes an object mask (default: grabcut)")
    remove.add_argument("--sam-model", help="SAM checkpoint (vit_b/l/h .pth) for --refine sam (implies it)")
    remove.add_argument("--dry-run", action="store_true", help="build and draw the masks; inpaint nothing")
    remove.add_argument("--no-report", action="store_true", help="skip the HTML report / contact sheet at the end")
    _add_config_args(remove, "remove")
    _add_engine_args(remove)
    models = sub.add_parser("models", help="known models: list, verify, pull; make an inpainting checkpoint")
    msub = models.add_subparsers(dest="models_command", required=True)
    mlist = msub.add_parser("list", help="the manifest and where each file is (or should be put)")
    mlist.add_argument("--verify", action="store_true", help="also check sha256 of files present")
    mlist.add_argument("--json", action="store_true", help="print JSON instead of text")
    mver = msub.add_parser("verify", help="check the sha256 of a model (name or path) against the manifest")
    mver.add_argument("names", nargs="*", help="names or paths (default: every model present)")
    mver.add_argument("--json", action="store_true", help="print JSON instead of text")
    mpull = msub.add_parser("pull", help="download a known model into the models folder (needs a network)")
    mpull.add_argument("names", nargs="+", help="manifest names (see `autofix models list`)")
    mpull.add_argument("--json", action="store_true", help="print JSON instead of text")
    mk = msub.add_parser("make-inpaint", help="inpainting checkpoint = inpaint_base + (finetune - base) x multiplier")
    mk.add_argument("--finetune", required=True, type=Path, help="the fine-tune to make an inpainting model of")
    mk.add_argument("--inpaint-base", required=True, type=Path, help="the inpainting model of the fine-tune's base "
                    "(e.g. sd-v1-5-inpainting)")
    mk.add_argument("--base", required=True, type=Path, help="the base the fine-tune was trained from (e.g. v1-5)")
    mk.add_argument("-o", "--output", required=True, type=Path, help="the .safetensors file to write")
    mk.add_argument("--multiplier", type=float, default=1.0,
                    help="how much of the fine-tune's difference (default 1.0)")
    mk.add_argument("--fp32", action="store_true", help="write float32 (default float16)")
    mk.add_argument("--allow-pickle", action="store_true", help="allow .ckpt inputs not in the manifest; they are "
                    "read as tensors only (torch.load(weights_only=True))")
    mk.add_argument("--json", action="store_true", help="print JSON instead of text")
    presets = sub.add_parser("presets", help="list the shipped presets")
    presets.add_argument("--json", action="store_true", help="print JSON instead of text")
    sample = sub.add_parser("sample", help="write a folder of sample photos that ship inside installed packages")
    sample.add_argument("folder", type=Path, help="where to write them (created if missing)")
    sample.add_argument("--json", action="store_true", help="print JSON instead of text")
    show = sub.add_parser("config", help="print the effective config (after preset, file and overrides) and its hash")
    _add_config_args(show, "faces+hands", run=False)
    from .info import add_parser as add_info_parser
    from .pick import add_parser as add_pick_parser

    add_info_parser(sub)
    add_pick_parser(sub)
    return parser


def config_from_args(args: argparse.Namespace, default_preset: str = "faces+hands") -> Any:
    """The validated RunConfig the arguments describe."""
    from ..config import build_config

    overrides = [f"stages.*.{key}={_yaml_scalar(getattr(args, dest))}"
                 for dest, key in _STAGE_FLAGS.items() if getattr(args, dest, None) is not None]
    overrides += _controlnet_overrides(args)
    webui = list(getattr(args, "webui_dir", None) or []) + ([args.model_dir] if getattr(args, "model_dir", None) else [])
    if webui:  # read by the model store (autofix.modelfiles.store.webui_dirs), here and in workers
        os.environ["AUTOFIX_WEBUI_DIRS"] = os.pathsep.join(
            [str(Path(d).expanduser()) for d in webui] + [os.environ.get("AUTOFIX_WEBUI_DIRS", "")]).rstrip(os.pathsep)
    if getattr(args, "lora_dir", None):  # read by the LoRA loader (autofix.inpaint.loras), here and in workers
        os.environ["AUTOFIX_LORA_DIRS"] = os.pathsep.join(
            [str(Path(d).expanduser()) for d in args.lora_dir] + [os.environ.get("AUTOFIX_LORA_DIRS", "")]).rstrip(os.pathsep)
    inpainter = {k: v for k, v in {
        "backend": args.inpainter, "model": args.model, "model_dir": args.model_dir,
        "device": args.device, "allow_pickle": args.allow_pickle or None, "max_batch": args.max_batch,
        "dtype": args.dtype, "cpu_offload": args.cpu_offload or None, "safety_checker": args.safety_checker or None,
        "config_dir": args.model_config}.items() if v is not None}
    patch: dict[str, Any] = {"inpainter": inpainter} if inpainter else {}
    output = {k: v for k, v in {"format": args.format,
                                "png_compression": getattr(args, "png_compression", None)}.items() if v is not None}
    if output:
        patch["output"] = output
    return build_config(preset=args.preset or default_preset, file=args.config, overrides=overrides + args.overrides,
                        patch=patch)


def _controlnet_overrides(args: argparse.Namespace) -> list[str]:
    """``--controlnet``/``--control-*`` as one ``stages.*.inpaint.controlnet=[...]`` override."""
    paths = getattr(args, "controlnet", None) or []
    types = getattr(args, "control_type", None) or []
    images = getattr(args, "control_image", None) or []
    extra = {k: getattr(args, f"control_{k}", None) for k in ("weight", "start", "end")}
    if not paths:
        if types or images or any(v is not None for v in extra.values()):
            raise UsageError("--control-type/--control-image/--control-weight/--control-start/--control-end "
                             "need --controlnet PATH")
        return []
    if len(types) not in (0, 1, len(paths)):
        raise UsageError(f"give one --control-type, or one per --controlnet ({len(paths)}), not {len(types)}")
    if len(images) not in (0, len(paths)):
        raise UsageError(f"give one --control-image per --controlnet ({len(paths)}), not {len(images)}")
    units = []
    for i, path in enumerate(paths):
        unit: dict[str, Any] = {"model": path, "type": (types[i] if len(types) > 1 else (types or ["inpaint"])[0])}
        if images and images[i] not in ("", "-"):
            unit["image"] = images[i]
        unit.update({k: v for k, v in extra.items() if v is not None})
        units.append(unit)
    return [f"stages.*.inpaint.controlnet={json.dumps(units)}"]


def _yaml_scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _print_outcome(outcome: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"input": outcome.rel.as_posix(), "status": outcome.status, "detail": outcome.detail,
                          "output": str(outcome.output) if outcome.output else None,
                          "regions": outcome.regions, "repainted": outcome.repainted,
                          "resumed_stages": outcome.resumed_stages}), flush=True)
    elif outcome.status == "failed":
        print(f"error: {_line(outcome.detail)}", file=sys.stderr, flush=True)


def _line(text: Any) -> str:
    from ..errors import one_line

    return one_line(text)


def cmd_fix(args: argparse.Namespace) -> int:
    """``autofix fix``: run the staged executor over a folder."""
    return _run_fix(args, "faces+hands")


def _ray_options(args: argparse.Namespace) -> Any:
    """The Ray engine's options, or None for the local engine (validated first)."""
    if getattr(args, "engine", "local") != "ray":
        for flag, value in (("--ray-address", args.ray_address), ("--cpu-workers", args.cpu_workers)):
            if value is not None:
                raise UsageError(f"{flag} needs --engine ray")
        return None
    if args.gpus_per_worker <= 0:
        raise UsageError(f"--gpus-per-worker must be > 0, is {args.gpus_per_worker}")
    if args.cpu_workers is not None and args.cpu_workers < 1:
        raise UsageError(f"--cpu-workers must be >= 1, is {args.cpu_workers}")
    from ..run.ray_engine import RayOptions

    return RayOptions(args.ray_address, args.gpus_per_worker, args.cpu_workers)


def _run_fix(args: argparse.Namespace, default_preset: str, prompts: dict[str, Any] | None = None) -> int:
    from ..run.batch import run_folder
    from ..run.executor import RunOptions

    config = config_from_args(args, default_preset)
    _warn_cpu_offload(config)
    _warn_remove_model(config)
    if args.window is not None and args.window < 1:
        raise UsageError(f"--window must be >= 1, is {args.window}")
    options = RunOptions(dry_run=args.dry_run, overlays=args.overlays, window=args.window, force=args.force,
                         keep_candidates=args.keep_candidates,
                         report=not (args.no_report or args.dry_run))
    summary = run_folder(args.input, args.output, config, options, on_image=lambda o: _print_outcome(o, args.json),
                         progress=not (args.quiet or args.json), prompts=prompts, ray=_ray_options(args))
    page, report_error = None, None
    if not (args.no_report or args.dry_run or summary.interrupted):
        page, report_error = _auto_report(args.output)
    code = summary.exit_code() or (EXIT_FAILURES if report_error else EXIT_OK)
    plans = args.output / "_autofix" / "plans"
    plans = plans if args.dry_run and plans.is_dir() else None
    if args.json:
        print(json.dumps({"summary": dict(summary.counts()), "elapsed_s": round(summary.elapsed, 3),
                          "exit_code": code, "notes": summary.lines()[1:],
                          "report": str(page) if page else None, "report_error": report_error,
                          "plans": str(plans) if plans else None}))
    else:
        for line in summary.lines():
            print(_line(line), file=sys.stderr)
        if plans:
            print(f"plans: {_show(plans)}", file=sys.stderr)
        if page:
            print(f"report: {_show(page)}", file=sys.stderr)
    if report_error:
        _error(report_error)
    return code


def _warn_remove_model(config: Any) -> None:
    """Object removal with a regular (4-channel) checkpoint: one warning line (issue 14)."""
    icfg = config.inpainter
    removing = any(s.detector.backend == "prompt" for s in config.stages)
    if not removing or not (icfg.model or icfg.model_dir) or icfg.backend not in ("auto", "diffusers"):
        return
    try:
        from ..inpaint.sd_loading import resolve_model

        source = resolve_model(icfg, config_dir=icfg.config_dir)
    except Exception:  # noqa: BLE001 - the run reports a bad model itself, with its own line
        return
    if source.in_channels == 4:
        print(f"autofix: warning: {_show(source.path)} is a regular 4-channel checkpoint; an inpainting model "
              "removes objects far better (`autofix models make-inpaint` makes one from any fine-tune, or drop "
              "--model to use the PatchMatch fill)", file=sys.stderr)


def _warn_cpu_offload(config: Any) -> None:
    """One warning line when CPU offload is asked for where it cannot do anything."""
    if not config.inpainter.cpu_offload:
        return
    device = config.inpainter.device
    if device is None:
        try:
            import torch
        except ImportError:
            return  # no diffusion backend at all: that error comes when one is needed
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not str(device).startswith("cuda"):
        print(f"autofix: warning: --cpu-offload does nothing on {_show(device)} (it moves model parts between "
              "the CPU and a CUDA GPU); ignored", file=sys.stderr)


def _auto_report(out: Path) -> tuple[Path | None, str | None]:
    """The report written after a run, or the one line saying why it could not be (a full
    or read-only disk): the images are done, so that is not a fatal error."""
    from ..run.report import write_report

    try:
        return write_report(out), None
    except OSError as exc:
        folder = _show(out / "_autofix" / "report")
        where = _os_error_line(exc) if exc.filename is not None else f"{folder}: {exc.strerror or exc}"
        return None, f"report not written: {where}"
    except ValueError as exc:  # e.g. a sidecar it cannot read, a name it cannot encode
        return None, f"report not written: {exc}"


def _show(path: Any) -> str:
    from ..errors import show_path

    return show_path(path)


def _remove_prompts(args: argparse.Namespace) -> dict[str, Any]:
    from ..detect.user_prompts import load_prompts_file, prompts_from_args

    if args.prompts and (args.box or args.point):
        raise UsageError("give either --prompts FILE or --box/--point, not both")
    if args.prompts:
        return _check_prompt_paths(load_prompts_file(args.prompts), args.prompts, args.input)
    if not (args.box or args.point):
        raise UsageError("nothing to remove: give --box, --point or --prompts")
    if not args.input.is_file():
        raise ValueError(f"{_show(args.input)}: --box/--point need a single image; use --prompts FILE for a folder")
    return {args.input.name: prompts_from_args(args.box, args.point)}


def _check_prompt_paths(prompts: dict[str, Any], file: Path, inp: Path) -> dict[str, Any]:
    """``prompts`` if every entry names an image under the folder ``inp`` (for a single image
    ``inp``: its own entry, which must be there); a typo'd path would otherwise leave its
    object in place while the run reports success."""
    from ..io.discover import find_images

    if not inp.exists():
        return prompts  # the run reports the missing input itself
    if inp.is_file():  # one image of a folder's prompts file: the other entries are not for this run
        if inp.name not in prompts:
            raise ValueError(f"{_show(file)}: no boxes or points for {_show(inp.name)}")
        return {inp.name: prompts[inp.name]}
    have = {rel.as_posix() for rel in find_images(inp)}
    missing = sorted(key for key in prompts if key not in have)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(f"{_show(file)}: no image {_show(missing[0])} under {_show(inp)}{more}")
    return prompts


def cmd_remove(args: argparse.Namespace) -> int:
    """``autofix remove``: object removal from box/click prompts, staged like ``fix``."""
    refine = {k: v for k, v in {"refine": args.refine, "refine_model": args.sam_model}.items() if v}
    if args.sam_model and not args.refine:
        refine["refine"] = "sam"
    if refine:
        args.overrides = [f"stages.*.detector.{k}={v}" for k, v in refine.items()] + args.overrides
    return _run_fix(args, "remove", prompts=_remove_prompts(args))


def cmd_models(args: argparse.Namespace) -> int:
    """``autofix models``: list / verify / pull / make-inpaint."""
    from . import models as m

    return {"list": m.cmd_list, "verify": m.cmd_verify, "pull": m.cmd_pull,
            "make-inpaint": m.cmd_make_inpaint}[args.models_command](args)


def cmd_watch(args: argparse.Namespace) -> int:
    """``autofix watch``: fix images as they are completely written into a folder."""
    from ..run.watch import latest_outcomes, watch

    from ..run.executor import RunOptions

    if args.config is None:  # ADetailer users expect the image's own seed and sampler when watching
        defaults = [f"stages.*.inpaint.{k}=image" for k in ("seed", "scheduler") if getattr(args, k, None) is None]
        args.overrides = defaults + args.overrides
    config = config_from_args(args)
    _warn_cpu_offload(config)
    if not args.json and not args.quiet:
        print(f"watching {_show(args.input)} → {_show(args.output)} (Ctrl-C to stop)", file=sys.stderr)

    def show(outcome: Any) -> None:
        if args.json:
            _print_outcome(outcome, True)
        elif not args.quiet or outcome.status == "failed":
            print(f"{outcome.status:16s} {_show(outcome.rel.as_posix())}  {_line(outcome.detail)}",
                  file=sys.stderr, flush=True)

    outcomes = watch(args.input, args.output, config, settle=args.settle, once=args.once,
                     max_seconds=args.max_seconds, on_image=show,
                     options=RunOptions(overlays=args.overlays, force=args.force,
                                        keep_candidates=args.keep_candidates))
    return EXIT_FAILURES if any(o.status == "failed" for o in latest_outcomes(outcomes)) else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``autofix report OUT``: the HTML page and contact sheets of an output folder."""
    from ..run.report import write_report

    if not (args.output / "_autofix").is_dir():
        raise ValueError(f"{_show(args.output)}: not an autofix output folder (no _autofix/ inside)")
    page = write_report(args.output)
    print(json.dumps({"report": str(page)}) if args.json else _show(page))
    return EXIT_OK


def cmd_presets(args: argparse.Namespace) -> int:
    """``autofix presets``: list presets with their stages."""
    from ..config import build_config, preset_names

    rows = {name: [{"stage": s.name, "label": s.label, "detector": s.detector.backend}
                   for s in build_config(preset=name).stages] for name in preset_names()}
    if args.json:
        print(json.dumps(rows))
        return EXIT_OK
    for name, stages in rows.items():
        print(f"{name:12s} " + " → ".join(f"{s['stage']} ({s['detector']})" for s in stages))
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    """``autofix sample``: write package-shipped photos with people into a folder."""
    from ..samples import write_samples

    paths = [str(p) for p in write_samples(args.folder)]
    print(json.dumps({"written": paths}) if args.json else "\n".join(_show(p) for p in paths))
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    """``autofix config``: print the effective config as YAML with its hash."""
    import yaml

    from ..config import config_hash

    cfg = config_from_args(args)
    if args.json:
        print(json.dumps({"config_hash": config_hash(cfg), "config": cfg.model_dump(mode="json")}))
        return EXIT_OK
    print(f"# config_hash: {config_hash(cfg)}")
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
    return EXIT_OK


def cmd_pick(args: argparse.Namespace) -> int:
    """``autofix pick OUT IMAGE --stage NAME --region I --candidate K``."""
    from .pick import cmd_pick as run

    return run(args)


def cmd_info(args: argparse.Namespace) -> int:
    """``autofix info FILE... [--json]``: the generation metadata autofix reads."""
    from .info import cmd_info as run

    return run(args)


COMMANDS = {"fix": cmd_fix, "presets": cmd_presets, "sample": cmd_sample, "config": cmd_config,
            "report": cmd_report, "watch": cmd_watch, "remove": cmd_remove, "models": cmd_models,
            "info": cmd_info, "pick": cmd_pick}


def _error(message: Any) -> None:
    """Print one ``autofix: …`` line on stderr, control characters escaped."""
    from ..errors import one_line

    print(f"autofix: {one_line(message)}", file=sys.stderr, flush=True)


def _os_error_line(exc: OSError) -> str:
    """``FILE: reason`` for an OSError (the file quoted when its name needs it)."""
    from ..errors import show_path

    reason = exc.strerror or str(exc)
    return f"{show_path(exc.filename)}: {reason}" if exc.filename is not None else reason


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (the table in :mod:`autofix.errors`: 0 ok, 1 fatal,
    2 usage, 3 finished with failures, 4 output folder locked, 130 interrupted)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    from ..errors import AutofixError, LockHeld

    try:
        return COMMANDS[args.command](args)
    except LockHeld as exc:
        _error(exc)
        return EXIT_LOCKED
    except UsageError as exc:
        _error(exc)
        return EXIT_USAGE
    except (AutofixError, ValueError) as exc:
        _error(exc)
        return EXIT_FATAL
    except RecursionError:
        _error("input nested too deeply to read")
        return EXIT_FATAL
    except BrokenPipeError:  # `autofix config | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FATAL
    except OSError as exc:  # read-only or full disk, a file where a folder must be, ...
        _error(_os_error_line(exc))
        return EXIT_FATAL
    except KeyboardInterrupt:
        print("autofix: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
