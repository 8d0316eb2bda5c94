"""Shrink a real generator file to a few pixels while keeping every metadata byte.

Used to build this folder from the source projects' fixtures (see README.md):

    python tests/data/generators/shrink.py SRC DST

PNG: every chunk except the image data (IHDR/PLTE/tRNS/IDAT, APNG frames, and chunks
describing the old pixel format) is copied byte for byte, in its place before or after
the image data; the image becomes 8x8 RGB. JPEG: the SOI and every APPn/COM segment are
copied byte for byte, then an 8x8 image's tables and scan. WebP: the EXIF and XMP
chunks' payloads are copied byte for byte into an 8x8 WebP (animations become stills).
"""

from __future__ import annotations

import io
import struct
import sys
import zlib

from PIL import Image

_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT", b"sBIT", b"bKGD", b"hIST"}


def _tiny(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (128, 96, 64)).save(buf, fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def shrink_png(data: bytes) -> bytes:
    pos, before, after, seen_idat = 8, [], [], False
    while pos + 8 <= len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        raw = data[pos : pos + 12 + n]
        pos += 12 + n
        if kind == b"IDAT":
            seen_idat = True
        if kind not in _PIXEL_CHUNKS:
            (after if seen_idat else before).append(raw)
        if kind == b"IEND":
            break
    tiny = _tiny("PNG")
    ihdr = tiny[8 : 8 + 25]
    idat_start = tiny.index(b"IDAT") - 4
    idat = tiny[idat_start : tiny.index(b"IEND") - 4]
    return data[:8] + ihdr + b"".join(before) + idat + b"".join(after) + _chunk(b"IEND", b"")


def shrink_jpeg(data: bytes) -> bytes:
    pos, kept = 2, []
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA or marker == 0xD9:
            break
        (n,) = struct.unpack_from(">H", data, pos + 2)
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            kept.append(data[pos : pos + 2 + n])
        pos += 2 + n
    tiny = _tiny("JPEG", quality=80)
    tpos = 2
    while tiny[tpos + 1] in range(0xE0, 0xF0):  # skip the tiny image's own APPn
        tpos += 2 + struct.unpack_from(">H", tiny, tpos + 2)[0]
    return data[:2] + b"".join(kept) + tiny[tpos:]


def shrink_webp(data: bytes) -> bytes:
    pos, exif, xmp = 12, None, None
    while pos + 8 <= len(data):
        kind, n = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if kind == b"EXIF":
            exif = data[pos + 8 : pos + 8 + n]
        elif kind == b"XMP ":
            xmp = data[pos + 8 : pos + 8 + n]
        pos += 8 + n + (n & 1)
    kw = {"lossless": True}
    if exif is not None:
        kw["exif"] = exif
    if xmp is not None:
        kw["xmp"] = xmp
    return _tiny("WEBP", **kw)


def shrink(data: bytes) -> bytes:
    if data.startswith(b"\x89PNG"):
        return shrink_png(data)
    if data[:2] == b"\xff\xd8":
        return shrink_jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return shrink_webp(data)
    raise SystemExit("not a PNG, JPEG or WebP file")


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as fh:
        out = shrink(fh.read())
    with open(dst, "wb") as fh:
        fh.write(out)
