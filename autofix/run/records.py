"""Typed records of what a stage did: :class:`RegionRecord` and :class:`StageRecord`.

They cross the stage boundary (step → snapshots → writer → report) as dataclasses and are
turned into JSON only at the edge (:meth:`StageRecord.to_json`: snapshot records, sidecars,
the Python API). ``from_json`` reads them back (resume, report).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..config import StageConfig
from ..types import PlannedRegion


def _num(v: float) -> float:
    return round(float(v), 4)


@dataclass
class RegionRecord:
    """One planned region and what happened to it (a sidecar's ``stages[i].regions[j]``).

    Optional fields (``None``) are left out of the JSON: ``prompt``/``negative_prompt`` for
    regions that reached an inpainter, the best-of-N scores, and the backend's own facts.
    """

    index: int
    label: str
    score: float
    box: list[float]
    crop: dict[str, list[int]]
    mask_pixels: int
    seed: int | None
    repainted: bool
    reason: str
    notes: list[str]
    prompt: str | None = None
    negative_prompt: str | None = None
    original_score: float | None = None
    candidate_scores: list[float] | None = None
    chosen_candidate: int | None = None
    backend_info: dict[str, Any] | None = None
    inherited: dict[str, Any] | None = None
    #: issue 14 (keep-and-pick): "user" once ``autofix pick`` chose the candidate, and the
    #: side-by-side sheet of the kept candidates (path under ``OUT/_autofix``)
    picked_by: str | None = None
    candidates_sheet: str | None = None

    @classmethod
    def of(cls, region: PlannedRegion, stage: StageConfig, *, repainted: bool, reason: str,
           seed: int | None = None, choice: Any = None, info: dict[str, Any] | None = None,
           prompt: str | None = None, negative_prompt: str | None = None, settings: Any = None) -> "RegionRecord":
        """The record of ``region`` (``choice``: a best-of-N :class:`~.never_worse.Choice`;
        ``settings``: its :class:`~autofix.meta.inherit.JobSettings`, recorded when the seed or
        sampler did not come straight from the config). Without ``seed``, a numeric base seed
        gives ``seed + index``; ``-1``/``image`` give None (nothing was drawn)."""
        if seed is None and isinstance(stage.inpaint.seed, int) and stage.inpaint.seed >= 0:
            seed = stage.inpaint.seed + region.index
        rec = cls(
            index=region.index, label=region.label, score=_num(region.score),
            box=[_num(v) for v in region.box],
            crop={"box": list(region.crop.box), "size": list(region.crop.size)},
            mask_pixels=int((region.hard_mask > 0).sum()),
            seed=None if seed is None else int(seed),
            repainted=bool(repainted), reason=reason, notes=list(region.notes),
        )
        if prompt is not None:
            rec.prompt, rec.negative_prompt = prompt, negative_prompt or ""
        if choice is not None and choice.scores:
            rec.original_score = _num(choice.original_score)
            rec.candidate_scores = [_num(s) for s in choice.scores]
            rec.chosen_candidate = choice.index
        if settings is not None and (settings.seed_from != "config"
                                     or settings.scheduler_from not in ("config", "model")):
            rec.inherited = settings.record()
        if info:
            rec.backend_info = {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool, list))}
        return rec

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (optional fields only when set; ``chosen_candidate`` kept with scores)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name != "chosen_candidate":
                continue
            if f.name == "chosen_candidate" and self.candidate_scores is None:
                continue
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RegionRecord":
        """Read back :meth:`to_json` output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class StageRecord:
    """What one stage did to one image (a sidecar's ``stages[i]``).

    ``key`` is the stage's chained key; ``snapshot`` describes the stage's
    snapshot (changed patches and their sha256, see :mod:`.snapshots`) once it is written;
    ``image_sha256`` is the sha256 of the stage's output pixels (raw RGB bytes).
    """

    stage: str
    index: int
    label: str
    detector: str
    detections: int
    inpainter: dict[str, Any] | None
    regions: list[RegionRecord]
    notes: list[str]
    key: str = ""
    image_sha256: str = ""
    snapshot: dict[str, Any] | None = None
    repainted: int = field(init=False)

    def __post_init__(self) -> None:
        self.repainted = sum(r.repainted for r in self.regions)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict, as stored in snapshot records and sidecars."""
        out = {
            "stage": self.stage, "index": self.index, "label": self.label, "detector": self.detector,
            "detections": self.detections, "inpainter": self.inpainter,
            "regions": [r.to_json() for r in self.regions], "repainted": self.repainted, "notes": list(self.notes),
        }
        if self.key:
            out["key"] = self.key
        if self.image_sha256:
            out["image_sha256"] = self.image_sha256
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StageRecord":
        """Read back :meth:`to_json` output."""
        return cls(stage=data["stage"], index=int(data["index"]), label=data["label"], detector=data["detector"],
                   detections=int(data["detections"]), inpainter=data.get("inpainter"),
                   regions=[RegionRecord.from_json(r) for r in data.get("regions", [])],
                   notes=list(data.get("notes", [])), key=data.get("key", ""),
                   image_sha256=data.get("image_sha256", ""), snapshot=data.get("snapshot"))
