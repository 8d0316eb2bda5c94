"""Keep-and-pick variations (issue 14): ``--keep-candidates`` and ``autofix pick``.

With ``--candidates N --keep-candidates``, every candidate of every repainted region is
written when its stage is composited, under ``OUT/_autofix/candidates/REL/NN-STAGE/``:

* ``rI-cK.png``: candidate K of region I, as the inpainter returned it (at the crop's
  processing size; exactly what compositing pastes);
* ``rI-mask.png``: the region's soft mask under its crop box (the compositing weight);
* ``rI.json``: the crop box and the number of candidates;
* ``rI-sheet.jpg``: the region's window, original first, then each candidate composited
  into it, side by side (the report shows it).

``autofix pick OUT IMAGE --stage NAME --region I --candidate K`` promotes candidate K:
the stage's input is rebuilt exactly from the input file and the earlier stages'
snapshots, the stage is re-composited with the pick (every other region keeps its chosen
candidate), later stages' snapshot patches are re-applied on top as they were (where a
later stage's mask overlaps the region its pixels are the earlier run's), and the final
image (fsynced), the stage snapshots and the sidecar (``chosen_candidate: K``,
``picked_by: user``) are rewritten atomically, in that order. The pick is also recorded in
``OUT/_autofix/picks.json`` against the stage's key, so a re-run keeps it: an unchanged
image is not redone (its sidecar verifies), and a stage that is recomputed with the same
key (same config, same candidates) takes the pick instead of best-of-N.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AutofixError, PickError, show_path
from ..io.atomic import atomic_write_bytes, atomic_write_json

CANDIDATES = "candidates"
PICKS = "picks.json"
SHEET_H = 192


def stage_dir(meta: Path, rel: Path, index: int, stage: str) -> Path:
    """``OUT/_autofix/candidates/REL/NN-STAGE``."""
    return Path(meta) / CANDIDATES / rel / f"{index:02d}-{stage}"


# --------------------------------------------------------------------------- during a run

def picks_for(meta: Path, rel: Path, key: str) -> dict[int, int]:
    """The user's picks for the stage of ``rel`` whose key is ``key`` (region -> candidate)."""
    try:
        data = json.loads((Path(meta) / PICKS).read_text("utf-8"))
        return {int(r): int(k) for r, k in data[rel.as_posix()][key].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def note_candidates(meta: Path, rel: Path, plan: Any, record: Any) -> list[tuple[Path, Any]]:
    """Point each kept region's record at its sheet; returns the files to write
    (``(path, bytes | dict)``) for :func:`write_files` on the writer thread."""
    folder = stage_dir(meta, rel, plan.index, plan.stage.name)
    files: list[tuple[Path, Any]] = []
    for kept in plan.kept:
        files.extend(_region_files(folder, kept))
        record.regions[kept.region].candidates_sheet = (folder / f"r{kept.region}-sheet.jpg").relative_to(
            meta).as_posix()
    return files


def write_files(files: list[tuple[Path, Any]]) -> None:
    """Write what :func:`note_candidates` listed (atomic, not fsynced: losing one only loses a choice)."""
    for path, payload in files:
        if isinstance(payload, dict):
            atomic_write_json(path, payload, durable=False)
        else:
            atomic_write_bytes(path, payload, durable=False)


def _region_files(folder: Path, kept: Any) -> list[tuple[Path, Any]]:
    i = kept.region
    files: list[tuple[Path, Any]] = [(folder / f"r{i}-c{k}.png", _png(c)) for k, c in enumerate(kept.candidates)]
    files.append((folder / f"r{i}-mask.png", _png(kept.soft_box)))
    files.append((folder / f"r{i}-sheet.jpg", _sheet(kept.windows)))
    h, w = kept.candidates[0].shape[:2]
    files.append((folder / f"r{i}.json", {"region": i, "box": list(kept.box), "size": [w, h],
                                          "candidates": len(kept.candidates)}))
    return files


def _png(arr: np.ndarray) -> bytes:
    import cv2

    img = arr[:, :, ::-1] if arr.ndim == 3 else arr
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise AutofixError("candidate PNG encoding failed")
    return buf.tobytes()


def _sheet(windows: tuple[np.ndarray, ...]) -> bytes:
    """Original | candidate 0 | candidate 1 | ... at :data:`SHEET_H` px high, labelled."""
    import cv2

    tiles = []
    for n, win in enumerate(windows):
        h, w = win.shape[:2]
        tw = max(1, round(w * SHEET_H / max(h, 1)))
        tile = cv2.resize(np.ascontiguousarray(win), (tw, SHEET_H), interpolation=cv2.INTER_AREA)
        label = "original" if n == 0 else f"candidate {n - 1}"
        cv2.putText(tile, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(np.pad(tile, ((0, 0), (0, 4), (0, 0))))
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(np.hstack(tiles)[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise AutofixError("candidate sheet encoding failed")
    return buf.tobytes()


# --------------------------------------------------------------------------- autofix pick

def _read_png(path: Path, color: bool) -> np.ndarray:
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise PickError(f"{show_path(path)}: missing or unreadable (was the run made with --keep-candidates?)")
    return np.ascontiguousarray(arr[:, :, ::-1]) if color else arr


def find_sidecar(out: Path, image: str) -> tuple[Path, dict[str, Any]]:
    """The sidecar of ``image``: an input path relative to the input folder (as sidecars
    record it) or the final's path (relative to ``out``, or as given)."""
    from .output_folder import META

    want = Path(image).as_posix()
    given = Path(image)
    out_res = Path(out).resolve()
    for side_path in sorted(Path(out).rglob("*.autofix.json")):
        if META in side_path.relative_to(out).parts:
            continue
        try:
            side = json.loads(side_path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        final_rel = (side.get("output") or {}).get("path")
        names = {side.get("input", {}).get("path"), final_rel}
        if want in names or (given.is_absolute() or given.exists()) and final_rel and \
                given.resolve() == out_res / final_rel:
            return side_path, side
    raise PickError(f"{show_path(out)}: no sidecar for {image!r} (give the input's path as the sidecar records it, "
                    "e.g. 'sub/a.png')")


def pick(out: str | Path, image: str, stage: str, region: int, candidate: int) -> dict[str, Any]:
    """Promote ``candidate`` of ``region`` in ``stage`` of ``image`` (see the module docstring)."""
    from .output_folder import OutputStore

    store = OutputStore(out)
    if not store.meta.is_dir():
        raise PickError(f"{show_path(out)}: not an autofix output folder (no _autofix/)")
    store.acquire_lock()
    try:
        return _pick(store, image, stage, region, candidate)
    finally:
        store.release_lock()


def _pick(store: Any, image: str, stage_name: str, region: int, candidate: int) -> dict[str, Any]:
    from ..config import validate_config
    from ..io.image import load_image
    from ..io.metadata import generation_info
    from .composite import paste_crop_into
    from .records import StageRecord
    from .snapshots import SnapshotStore, apply_patches, pixels_sha256
    from .writer import FinalImage, final_bytes, sha256_bytes

    side_path, side = find_sidecar(store.root, image)
    rel = Path(side["input"]["path"])
    records = [StageRecord.from_json(s) for s in side["stages"]]
    try:
        k = next(i for i, r in enumerate(records) if r.stage == stage_name)
    except StopIteration:
        raise PickError(f"{rel.as_posix()}: no stage {stage_name!r} (stages: "
                        f"{', '.join(r.stage for r in records)})") from None
    rec = records[k]
    if not 0 <= region < len(rec.regions):
        raise PickError(f"{rel.as_posix()}: stage {stage_name} has {len(rec.regions)} region(s), no region {region}")
    folder = stage_dir(store.meta, rel, rec.index, rec.stage)
    try:
        meta = json.loads((folder / f"r{region}.json").read_text("utf-8"))
    except (OSError, ValueError):
        raise PickError(f"{rel.as_posix()}: no kept candidates for stage {stage_name} region {region} "
                        f"(run with --candidates N --keep-candidates)") from None
    if not 0 <= candidate < int(meta["candidates"]):
        raise PickError(f"{rel.as_posix()}: stage {stage_name} region {region} has {meta['candidates']} "
                        f"candidate(s), no candidate {candidate}")
    config = _run_config(store, side, validate_config)

    # 1. the stage's input, rebuilt exactly: the input file, then the earlier stages' snapshots
    source = _input_root(store) / rel
    data = source.read_bytes() if source.is_file() else b""
    if sha256_bytes(data) != side["input"]["sha256"]:
        raise PickError(f"{show_path(source)}: the input is missing or changed since the run; pick needs it")
    loaded = load_image(source, max_pixels=config.input.max_pixels, data=data)
    snaps = SnapshotStore(store.meta)
    current = loaded.rgb
    for r in records[:k]:
        restored = snaps.load(rel, r.index, r.stage, r.key, current)
        if restored is None:
            raise PickError(f"{rel.as_posix()}: the snapshot of stage {r.stage} is missing or stale; re-run fix first")
        current = restored.image
    restored_k = snaps.load(rel, rec.index, rec.stage, rec.key, current)
    if restored_k is None:
        raise PickError(f"{rel.as_posix()}: the snapshot of stage {rec.stage} is missing or stale; re-run fix first")

    # 2. the stage re-composited: every region with its chosen candidate, the picked one with K
    from ..types import CropWindow

    after = current.copy()
    for i, r in enumerate(rec.regions):
        which = candidate if i == region else (r.chosen_candidate if r.chosen_candidate is not None else 0)
        if i != region and not r.repainted:
            continue
        rmeta_path = folder / f"r{i}.json"
        if i != region and not rmeta_path.exists():
            raise PickError(f"{rel.as_posix()}: stage {stage_name} region {i} has no kept candidates to re-composite")
        rmeta = meta if i == region else json.loads(rmeta_path.read_text("utf-8"))
        box = tuple(int(v) for v in rmeta["box"])
        soft = np.zeros(after.shape[:2], np.uint8)
        soft[box[1]:box[3], box[0]:box[2]] = _read_png(folder / f"r{i}-mask.png", color=False)
        cand = _read_png(folder / f"r{i}-c{which}.png", color=True)
        paste_crop_into(after, cand, soft, CropWindow(box=box, size=tuple(rmeta["size"])))
    reg = rec.regions[region]
    was = reg.chosen_candidate if reg.repainted else None
    reg.repainted, reg.reason, reg.chosen_candidate, reg.picked_by = True, f"picked by user: candidate {candidate}", \
        candidate, "user"
    if reg.candidate_scores is None:
        reg.candidate_scores = []
    rec.__post_init__()  # recount repainted regions

    # 3. later stages re-applied from their patches; every snapshot from the picked stage on rewritten
    stage_images = [(rec, after, restored_k.union, restored_k.record.snapshot)]
    current = after
    for r in records[k + 1:]:
        rec_path, blob_path = snaps.paths(rel, r.index, r.stage)
        try:
            snap = json.loads(rec_path.read_text("utf-8"))["snapshot"]
            blob = blob_path.read_bytes() if snap.get("patches") else b""
        except (OSError, ValueError, KeyError, TypeError):
            raise PickError(f"{rel.as_posix()}: the snapshot of stage {r.stage} is missing; re-run fix first") from None
        current, union = apply_patches(current, blob, snap["patches"])
        stage_images.append((r, current, union, snap))

    # 4. the final (fsynced), then the snapshots, then the sidecar
    f = FinalImage(rel, store.root / side["output"]["path"], data, side["input"]["sha256"], loaded, current,
                   tuple(records), side["key"], generation_info(loaded.text))
    repainted = sum(r.repainted for r in records)
    payload, copied = final_bytes(config, side["config_hash"], f, repainted)
    atomic_write_bytes(f.final, payload)
    for r, img, union, snap in stage_images:
        r.image_sha256 = pixels_sha256(img)
        boxes = [tuple(int(v) for v in p["box"]) for p in (snap or {}).get("patches", [])]
        snaps.write(rel, r, img, union, boxes)
    side["stages"] = [{k2: v for k2, v in r.to_json().items() if k2 != "snapshot"} for r in records]
    side["status"] = "fixed" if repainted else side.get("status")
    side["output"].update(sha256=sha256_bytes(payload), copied_unchanged=copied)
    atomic_write_json(side_path, side)
    _record_pick(store.meta, rel, rec.key, region, candidate)
    _forget_tiles(store, rel)
    store.journal("picked", rel=rel.as_posix(), stage=rec.stage, region=region, candidate=candidate,
                  previous=was, output_sha256=side["output"]["sha256"])
    return {"image": rel.as_posix(), "stage": rec.stage, "region": region, "candidate": candidate,
            "previous": was, "output": side["output"]["path"], "sidecar": side_path.relative_to(store.root).as_posix()}


def _run_config(store: Any, side: dict[str, Any], validate: Any) -> Any:
    digest = side.get("config_hash", "")
    for path in sorted(store.meta.glob("config-*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        cfg = data.get("config", data) if isinstance(data, dict) else None
        if isinstance(data, dict) and (data.get("config_hash") == digest or path.stem == f"config-{digest[:16]}"):
            return validate(cfg, origin=show_path(path))
    raise PickError(f"{show_path(store.meta)}: the run's config ({digest[:16]}) is missing")


def _input_root(store: Any) -> Path:
    try:
        return Path(json.loads((store.meta / "source.json").read_text("utf-8"))["input_root"])
    except (OSError, ValueError, KeyError, TypeError):
        raise PickError(f"{show_path(store.meta)}: source.json (the input folder) is missing") from None


def _record_pick(meta: Path, rel: Path, key: str, region: int, candidate: int) -> None:
    path = Path(meta) / PICKS
    try:
        data = json.loads(path.read_text("utf-8"))
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data.setdefault(rel.as_posix(), {}).setdefault(key, {})[str(region)] = candidate
    atomic_write_json(path, data)


def _forget_tiles(store: Any, rel: Path) -> None:
    """Drop the report's tiles of ``rel`` (keyed by the unchanged sidecar key): the next
    report rebuilds them from the rewritten snapshots."""
    from .report import _folder, _tile_key

    (_folder(store) / "tiles" / f"{_tile_key(rel.as_posix())}.json").unlink(missing_ok=True)
