"""Reading the generation parameters that A1111 and ComfyUI store in PNG text, and
writing ours the way A1111 does. Metadata is untrusted: it is only parsed as text/JSON,
sizes are capped, and nothing in it is executed or used as a path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_MAX_TEXT = 256 * 1024
_NEG = "Negative prompt:"
_KV = re.compile(r'\s*([\w \-/]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


@dataclass(frozen=True)
class GenerationInfo:
    """Prompt, negative prompt, seed and other settings an image was generated with."""

    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    settings: dict[str, str] = field(default_factory=dict)
    source: str = ""  # "a1111", "comfyui" or ""


def parse_a1111(text: str) -> GenerationInfo:
    """Parse A1111's ``parameters`` chunk: prompt lines, ``Negative prompt: ...`` lines,
    then a last line of ``Key: value, Key: "quoted, value"`` settings."""
    lines = text[:_MAX_TEXT].strip().split("\n")
    settings_line = lines.pop() if lines and _KV.match(lines[-1]) and "Steps:" in lines[-1] else ""
    prompt_lines, neg_lines, target = [], [], None
    for line in lines:
        if line.startswith(_NEG):
            target = neg_lines
            line = line[len(_NEG):].strip()
        (target if target is not None else prompt_lines).append(line)
    settings = {k.strip(): v.strip().strip('"') for k, v in _KV.findall(settings_line)}
    seed = settings.get("Seed")
    return GenerationInfo("\n".join(prompt_lines).strip(), "\n".join(neg_lines).strip(),
                          int(seed) if seed and seed.isdigit() else None, settings, "a1111")


def parse_comfyui(prompt_json: str) -> GenerationInfo:
    """Parse ComfyUI's ``prompt`` chunk (the API-format graph): the texts of the
    CLIPTextEncode nodes wired into a sampler's ``positive``/``negative`` inputs, and its seed."""
    try:
        graph = json.loads(prompt_json[:_MAX_TEXT])
    except ValueError:
        return GenerationInfo()
    if not isinstance(graph, dict):
        return GenerationInfo()
    for node in graph.values():
        inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
        if "positive" in inputs and "negative" in inputs:
            pos, neg = _comfy_text(graph, inputs["positive"]), _comfy_text(graph, inputs["negative"])
            seed = inputs.get("seed", inputs.get("noise_seed"))
            return GenerationInfo(pos, neg, seed if isinstance(seed, int) else None, {}, "comfyui")
    return GenerationInfo()


def _comfy_text(graph: dict[str, Any], link: Any, depth: int = 0) -> str:
    if not (isinstance(link, list) and link and depth < 8):
        return ""
    node = graph.get(str(link[0]))
    inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
    text = inputs.get("text", inputs.get("text_g"))
    if isinstance(text, str):
        return text
    for key in ("conditioning", "conditioning_1", "conditioning_to"):
        if key in inputs:
            return _comfy_text(graph, inputs[key], depth + 1)
    return ""


def generation_info(text: dict[str, str]) -> GenerationInfo:
    """Whatever generation info a PNG's text chunks carry (A1111 first, then ComfyUI)."""
    if text.get("parameters"):
        return parse_a1111(text["parameters"])
    if text.get("prompt"):
        return parse_comfyui(text["prompt"])
    return GenerationInfo()


def a1111_parameters(info: GenerationInfo, extra: dict[str, Any]) -> str:
    """An A1111-style ``parameters`` text: the original prompt lines and settings, with
    ``extra`` (autofix's own settings) appended as ``Key: value`` pairs."""
    lines = [info.prompt] if info.prompt else []
    if info.negative_prompt:
        lines.append(f"{_NEG} {info.negative_prompt}")
    pairs = dict(info.settings)
    pairs.update({k: str(v) for k, v in extra.items()})
    lines.append(", ".join(f"{k}: {_quote(v)}" for k, v in pairs.items()))
    return "\n".join(lines)


def _quote(value: str) -> str:
    return json.dumps(value) if ("," in value or ":" in value or "\n" in value) else value


def output_text(source_text: dict[str, str], info: GenerationInfo, extra: dict[str, Any]) -> dict[str, str]:
    """The text chunks a repainted PNG output carries: the input's own chunks, with
    autofix's settings (``extra``) recorded (today: appended to A1111's ``parameters``).
    The one place the executor asks what metadata to write back."""
    return {**source_text, "parameters": a1111_parameters(info, extra)}
