"""Stage snapshots: what a stage changed, enough to resume from it.

A stage only changes pixels under its regions' soft masks, so its snapshot stores just
those: per region, the bounding box of its soft mask as one RGBA PNG (RGB = the stage's
output pixels, A = the stage's union soft mask; RGB is zeroed where A is 0, which
compresses to nearly nothing). The patches of one stage are concatenated into
``NN-STAGE.patches``; the stage record ``NN-STAGE.json`` (written last, so it commits the
stage) carries the patches' boxes, offsets and sha256, the stage key and the sha256 of the
full output pixels. Restoring applies the patches, in order, to the previous stage's image
(or the decoded input) and checks that sha256; anything that does not verify is recomputed.

Snapshots are written without fsync: a ``kill -9`` cannot lose them (the page cache
survives), and a power loss can only make one fail verification and be redone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AutofixError
from ..io.atomic import atomic_write_bytes, atomic_write_json
from ..types import PlannedRegion
from .records import StageRecord

SNAPSHOT_FORMAT = 2


def pixels_sha256(rgb: np.ndarray) -> str:
    """sha256 of an image's raw pixels (with its shape, so a transposed image differs)."""
    h = hashlib.sha256(f"{rgb.shape}".encode())
    h.update(np.ascontiguousarray(rgb).data)
    return h.hexdigest()


@dataclass(frozen=True)
class Restored:
    """A stage read back from its snapshot."""

    image: np.ndarray
    record: StageRecord
    union: np.ndarray


def patch_boxes(regions: list[PlannedRegion]) -> list[tuple[int, int, int, int]]:
    """Per region, the bounding box of its soft mask (``(x0, y0, x1, y1)``, exclusive ends)."""
    from ..plan.masks import mask_bbox

    boxes = []
    for region in regions:
        box = mask_bbox(region.soft_mask)
        if box is not None:
            boxes.append(tuple(int(v) for v in box))
    return boxes


def encode_patches(after: np.ndarray, union: np.ndarray, boxes: list[tuple[int, int, int, int]]
                   ) -> tuple[bytes, list[dict[str, object]]]:
    """Concatenated RGBA PNG patches of ``after`` under ``union`` and their index entries."""
    import cv2

    blob, index = bytearray(), []
    for x0, y0, x1, y1 in boxes:
        alpha = union[y0:y1, x0:x1]
        rgb = np.where(alpha[..., None] > 0, after[y0:y1, x0:x1], 0).astype(np.uint8)
        bgra = np.dstack([rgb[:, :, ::-1], alpha])
        ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise AutofixError("snapshot patch encoding failed")
        index.append({"box": [x0, y0, x1, y1], "offset": len(blob), "length": len(buf)})
        blob += buf.tobytes()
    return bytes(blob), index


def apply_patches(before: np.ndarray, blob: bytes, index: list[dict[str, object]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``before`` with the patches applied, and the union mask they carry."""
    import cv2

    image = before.copy()
    union = np.zeros(before.shape[:2], np.uint8)
    for entry in index:
        x0, y0, x1, y1 = (int(v) for v in entry["box"])  # type: ignore[union-attr]
        start, length = int(entry["offset"]), int(entry["length"])  # type: ignore[arg-type]
        bgra = cv2.imdecode(np.frombuffer(blob[start:start + length], np.uint8), cv2.IMREAD_UNCHANGED)
        if bgra is None or bgra.shape != (y1 - y0, x1 - x0, 4):
            raise AutofixError("snapshot patch does not decode to its box")
        alpha = bgra[:, :, 3]
        sel = alpha > 0
        image[y0:y1, x0:x1][sel] = bgra[:, :, 2::-1][sel]
        np.maximum(union[y0:y1, x0:x1], alpha, out=union[y0:y1, x0:x1])
    return image, union


class SnapshotStore:
    """Reads and writes the stage snapshots of one output folder (``OUT/_autofix/work``)."""

    def __init__(self, meta: Path) -> None:
        self.work = Path(meta) / "work"

    def paths(self, rel: Path, index: int, stage: str) -> tuple[Path, Path]:
        """``(record, patches)`` paths of stage ``index`` of input ``rel``."""
        base = self.work / rel / f"{index:02d}-{stage}"
        return base.with_name(base.name + ".json"), base.with_name(base.name + ".patches")

    def write(self, rel: Path, record: StageRecord, after: np.ndarray, union: np.ndarray,
              boxes: list[tuple[int, int, int, int]]) -> None:
        """Write the stage's patches, then its record (which commits it). ``record.key`` and
        ``record.image_sha256`` must be set."""
        rec_path, blob_path = self.paths(rel, record.index, record.stage)
        blob, index = encode_patches(after, union, boxes)
        record.snapshot = {"format": SNAPSHOT_FORMAT, "file": blob_path.name,
                           "sha256": hashlib.sha256(blob).hexdigest(), "patches": index}
        if blob:
            atomic_write_bytes(blob_path, blob, durable=False)
        atomic_write_json(rec_path, record.to_json(), durable=False)

    def load(self, rel: Path, index: int, stage: str, key: str, before: np.ndarray) -> Restored | None:
        """The stage restored on top of ``before``, or None when there is no snapshot whose key
        matches ``key`` and whose patches and output pixels verify."""
        rec_path, blob_path = self.paths(rel, index, stage)
        try:
            data = json.loads(rec_path.read_text("utf-8"))
            snap = data.get("snapshot") or {}
            if data.get("key") != key or snap.get("format") != SNAPSHOT_FORMAT:
                return None
            blob = blob_path.read_bytes() if snap.get("patches") else b""
            if hashlib.sha256(blob).hexdigest() != snap.get("sha256"):
                return None
            image, union = apply_patches(before, blob, snap["patches"])
            if pixels_sha256(image) != data.get("image_sha256"):
                return None
            return Restored(image, StageRecord.from_json(data), union)
        except (OSError, ValueError, KeyError, TypeError, AutofixError):
            return None

    def stage_unions(self, rel: Path, shape_hw: tuple[int, int]) -> list[np.ndarray]:
        """The union soft mask of every snapshotted stage of ``rel`` (in stage order), read
        from the patches' alpha without restoring pixels (for inspection and tests)."""
        out = []
        for rec_path in sorted((self.work / rel).glob("[0-9][0-9]-*.json")):
            data = json.loads(rec_path.read_text("utf-8"))
            snap = data.get("snapshot") or {}
            blob = (rec_path.parent / snap["file"]).read_bytes() if snap.get("patches") else b""
            _, union = apply_patches(np.zeros((*shape_hw, 3), np.uint8), blob, snap.get("patches", []))
            out.append(union)
        return out
