"""JSON records of planned regions, as they appear in stage records and sidecars."""

from __future__ import annotations

from typing import Any

from ..config import StageConfig
from ..types import PlannedRegion


def _num(v: float) -> float:
    return round(float(v), 4)


def region_record(region: PlannedRegion, stage: StageConfig, *, repainted: bool, reason: str,
                  seed: int | None = None, choice: Any = None, info: dict[str, Any] | None = None,
                  prompt: str | None = None, negative_prompt: str | None = None) -> dict[str, Any]:
    """A JSON-ready description of ``region`` and what happened to it.

    Fields: index, label, score, box (float px), crop {box (int px), size [w, h]},
    mask_pixels (hard mask area), seed, repainted, reason, notes, and — with best-of-N —
    original_score and candidate_scores.
    """
    record: dict[str, Any] = {
        "index": region.index,
        "label": region.label,
        "score": _num(region.score),
        "box": [_num(v) for v in region.box],
        "crop": {"box": list(region.crop.box), "size": list(region.crop.size)},
        "mask_pixels": int((region.hard_mask > 0).sum()),
        "seed": stage.inpaint.seed + region.index if seed is None else seed,
        "repainted": bool(repainted),
        "reason": reason,
        "notes": list(region.notes),
    }
    if prompt is not None:
        record["prompt"], record["negative_prompt"] = prompt, negative_prompt or ""
    if choice is not None and choice.scores:
        record["original_score"] = _num(choice.original_score)
        record["candidate_scores"] = [_num(s) for s in choice.scores]
        record["chosen_candidate"] = choice.index
    if info:
        record["backend_info"] = {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool, list))}
    return record
