"""Measure autofix's readers against sd-metadata's own expected values.

    python tests/data/generators/crosscheck.py /path/to/sd-metadata   # a checkout of enslo/sd-metadata

Reads the expected prompt, negative prompt, seed, steps, cfg, width and height from that
project's sample tests (packages/core/tests/samples/parsers/*.test.ts) and compares them
with what autofix reads from the full-size files in samples/. Prompts are compared per
line with surrounding whitespace removed (the webui's own infotext reading strips lines).
Prints every mismatch and a total line ``N/M fields match``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys


def _js(s: str) -> str:
    return json.loads('"' + s.replace('"', '\\"').replace("\\'", "'") + '"')


def _norm(text: str) -> str:
    return "\n".join(line.strip() for line in text.strip().split("\n"))


def expectations(root: str) -> dict[str, dict[str, object]]:
    exp: dict[str, dict[str, object]] = {}
    for ts in glob.glob(os.path.join(root, "packages/core/tests/samples/parsers/*.test.ts")):
        for block in re.split(r"\n\s*it\(", open(ts, encoding="utf-8").read()):
            m = re.search(r"'([\w.-]+\.(?:png|jpe?g|webp))'", block)
            if not m or "toEqual" not in block:
                continue
            name = m.group(1)
            kind = "png" if name.endswith(".png") else ("webp" if name.endswith("webp") else "jpg")
            e: dict[str, object] = {}
            for key, pat in (("prompt", r"\bprompt:\s*'((?:[^'\\]|\\.)*)'"),
                             ("negative_prompt", r"negativePrompt:\s*'((?:[^'\\]|\\.)*)'")):
                mm = re.search(pat, block)
                if mm:
                    e[key] = _norm(_js(mm.group(1)))
            head = block.split("hires")[0]
            for key, pat in (("seed", r"seed:\s*(\d+)"), ("steps", r"steps:\s*(\d+)"), ("cfg", r"cfg:\s*([\d.]+)"),
                             ("width", r"width:\s*(\d+)"), ("height", r"height:\s*(\d+)")):
                mm = re.search(pat, head)
                if mm:
                    e[key] = float(mm.group(1)) if key == "cfg" else int(mm.group(1))
            exp[f"{kind}/{name}"] = e
    return exp


def main(root: str) -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    from autofix.meta import read_file_info

    total = ok = files = 0
    for key, e in sorted(expectations(root).items()):
        path = os.path.join(root, "samples", key)
        if not os.path.exists(path):
            continue
        files += 1
        info = read_file_info(path)
        got = {"prompt": _norm(info.prompt), "negative_prompt": _norm(info.negative_prompt), "seed": info.seed,
               "steps": info.steps, "cfg": info.cfg, "width": info.width, "height": info.height}
        for k, v in e.items():
            total += 1
            if got[k] == v:
                ok += 1
            else:
                print(f"MISMATCH {key} {k}: expected {v!r:.80} got {got[k]!r:.80}")
    print(f"{ok}/{total} fields match sd-metadata's expectations over {files} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
