"""``autofix info FILE... [--json]``: what autofix reads from each file's generation
metadata (the tool's "PNG Info"), and which reader produced it.

``--json`` prints one object per file (a list for several files) with exactly the keys
``generator, prompt, negative_prompt, seed, steps, sampler, cfg, size, model, loras`` and
``reader``; ``null`` where unknown. Importing this module is cheap (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import EXIT_FAILURES, EXIT_OK

# characters that can move or hide text on a terminal; JSON escapes controls below 0x20 itself
_TERMINAL_UNSAFE = re.compile("[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_KEYS = ("generator", "prompt", "negative_prompt", "seed", "steps", "sampler", "cfg", "size", "model", "loras",
         "reader")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="print the generation metadata autofix reads from images (prompt, seed, ...)",
                       description="Print what autofix reads from each file's generation metadata "
                       "(A1111/Forge/SD.Next, ComfyUI, SwarmUI, Fooocus, InvokeAI, NovelAI, Civitai, ...) "
                       "and which reader produced it. Pixels are decoded only to look for A1111 'stealth' info "
                       "in the alpha channel of a PNG that carries nothing else.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="PNG, JPEG or WebP files (AVIF/TIFF through Pillow)")
    p.add_argument("--json", action="store_true", help="one JSON object per file (a list for several files)")
    return p


def _empty() -> dict[str, Any]:
    return dict.fromkeys(_KEYS)


def read_one(path: Path) -> tuple[dict[str, Any], str]:
    """``(summary, note)`` for one file; raises ``OSError``/``ValueError`` with a reason."""
    from ..meta import read_file_info

    if path.is_dir():
        raise IsADirectoryError("is a directory, not an image file")
    info = read_file_info(path)
    return info.summary(), info.note


def _show(value: Any) -> str:
    from ..errors import one_line

    return "\n    ".join(one_line(part) for part in str(value).split("\n"))


def _print_text(path: Path, summary: dict[str, Any], note: str) -> None:
    from ..errors import show_path

    print(show_path(path))
    if summary.get("reader") is None:
        print(f"  nothing read: {_show(note)}")
        return
    print(f"  generator: {_show(summary['generator'])}   (reader: {_show(summary['reader'])})")
    print(f"  prompt: {_show(summary['prompt'])}")
    print(f"  negative_prompt: {_show(summary['negative_prompt'])}")
    size = summary["size"]
    settings = [f"{k}: {_show(summary[k])}" for k in ("seed", "steps", "sampler", "cfg") if summary[k] is not None]
    if size:
        settings.append(f"size: {size[0]}x{size[1]}")
    print("  " + (", ".join(settings) if settings else "no settings"))
    if summary["model"]:
        print(f"  model: {_show(summary['model'])}")
    if summary["loras"]:
        print("  loras: " + ", ".join(_show(f"{lo['name']}:{lo['weight']}" if lo["weight"] is not None else lo["name"])
                                      for lo in summary["loras"]))
    if note:
        print(f"  note: {_show(note)}")


def cmd_info(args: argparse.Namespace) -> int:
    from ..errors import one_line, show_path

    results, failed = [], False
    for path in args.files:
        try:
            summary, note = read_one(path)
        except FileNotFoundError:
            summary, note, failed = _empty(), "", True
            print(f"autofix: {show_path(path)}: file not found", file=sys.stderr)
        except (OSError, ValueError) as exc:
            summary, note, failed = _empty(), "", True
            reason = getattr(exc, "strerror", None) or str(exc)
            print(f"autofix: {show_path(path)}: {one_line(reason)}", file=sys.stderr)
        else:
            if not args.json:
                _print_text(path, summary, note)
        results.append(summary)
    if args.json:
        text = json.dumps(results[0] if len(results) == 1 else results, ensure_ascii=False)
        print(_TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
    return EXIT_FAILURES if failed else EXIT_OK
