"""Visual report of a run: an HTML page and PNG contact sheets, per image and per stage
``before | masks overlaid | after``, with region scores and never-worse decisions.

Written to ``OUT/_autofix/report/`` from the sidecars, the stage checkpoints and the
input files (found through ``OUT/_autofix/source.json``). Every file name, prompt and
reason that lands in the HTML is escaped.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AutofixError
from ..io.atomic import atomic_write_bytes
from .overlay import tint
from .store import OutputStore

THUMB_H = 192
SHEET_ROWS = 100


@dataclass(frozen=True)
class Row:
    """One image in the report."""

    rel: str
    status: str
    stages: list[dict[str, Any]]
    tiles: list[tuple[str, str, str]]  # per stage: (before, mask, after) thumbnail file names


def _thumb(rgb: np.ndarray) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    scale = THUMB_H / h
    return cv2.resize(rgb, (max(1, round(w * scale)), THUMB_H), interpolation=cv2.INTER_AREA)


def _read_rgb(path: Path) -> np.ndarray | None:
    try:
        from ..io.image import load_image

        return load_image(path).rgb
    except (OSError, ValueError, AutofixError):  # a missing or unreadable input only blanks its tile
        return None


def _save_jpg(path: Path, rgb: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if ok:
        atomic_write_bytes(path, buf.tobytes())


def _stage_tiles(store: OutputStore, rel: Path, side: dict[str, Any], before: np.ndarray | None,
                 thumbs: Path, key: str) -> tuple[list[tuple[str, str, str]], list[np.ndarray]]:
    import cv2

    tiles, arrays, current = [], [], before
    for stage in side["stages"]:
        if not stage["regions"]:  # nothing planned: no tiles, the image passes through
            tiles.append(("", "", ""))
            continue
        paths = store.stage_paths(rel, stage["index"], stage["stage"])
        after = _read_rgb(paths["image"]) if paths["image"].exists() else current
        mask = cv2.imread(str(paths["mask"]), cv2.IMREAD_GRAYSCALE) if paths["mask"].exists() else None
        base = current if current is not None else after
        if base is None or after is None:
            tiles.append(("", "", ""))
            continue
        overlay = tint(base, mask) if mask is not None and mask.shape == base.shape[:2] else base
        trio = [_thumb(base), _thumb(overlay), _thumb(after)]
        names = tuple(f"{key}-{stage['index']:02d}-{kind}.jpg" for kind in ("before", "mask", "after"))
        for name, img in zip(names, trio):
            _save_jpg(thumbs / name, img)
        tiles.append(names)  # type: ignore[arg-type]
        arrays.append(np.hstack(trio))
        current = after
    return tiles, arrays


def collect(out: str | Path) -> tuple[list[Row], list[np.ndarray]]:
    """Read every sidecar under ``out`` and write thumbnails; returns rows and sheet strips."""
    store = OutputStore(out)
    source = json.loads((store.meta / "source.json").read_text()) if (store.meta / "source.json").exists() else {}
    root = Path(source.get("input_root", "."))
    thumbs = store.meta / "report" / "thumbs"
    rows, strips = [], []
    sides = sorted(p for p in store.root.rglob("*.autofix.json") if store.meta not in p.parents)
    for i, path in enumerate(sides):
        try:
            side = json.loads(path.read_text("utf-8"))
            rel = Path(side["input"]["path"])
        except (OSError, ValueError, KeyError):
            continue
        before = _read_rgb(root / rel)
        tiles, arrays = _stage_tiles(store, rel, side, before, thumbs, f"{i:05d}")
        rows.append(Row(rel.as_posix(), side.get("status", "?"), side["stages"], tiles))
        if not arrays:
            arrays = [_thumb(before)] if before is not None else [np.zeros((THUMB_H, THUMB_H, 3), np.uint8)]
        strips.append(np.hstack(arrays))
    return rows, strips


_CSS = """body{font:14px system-ui,sans-serif;margin:16px;background:#111;color:#ddd}
h2{font-size:15px;margin:18px 0 4px}img{height:%dpx;margin-right:2px}.st{margin:4px 0 10px}
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
    return f"<table><tr>{head}</tr>{''.join(cells)}</table>" if cells else "<p>no regions</p>"


def render_html(rows: list[Row], title: str) -> str:
    """The report page. All text from files and metadata is HTML-escaped."""
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{_CSS}</style>",
             f"<h1>{html.escape(title)}</h1><p>{len(rows)} image(s). Columns per stage: before | masks | after.</p>"]
    for row in rows:
        parts.append(f"<h2>{html.escape(row.rel)} <span class={html.escape(row.status)}>"
                     f"{html.escape(row.status)}</span></h2>")
        for stage, tiles in zip(row.stages, row.tiles):
            imgs = "".join(f'<img src="thumbs/{html.escape(t)}" alt="{html.escape(t)}">' for t in tiles if t)
            parts.append(f"<div class=st><b>{html.escape(stage['stage'])}</b> "
                         f"({html.escape(str(stage.get('detector', '')))})<br>{imgs}{_region_rows(stage)}</div>")
    return "\n".join(parts)


def write_report(out: str | Path) -> Path:
    """Write ``OUT/_autofix/report/index.html`` and ``contact-sheet-NN.png``; returns the HTML path."""
    import cv2

    store = OutputStore(out)
    rows, strips = collect(out)
    folder = store.meta / "report"
    for n in range(0, len(strips), SHEET_ROWS):
        chunk = strips[n:n + SHEET_ROWS]
        width = max(s.shape[1] for s in chunk)
        sheet = np.vstack([np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0))) for s in chunk])
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(sheet[:, :, ::-1]))
        if ok:
            atomic_write_bytes(folder / f"contact-sheet-{n // SHEET_ROWS + 1:02d}.png", buf.tobytes())
    page = folder / "index.html"
    atomic_write_bytes(page, render_html(rows, f"autofix report: {Path(out).name}").encode("utf-8"))
    return page
