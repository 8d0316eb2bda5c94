"""``autofix models …`` subcommands: thin wrappers over :mod:`autofix.modelfiles.store` and
:mod:`autofix.modelfiles.merge`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EXIT_FATAL, EXIT_OK


def _emit(rows: list[dict[str, Any]], as_json: bool, cols: tuple[str, ...]) -> None:
    if as_json:
        print(json.dumps(rows, default=str))
        return
    for row in rows:
        print("  ".join(f"{str(row.get(c, '')):<{w}}" for c, w in zip(cols, (24, 10, 14, 0))))


def cmd_list(args: argparse.Namespace) -> int:
    """List manifest models, where each is (or where to put it)."""
    from ..modelfiles import store as modelstore

    rows = modelstore.models_table(verify_hashes=args.verify)
    for row in rows:
        if not row.get("path"):
            row["path"] = f"put {row['file']} in {modelstore.models_dir()} (autofix models pull {row['name']})"
    _emit(rows, args.json, ("name", "task", "status", "path"))
    if not args.json:
        from ..config import preset_names

        print(f"the shipped presets ({', '.join(preset_names())}) need none of these files; they are for "
              "--set stages.*.detector=yolo:NAME, --refine sam and diffusion models", file=sys.stderr)
        print(f"models folder: {modelstore.models_dir()}  (searched: "
              f"{', '.join(str(d) for d in modelstore.search_dirs())})", file=sys.stderr)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Check sha256 of the named models (or every model present); exit 1 on a mismatch/missing."""
    from ..modelfiles import store as modelstore

    names = args.names or [r["name"] for r in modelstore.models_table() if r["status"] == "present"]
    results = [modelstore.verify(n) for n in names]
    rows = [{"name": r.query, "status": r.status, "path": r.path, "message": r.message} for r in results]
    _emit(rows, args.json, ("name", "status", "path", "message"))
    return EXIT_OK if all(r.status in ("ok", "unknown hash") for r in results) else EXIT_FATAL


def cmd_pull(args: argparse.Namespace) -> int:
    """Download known models (needs a network)."""
    from ..modelfiles import store as modelstore

    rows = []
    for name in args.names:
        path = modelstore.pull(name)
        rows.append({"name": name, "status": "ok", "path": path})
    _emit(rows, args.json, ("name", "status", "path"))
    return EXIT_OK


def cmd_make_inpaint(args: argparse.Namespace) -> int:
    """Add-difference merge: inpaint_base + (finetune − base) × multiplier."""
    from ..modelfiles.merge import make_inpaint

    report = make_inpaint(args.finetune, args.inpaint_base, args.base, args.output, multiplier=args.multiplier,
                          fp16=not args.fp32, allow_pickle=True if args.allow_pickle else None,
                          progress=not args.json)
    if args.json:
        print(report.to_json())
    else:
        for line in report.summary_lines():
            print(line)
    return EXIT_OK
