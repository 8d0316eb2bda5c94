"""Visual report of a run: an HTML page and JPEG contact sheets, per image and per stage
``before | masks overlaid | after``, with region scores and never-worse decisions.

Incremental: the run makes each image's tiles from the arrays it already holds
(:func:`stage_tiles`, tinted at thumbnail size) and saves them with the sidecar's key
(:func:`save_tiles`); :func:`write_report` then only reads sidecars and those small files.
Contact sheets are PNG, 25 rows each. An image whose tiles are missing or stale (another version, a deleted report folder) is
rebuilt once from its input and stage snapshots. Thumbnails are bounded on both sides, so
memory does not depend on any image's aspect. Everything from files and metadata that lands
in the HTML is escaped.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AutofixError
from ..io.atomic import atomic_write_bytes, atomic_write_json
from .overlay import tint
from .output_folder import OutputStore

THUMB_H = 192
#: Widest thumbnail (a panorama is shrunk to this width, its height then below THUMB_H).
THUMB_W = 4 * THUMB_H
SHEET_ROWS = 25
TILES_FORMAT = 1

Trio = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Row:
    """One image in the report."""

    rel: str
    key: str
    status: str
    label: str
    stages: list[dict[str, Any]]
    tiles: list[list[str]]  # per stage: [before, mask, after] thumbnail file names, or []


def thumb_size(h: int, w: int) -> tuple[int, int]:
    """``(width, height)`` of the thumbnail of an ``h × w`` image: height THUMB_H, both sides
    bounded (width at most THUMB_W, each side at least 1)."""
    scale = min(THUMB_H / h, THUMB_W / w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _thumb(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(arr, size, interpolation=cv2.INTER_AREA)


def stage_tiles(before: np.ndarray, union: np.ndarray, after: np.ndarray) -> Trio:
    """The stage's ``before | masks | after`` thumbnails (the mask tint drawn at thumbnail size)."""
    size = thumb_size(*before.shape[:2])
    small = _thumb(before, size)
    return small, tint(small, _thumb(union, size)), _thumb(after, size)


