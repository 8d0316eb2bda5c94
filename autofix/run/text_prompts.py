"""Choosing each region's prompt: stage templates, the image's own prompt, region rules."""

from __future__ import annotations

import re

import numpy as np

from ..config import InpaintParams, RegionPrompt
from ..io.metadata import GenerationInfo
from ..types import PlannedRegion


def expand(template: str, prompt: str, negative: str) -> str:
    """Fill ``{prompt}``/``{negative_prompt}`` and tidy the commas an empty value leaves."""
    text = template.replace("{prompt}", prompt).replace("{negative_prompt}", negative)
    text = re.sub(r"(\s*,\s*)+", ", ", text)
    return text.strip().strip(",").strip()


def _rule_winner(rule: str, regions: list[PlannedRegion]) -> int:
    if rule in ("largest", "smallest"):
        areas = [int((r.hard_mask > 0).sum()) for r in regions]
        return int(np.argmax(areas) if rule == "largest" else np.argmin(areas))
    if rule in ("leftmost", "rightmost"):
        centres = [(r.box[0] + r.box[2]) / 2 for r in regions]
        return int(np.argmin(centres) if rule == "leftmost" else np.argmax(centres))
    return int(np.argmax([r.score for r in regions]))


def _match(rp: RegionPrompt, region: PlannedRegion, regions: list[PlannedRegion]) -> bool:
    if rp.index is not None:
        return region.index == rp.index
    return regions[_rule_winner(rp.rule or "", regions)].index == region.index


def region_prompts(params: InpaintParams, regions: list[PlannedRegion],
                   image_info: GenerationInfo | None) -> list[tuple[str, str]]:
    """``(prompt, negative_prompt)`` for each region, in order."""
    info = image_info or GenerationInfo()
    out = []
    for region in regions:
        prompt, negative = params.prompt, params.negative_prompt
        for rp in params.region_prompts:
            if _match(rp, region, regions):
                prompt = rp.prompt
                negative = rp.negative_prompt if rp.negative_prompt is not None else negative
                break
        out.append((expand(prompt, info.prompt, info.negative_prompt),
                    expand(negative, info.prompt, info.negative_prompt)))
    return out
