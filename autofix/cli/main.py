"""The ``autofix`` command: a thin layer over the library. ``--help`` imports nothing heavy."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

EXIT_FATAL, EXIT_USAGE = 1, 2

_STAGE_FLAGS = {  # flag dest -> dotted key under every stage
    "prompt": "inpaint.prompt", "negative_prompt": "inpaint.negative_prompt", "steps": "inpaint.steps",
    "strength": "inpaint.strength", "cfg": "inpaint.cfg", "seed": "inpaint.seed",
    "candidates": "inpaint.candidates", "scheduler": "inpaint.scheduler", "masked_content": "inpaint.masked_content",
    "confidence": "filters.confidence", "top_k": "filters.top_k", "padding": "crop.padding",
    "resolution": "crop.resolution", "dilate": "mask.dilate", "blur": "mask.blur",
}


def _add_config_args(p: argparse.ArgumentParser, default_preset: str) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument("--preset", default=None, help=f"shipped preset (default {default_preset}); see `autofix presets`")
    g.add_argument("--config", type=Path, help="a YAML config file (instead of a preset)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. stages.*.mask.blur=12 or stages.face.crop.padding=64")
    m = p.add_argument_group("inpainting")
    m.add_argument("--inpainter", choices=["auto", "classical", "diffusers", "none"],
                   help="auto (default): diffusion model if given, else faces/hands are planned but not repainted")
    m.add_argument("--model", help="diffusion model: a .safetensors/.ckpt file, a diffusers folder, or a HF repo id")
    m.add_argument("--model-dir", help="an A1111 models/Stable-diffusion or ComfyUI models/checkpoints folder")
    m.add_argument("--device", help="torch device for the diffusion model (default: cuda if available, else cpu)")
    m.add_argument("--allow-pickle", action="store_true", help="allow loading pickle-based .ckpt/.pt files not in the manifest")
    m.add_argument("--max-batch", type=int, help="most crops per pipeline call (default 8)")
    m.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"])
    m.add_argument("--cpu-offload", action="store_true", help="CUDA: keep only the running component on the GPU")
    m.add_argument("--safety-checker", action="store_true", help="run the SD safety checker; flagged regions keep their pixels")
    m.add_argument("--model-config", help="architecture folder for a single-file checkpoint (default: shipped)")
    m.add_argument("--prompt"); m.add_argument("--negative-prompt")
    m.add_argument("--steps", type=int); m.add_argument("--strength", type=float)
    m.add_argument("--cfg", type=float); m.add_argument("--seed", type=int)
    m.add_argument("--candidates", type=int, help="best-of-N per region with a never-worse guard")
    m.add_argument("--scheduler"); m.add_argument("--masked-content", choices=["original", "fill", "latent_noise", "latent_nothing"])
    r = p.add_argument_group("regions")
    r.add_argument("--confidence", type=float); r.add_argument("--top-k", type=int)
    r.add_argument("--padding", type=int); r.add_argument("--resolution", type=int)
    r.add_argument("--dilate", type=int); r.add_argument("--blur", type=int)
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=["same", "png", "jpg", "webp"], help="output format (default: same as input)")
    o.add_argument("--overlays", choices=["auto", "always", "never"], default="auto",
                   help="plan overlays under OUT/_autofix/plans (auto: dry runs and regions not repainted)")
    o.add_argument("--json", action="store_true", help="print one JSON object per image and a JSON summary")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-image lines")


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
    watch = sub.add_parser("watch", help="fix images as they land in a folder (A1111, ComfyUI, Fooocus outputs)")
    watch.add_argument("input", type=Path, help="the folder a generator writes into (watched recursively)")
    watch.add_argument("-o", "--output", type=Path, required=True)
    watch.add_argument("--settle", type=float, default=1.0, help="seconds a file must stay unchanged (default 1)")
    watch.add_argument("--once", action="store_true", help="exit when nothing new is left")
    watch.add_argument("--max-seconds", type=float, help="stop after this long")
    _add_config_args(watch, "faces+hands")
    rep = sub.add_parser("report", help="write an HTML page and PNG contact sheets for an output folder")
    rep.add_argument("output", type=Path)
    rep.add_argument("--json", action="store_true")
    remove = sub.add_parser("remove", help="remove objects given by boxes/clicks (classical fill unless a model is given)")
    remove.add_argument("input", type=Path, help="an image (with --box/--point) or a folder (with --prompts)")
    remove.add_argument("-o", "--output", type=Path, required=True)
    remove.add_argument("--box", action="append", default=[], metavar="X0,Y0,X1,Y1", help="object box in pixels")
    remove.add_argument("--point", action="append", default=[], metavar="X,Y[:neg]", help="a click on (or :neg off) the object")
    remove.add_argument("--prompts", type=Path, help="JSON or CSV of boxes/clicks per image (see README)")
    remove.add_argument("--refine", choices=["grabcut", "sam", "none"], help="mask from the prompt (default grabcut)")
    remove.add_argument("--sam-model", help="SAM checkpoint (vit_b/l/h .pth) for --refine sam")
    remove.add_argument("--dry-run", action="store_true")
    remove.add_argument("--no-report", action="store_true")
    _add_config_args(remove, "remove")
    models = sub.add_parser("models", help="known models: list, verify, pull; make an inpainting checkpoint")
    msub = models.add_subparsers(dest="models_command", required=True)
    mlist = msub.add_parser("list", help="the manifest and where each file is (or should be put)")
    mlist.add_argument("--verify", action="store_true", help="also check sha256 of files present")
    mlist.add_argument("--json", action="store_true")
    mver = msub.add_parser("verify", help="check the sha256 of a model (name or path) against the manifest")
    mver.add_argument("names", nargs="*", help="names or paths (default: every model present)")
    mver.add_argument("--json", action="store_true")
    mpull = msub.add_parser("pull", help="download a known model into the models folder (needs a network)")
    mpull.add_argument("names", nargs="+")
    mpull.add_argument("--json", action="store_true")
    mk = msub.add_parser("make-inpaint", help="inpainting checkpoint = inpaint_base + (finetune - base) x multiplier")
    mk.add_argument("--finetune", required=True, type=Path)
    mk.add_argument("--inpaint-base", required=True, type=Path)
    mk.add_argument("--base", required=True, type=Path)
    mk.add_argument("-o", "--output", required=True, type=Path)
    mk.add_argument("--multiplier", type=float, default=1.0)
    mk.add_argument("--fp32", action="store_true", help="write float32 (default float16)")
    mk.add_argument("--allow-pickle", action="store_true", help="allow .ckpt inputs (a pickle can run code)")
    mk.add_argument("--json", action="store_true")
    presets = sub.add_parser("presets", help="list the shipped presets")
    presets.add_argument("--json", action="store_true")
    sample = sub.add_parser("sample", help="write a folder of sample photos that ship inside installed packages")
    sample.add_argument("folder", type=Path)
    sample.add_argument("--json", action="store_true")
    show = sub.add_parser("config", help="print the effective config (after preset, file and overrides) and its hash")
    _add_config_args(show, "faces+hands")
    from .info import add_parser as add_info_parser

    add_info_parser(sub)
    return parser


def config_from_args(args: argparse.Namespace, default_preset: str = "faces+hands") -> Any:
    """The validated RunConfig the arguments describe."""
    from ..config import build_config

    overrides = [f"stages.*.{key}={_yaml_scalar(getattr(args, dest))}"
                 for dest, key in _STAGE_FLAGS.items() if getattr(args, dest, None) is not None]
    inpainter = {k: v for k, v in {
        "backend": args.inpainter, "model": args.model, "model_dir": args.model_dir,
        "device": args.device, "allow_pickle": args.allow_pickle or None, "max_batch": args.max_batch,
        "dtype": args.dtype, "cpu_offload": args.cpu_offload or None, "safety_checker": args.safety_checker or None,
        "config_dir": args.model_config}.items() if v is not None}
    patch: dict[str, Any] = {"inpainter": inpainter} if inpainter else {}
    if args.format:
        patch["output"] = {"format": args.format}
    return build_config(preset=args.preset or default_preset, file=args.config, overrides=overrides + args.overrides,
                        patch=patch)


def _yaml_scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _print_outcome(outcome: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"input": outcome.rel.as_posix(), "status": outcome.status, "detail": outcome.detail,
                          "output": str(outcome.output) if outcome.output else None,
                          "regions": outcome.regions, "repainted": outcome.repainted,
                          "resumed_stages": outcome.resumed_stages}), flush=True)
    elif outcome.status == "failed":
        print(f"error: {outcome.detail}", file=sys.stderr, flush=True)


def cmd_fix(args: argparse.Namespace) -> int:
    """``autofix fix``: run the staged executor over a folder."""
    return _run_fix(args, "faces+hands")


def _run_fix(args: argparse.Namespace, default_preset: str, prompts: dict[str, Any] | None = None) -> int:
    from ..run.batch import run_folder
    from ..run.executor import RunOptions

    config = config_from_args(args, default_preset)
    options = RunOptions(dry_run=args.dry_run, overlays=args.overlays)
    summary = run_folder(args.input, args.output, config, options, on_image=lambda o: _print_outcome(o, args.json),
                         progress=not (args.quiet or args.json), prompts=prompts)
    page = None
    if not (args.no_report or args.dry_run or summary.interrupted):
        from ..run.report import write_report

        page = write_report(args.output)
    if args.json:
        print(json.dumps({"summary": dict(summary.counts()), "elapsed_s": round(summary.elapsed, 3),
                          "exit_code": summary.exit_code(), "notes": summary.lines()[1:],
                          "report": str(page) if page else None}))
    else:
        for line in summary.lines():
            print(line, file=sys.stderr)
        if page:
            print(f"report: {page}", file=sys.stderr)
    return summary.exit_code()


def _remove_prompts(args: argparse.Namespace) -> dict[str, Any]:
    from ..detect.prompts import load_prompts_file, prompts_from_args

    if args.prompts and (args.box or args.point):
        raise ValueError("give either --prompts FILE or --box/--point, not both")
    if args.prompts:
        return load_prompts_file(args.prompts)
    if not (args.box or args.point):
        raise ValueError("nothing to remove: give --box, --point or --prompts")
    if not args.input.is_file():
        raise ValueError(f"{args.input}: --box/--point need a single image; use --prompts FILE for a folder")
    return {args.input.name: prompts_from_args(args.box, args.point)}


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
    from ..run.watch import watch

    config = config_from_args(args)
    if not args.json and not args.quiet:
        print(f"watching {args.input} → {args.output} (Ctrl-C to stop)", file=sys.stderr)

    def show(outcome: Any) -> None:
        if args.json:
            _print_outcome(outcome, True)
        elif not args.quiet or outcome.status == "failed":
            print(f"{outcome.status:16s} {outcome.rel.as_posix()}  {outcome.detail}", file=sys.stderr, flush=True)

    outcomes = watch(args.input, args.output, config, settle=args.settle, once=args.once,
                     max_seconds=args.max_seconds, on_image=show)
    return 3 if any(o.status == "failed" for o in outcomes) else 0


def cmd_report(args: argparse.Namespace) -> int:
    """``autofix report OUT``: the HTML page and contact sheets of an output folder."""
    from ..run.report import write_report

    if not (args.output / "_autofix").is_dir():
        raise ValueError(f"{args.output}: not an autofix output folder (no _autofix/ inside)")
    page = write_report(args.output)
    print(json.dumps({"report": str(page)}) if args.json else page)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    """``autofix presets``: list presets with their stages."""
    from ..config import build_config, preset_names

    rows = {name: [{"stage": s.name, "label": s.label, "detector": s.detector.backend}
                   for s in build_config(preset=name).stages] for name in preset_names()}
    if args.json:
        print(json.dumps(rows))
        return 0
    for name, stages in rows.items():
        print(f"{name:12s} " + " → ".join(f"{s['stage']} ({s['detector']})" for s in stages))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """``autofix sample``: write package-shipped photos with people into a folder."""
    from ..samples import write_samples

    paths = [str(p) for p in write_samples(args.folder)]
    print(json.dumps({"written": paths}) if args.json else "\n".join(paths))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """``autofix config``: print the effective config as YAML with its hash."""
    import yaml

    from ..config import config_hash

    cfg = config_from_args(args)
    if args.json:
        print(json.dumps({"config_hash": config_hash(cfg), "config": cfg.model_dump(mode="json")}))
        return 0
    print(f"# config_hash: {config_hash(cfg)}")
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """``autofix info FILE... [--json]``: the generation metadata autofix reads."""
    from .info import cmd_info as run

    return run(args)


COMMANDS = {"fix": cmd_fix, "presets": cmd_presets, "sample": cmd_sample, "config": cmd_config,
            "report": cmd_report, "watch": cmd_watch, "remove": cmd_remove, "models": cmd_models,
            "info": cmd_info}


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 fatal, 2 usage, 3 finished with failures,
    4 output folder locked, 130 interrupted)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    from ..errors import AutofixError, LockHeld

    try:
        return COMMANDS[args.command](args)
    except LockHeld as exc:
        print(f"autofix: {exc}", file=sys.stderr)
        return 4
    except (AutofixError, ValueError) as exc:
        print(f"autofix: {exc}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print("autofix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