def _tile_key(rel: str) -> str:
    return hashlib.sha256(rel.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def _folder(store: OutputStore) -> Path:
    return store.meta / "report"


def _jpg(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise AutofixError("thumbnail encoding failed")
    return buf.tobytes()


def _pad_h(arr: np.ndarray) -> np.ndarray:
    return np.pad(arr, ((0, THUMB_H - arr.shape[0]), (0, 0), (0, 0))) if arr.shape[0] < THUMB_H else arr


def save_tiles(store: OutputStore, rel: Path, sidecar: dict[str, Any], tiles: list[Trio | None],
               before: np.ndarray | None = None) -> None:
    """Write one image's tiles (thumbnails, its contact-sheet strip, and an index keyed by the
    sidecar's key). ``before`` (the input) is the strip of an image with no stage tiles."""
    folder, key = _folder(store), _tile_key(rel.as_posix())
    names: list[list[str]] = []
    strip_parts = []
    for i, trio in enumerate(tiles):
        if trio is None:
            names.append([])
            continue
        trio_names = [f"{key}-{i:02d}-{kind}.jpg" for kind in ("before", "mask", "after")]
        for name, arr in zip(trio_names, trio):
            atomic_write_bytes(folder / "thumbs" / name, _jpg(arr), durable=False)
        names.append(trio_names)
        strip_parts.append(np.hstack([_pad_h(a) for a in trio]))
    if not strip_parts:
        if before is None:
            loaded = _read_input(store, rel)
            before = loaded if loaded is not None else np.zeros((THUMB_H, THUMB_H, 3), np.uint8)
        strip_parts = [_pad_h(_thumb(before, thumb_size(*before.shape[:2])))]
    atomic_write_bytes(folder / "strips" / f"{key}.jpg", _jpg(np.hstack(strip_parts)), durable=False)
    atomic_write_json(folder / "tiles" / f"{key}.json",
                      {"format": TILES_FORMAT, "key": sidecar.get("key"), "rel": rel.as_posix(), "tiles": names},
                      durable=False)


def _read_input(store: OutputStore, rel: Path) -> np.ndarray | None:
    source = store.meta / "source.json"
    try:
        root = Path(json.loads(source.read_text("utf-8"))["input_root"])
        from ..io.image import load_image

        return load_image(root / rel).rgb
    except (OSError, ValueError, KeyError, TypeError, AutofixError):  # a missing input only blanks its tile
        return None


def _rebuild_tiles(store: OutputStore, rel: Path, side: dict[str, Any]) -> None:
    """Tiles of an image finished without them (from its input and stage snapshots)."""
    from .snapshots import SnapshotStore

    current = _read_input(store, rel)
    snaps, tiles = SnapshotStore(store.meta), []
    for stage in side.get("stages", []):
        restored = None
        if current is not None:
            restored = snaps.load(rel, stage["index"], stage["stage"], stage.get("key", ""), current)
        if restored is None or not stage.get("regions"):
            tiles.append(None)
            continue
        tiles.append(stage_tiles(current, restored.union, restored.image))
        current = restored.image
    save_tiles(store, rel, side, tiles, before=_read_input(store, rel) if not any(tiles) else None)


def _tiles_index(store: OutputStore, rel: Path, side: dict[str, Any]) -> list[list[str]]:
    path = _folder(store) / "tiles" / f"{_tile_key(rel.as_posix())}.json"
    for attempt in range(2):
        try:
            index = json.loads(path.read_text("utf-8"))
            if index.get("format") == TILES_FORMAT and index.get("key") == side.get("key") \
                    and (_folder(store) / "strips" / f"{_tile_key(rel.as_posix())}.jpg").exists():
                return index["tiles"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if attempt == 0:
            _rebuild_tiles(store, rel, side)
    return []


def _status_label(side: dict[str, Any]) -> str:
    status = side.get("status", "?")
    names = {str((s.get("inpainter") or {}).get("backend", "")) for s in side.get("stages", []) if s.get("repainted")}
    if status == "fixed" and names == {"classical"}:
        return "fixed (classical fill: smoothed, not regenerated)"
    return status


def collect(out: str | Path) -> list[Row]:
    """One row per sidecar under ``out`` (tiles made now only where the run made none)."""
    store = OutputStore(out)
    rows = []
    sides = sorted(p for p in store.root.rglob("*.autofix.json") if store.meta not in p.parents)
    for path in sides:
        try:
            side = json.loads(path.read_text("utf-8"))
            rel = Path(side["input"]["path"])
            stages = list(side["stages"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        rows.append(Row(rel.as_posix(), str(side.get("key", "")), str(side.get("status", "?")), _status_label(side), stages,
                        _tiles_index(store, rel, side)))
    return rows


_CSS = """body{font:14px system-ui,sans-serif;margin:16px;background:#111;color:#ddd}
h2{font-size:15px;margin:18px 0 4px}img{max-height:%dpx;margin-right:2px}.st{margin:4px 0 10px}
img.cands{max-height:none}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #444;padding:2px 6px}
.fixed{color:#7c7}.planned{color:#dc6}.failed{color:#e66}""" % THUMB_H


def _region_rows(stage: dict[str, Any]) -> str:
    cells = []
    for r in stage["regions"]:
        cand = ", ".join(f"{s:.3f}" for s in r.get("candidate_scores", []))
        vals = [r["index"], r["label"], f"{r['score']:.3f}", "yes" if r["repainted"] else "no", r.get("reason", ""),
                r.get("original_score", ""), cand, r.get("prompt", "")]
        cells.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in vals) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("#", "label", "score", "repainted", "reason", "original",
                                               "candidates", "prompt"))
    # issue 14 (keep-and-pick): the kept candidates side by side, original first
    sheets = "".join(f'<div>region {int(r["index"])}: <img class=cands src="../{html.escape(r["candidates_sheet"])}" '
                     f'alt="candidates of region {int(r["index"])}"></div>'
                     for r in stage["regions"] if isinstance(r.get("candidates_sheet"), str))
    return f"<table><tr>{head}</tr>{''.join(cells)}</table>{sheets}" if cells else "<p>no regions</p>"


def render_html(rows: list[Row], title: str) -> str:
    """The report page. All text from files and metadata is HTML-escaped (attributes quoted)."""
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{_CSS}</style>",
             f"<h1>{html.escape(title)}</h1><p>{len(rows)} image(s). Columns per stage: before | masks | after.</p>"]
    for row in rows:
        parts.append(f"<h2>{html.escape(row.rel)} <span class=\"{html.escape(row.status)}\">"
                     f"{html.escape(row.label)}</span></h2>")
        for i, stage in enumerate(row.stages):
            tiles = row.tiles[i] if i < len(row.tiles) else []
            imgs = "".join(f'<img src="thumbs/{html.escape(t)}" alt="{html.escape(t)}">' for t in tiles if t)
            parts.append(f"<div class=st><b>{html.escape(str(stage['stage']))}</b> "
                         f"({html.escape(str(stage.get('detector', '')))})<br>{imgs}{_region_rows(stage)}</div>")
    return "\n".join(parts)


def write_report(out: str | Path) -> Path:
    """Write ``OUT/_autofix/report/index.html`` and ``contact-sheet-NN.png``; returns the HTML path.
    Cost per finished image: one sidecar read; a contact sheet is redrawn only when one of its
    rows changed."""
    import cv2

    store = OutputStore(out)
    rows = collect(out)
    folder = _folder(store)
    for n in range(0, len(rows), SHEET_ROWS):
        chunk = rows[n:n + SHEET_ROWS]
        path = folder / f"contact-sheet-{n // SHEET_ROWS + 1:02d}.png"
        stamp = folder / "strips" / f"sheet-{n // SHEET_ROWS + 1:02d}.json"
        signature = hashlib.sha256(json.dumps([(r.rel, r.key, r.tiles) for r in chunk]).encode()).hexdigest()
        if path.exists() and _read_text(stamp) == signature:
            continue
        strips = []
        for row in chunk:
            strip = cv2.imread(str(folder / "strips" / f"{_tile_key(row.rel)}.jpg"), cv2.IMREAD_COLOR)
            strips.append(strip[:, :, ::-1] if strip is not None else np.zeros((THUMB_H, THUMB_H, 3), np.uint8))
        width = max(s.shape[1] for s in strips)
        sheet = np.vstack([np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0))) for s in strips])
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(sheet[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if ok:
            atomic_write_bytes(path, buf.tobytes())
            atomic_write_bytes(stamp, signature.encode(), durable=False)
    page = folder / "index.html"
    # a file name that is not UTF-8 (surrogates after JSON) shows as U+FFFD instead of failing the page
    atomic_write_bytes(page, render_html(rows, f"autofix report: {Path(out).name}").encode("utf-8", "replace"))
    return page


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, ValueError):
        return ""
