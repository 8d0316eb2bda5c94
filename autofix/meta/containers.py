"""Getting the metadata texts out of PNG, JPEG and WebP files, without decoding pixels.

Everything here treats the file as untrusted bytes: every length is bounds-checked,
compressed text is inflated with a cap, and texts over :data:`MAX_TEXT` are skipped.
The result is a :class:`Fields`: named texts (PNG chunk keywords as they are; EXIF
``UserComment`` and ComfyUI's ``prompt:``/``workflow:`` EXIF fields mapped onto the
same names the PNG chunks use) plus where each came from, for the ``reader`` label.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import MetadataFileError
from .model import MAX_TEXT

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
# chunk names that carry generation data: when none is present, stealth info is looked for
_GENERATION_KEYS = ("parameters", "prompt", "workflow", "Comment", "invokeai_metadata", "sd-metadata", "Dream",
                    "generation_data", "use_stable_diffusion_model")
_USER_COMMENT = 0x9286
_EXIF_IFD = 0x8769
# IFD0 string tags some writers use for generation data (ComfyUI WebP: Make/Model with
# "workflow:"/"prompt:" prefixes; Save Image Extended: ImageDescription/Make).
_IFD0_TEXT = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software",
              0x013B: "Artist", 0x010D: "DocumentName", 0x8298: "Copyright"}
_PREFIXED = re.compile(r"^\s*(prompt|workflow)\s*:\s*(?=[{\[])", re.IGNORECASE)


@dataclass
class Fields:
    """Named metadata texts of one file and where each came from (``"png:parameters"``,
    ``"exif:UserComment"``, ``"jpeg:COM"``...)."""

    values: dict[str, str] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    container: str = ""

    def put(self, key: str, value: str, origin: str) -> None:
        if key not in self.values and isinstance(value, str) and len(value) <= MAX_TEXT:
            self.values[key] = value
            self.origin[key] = origin

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def where(self, key: str) -> str:
        return self.origin.get(key, key)


# --------------------------------------------------------------------------- text decoding


def repair_latin1(text: str) -> str:
    """PNG ``tEXt`` is Latin-1 by the spec, but many writers (TensorArt, Stability Matrix,
    ComfyUI EXIF writers) put UTF-8 bytes there. Undo that when the bytes are valid UTF-8."""
    if not any("\x80" <= ch <= "\xff" for ch in text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def decode_user_comment(raw: bytes | str) -> str:
    """EXIF UserComment: an 8-byte charset header (``UNICODE\\0``, ``ASCII\\0\\0\\0``,
    ``JIS\\0...``, or zeros) then the text. ``UNICODE`` is UTF-16 in either byte order
    (A1111/piexif write big-endian, SwarmUI little-endian); the order is detected."""
    if isinstance(raw, str):
        return repair_latin1(raw).strip("\x00")
    head, body = raw[:8], raw[8:]
    if head == b"UNICODE\x00":
        return _utf16(body).rstrip("\x00")
    if head.startswith(b"ASCII") or head == b"\x00" * 8:
        return _utf8(body).rstrip("\x00")
    if head.startswith(b"JIS"):
        try:
            return body.decode("shift_jis").rstrip("\x00")
        except UnicodeDecodeError:
            return _utf8(body).rstrip("\x00")
    return _utf8(raw).rstrip("\x00")  # no header: some writers store plain UTF-8


def _utf16(body: bytes) -> str:
    if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return body.decode("utf-16", errors="replace")
    sample = body[:4096]
    even = sum(1 for b in sample[0::2] if b == 0)
    odd = sum(1 for b in sample[1::2] if b == 0)
    return body[: len(body) - len(body) % 2].decode("utf-16-be" if even >= odd else "utf-16-le", errors="replace")


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --------------------------------------------------------------------------- containers


def read_fields(data: bytes, stealth: bool = True) -> Fields:
    """The metadata texts of a PNG, JPEG or WebP file given as bytes. ``stealth=False``
    skips the stealth-pnginfo read from a PNG's alpha channel (the one read that decodes
    pixels)."""
    if data.startswith(_PNG_SIG):
        fields = _png_fields(data)
        if stealth and not any(k in fields.values for k in _GENERATION_KEYS):
            add_stealth(fields, _png_alpha(data))
        return fields
    if data[:2] == b"\xff\xd8":
        return _jpeg_fields(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_fields(data)
    return _pillow_fields(data)


def _pillow_fields(data: bytes) -> Fields:
    """Other formats Pillow opens (AVIF, HEIF with a plugin, TIFF, GIF): their EXIF, XMP and
    comment, read from the header without decoding pixels."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fields = Fields(container=str(im.format or "").lower())
            exif = im.info.get("exif")
            if not isinstance(exif, bytes):
                try:
                    exif = im.getexif().tobytes() if len(im.getexif()) else None
                except Exception:  # noqa: BLE001 - a plugin's EXIF reader may raise anything
                    exif = None
            add_exif(fields, exif)
            xmp = im.info.get("xmp")
            if isinstance(xmp, bytes):
                fields.put("XML:com.adobe.xmp", _utf8(xmp), f"{fields.container}:XMP")
            comment = im.info.get("comment")
            if isinstance(comment, bytes):
                fields.put("jpeg_comment", _utf8(comment), f"{fields.container}:comment")
            return fields
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MetadataFileError("not an image file autofix can read metadata from") from exc


def png_chunk_spans(data: bytes) -> list[tuple[bytes, int, int]]:
    """``[(type, start, end), ...]`` of every whole chunk (length, type, body, CRC) of a PNG,
    in file order, up to ``IEND``; ``[]`` if ``data`` is not a PNG. Every length is
    bounds-checked: a chunk that runs past the end (a truncated file) ends the list, and
    what came before it is kept. The one PNG chunk walker: the metadata readers, the
    text write-back and the image loader's big-text path all use it."""
    if not data.startswith(_PNG_SIG):
        return []
    out, pos = [], len(_PNG_SIG)
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        kind = data[pos + 4 : pos + 8]
        out.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            break
    return out


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``[(type, body), ...]`` of every whole chunk of a PNG (:func:`png_chunk_spans`)."""
    if not data.startswith(_PNG_SIG):
        raise MetadataFileError("not a PNG file")
    return [(kind, data[start + 8 : end - 4]) for kind, start, end in png_chunk_spans(data)]


@dataclass(frozen=True)
class TextChunk:
    """A ``tEXt``/``zTXt``/``iTXt`` chunk body, split: ``payload`` is still compressed
    when ``compressed``; ``encoding`` is how the inflated payload decodes."""

    keyword: str
    payload: bytes
    compressed: bool
    encoding: str


def split_text_chunk(kind: bytes, body: bytes) -> TextChunk | None:
    """The parts of a text chunk body, or ``None`` if it is not a well-formed one (no
    keyword, keyword over 79 bytes, unknown compression method)."""
    key, sep, rest = body.partition(b"\x00")
    if not sep or not key or len(key) > 79:
        return None
    keyword = key.decode("latin-1")
    if kind == b"tEXt":
        return TextChunk(keyword, rest, False, "latin-1")
    if kind == b"zTXt":
        return TextChunk(keyword, rest[1:], True, "latin-1") if rest[:1] == b"\x00" else None
    if kind == b"iTXt":
        flag, method, rest = rest[:1], rest[1:2], rest[2:]
        if flag == b"\x01" and method != b"\x00":
            return None
        _lang, _, rest = rest.partition(b"\x00")
        _tkey, _, text = rest.partition(b"\x00")
        return TextChunk(keyword, text, flag == b"\x01", "utf-8")
    return None


def png_text_chunk(kind: bytes, body: bytes) -> tuple[str, str] | None:
    """``(keyword, text)`` of a ``tEXt``/``zTXt``/``iTXt`` chunk body, or ``None``
    (malformed, corrupt, or inflating past :data:`MAX_TEXT`)."""
    parts = split_text_chunk(kind, body)
    if parts is None:
        return None
    try:
        raw = _inflate(parts.payload) if parts.compressed else parts.payload
    except (zlib.error, ValueError):
        return None
    return parts.keyword, raw.decode(parts.encoding, errors="replace")


def _inflate(data: bytes) -> bytes:
    z = zlib.decompressobj()
    out = z.decompress(data, MAX_TEXT + 1)
    if len(out) > MAX_TEXT:
        raise ValueError("compressed text over the size cap")
    return out


def _png_fields(data: bytes) -> Fields:
    fields = Fields(container="png")
    for kind, body in png_chunks(data):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            parsed = png_text_chunk(kind, body)
            if parsed:
                key, text = parsed
                fields.put(key, repair_latin1(text) if kind != b"iTXt" else text, f"png:{key}")
        elif kind == b"eXIf":
            add_exif(fields, body)
    return fields


def _jpeg_fields(data: bytes) -> Fields:
    fields = Fields(container="jpeg")
    pos, comments, seen_exif = 2, [], False
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end: no more metadata segments
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and body.startswith(_EXIF_HEADER) and not seen_exif:
            add_exif(fields, body)
            seen_exif = True
        elif marker == 0xE1 and body.startswith(_XMP_HEADER):
            fields.put("XML:com.adobe.xmp", _utf8(body[len(_XMP_HEADER):]), "jpeg:XMP")
        elif marker == 0xFE:
            comments.append(body)
        pos += 2 + length
    if comments:
        text = _utf8(b"".join(comments)).rstrip("\x00")
        if text.lstrip().startswith("{"):  # JSON in COM (savers whose EXIF would pass 64 KB)
            _add_user_comment(fields, text, "jpeg:COM")
        else:
            fields.put("jpeg_comment", text, "jpeg:COM")
    return fields


def _webp_fields(data: bytes) -> Fields:
    fields = Fields(container="webp")
    pos, end = 12, min(len(data), 8 + struct.unpack_from("<I", data, 4)[0])
    while pos + 8 <= end:
        kind, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if kind == b"EXIF":
            add_exif(fields, data[pos + 8 : pos + 8 + size])
        elif kind == b"XMP ":
            fields.put("XML:com.adobe.xmp", _utf8(data[pos + 8 : pos + 8 + size]), "webp:XMP")
        pos += 8 + size + (size & 1)
    return fields


# --------------------------------------------------------------------------- EXIF


def add_exif(fields: Fields, exif: bytes | None) -> None:
    """Put the generation texts an EXIF block carries into ``fields``."""
    if not exif or len(exif) > MAX_TEXT * 2:
        return
    from PIL import Image

    parsed = Image.Exif()
    try:
        parsed.load(exif if exif.startswith(_EXIF_HEADER) else _EXIF_HEADER + exif)
        ifd0 = dict(parsed.items())
        try:
            sub = dict(parsed.get_ifd(_EXIF_IFD).items())
        except (KeyError, ValueError, TypeError, struct.error):
            sub = {}
    except (OSError, ValueError, TypeError, KeyError, IndexError, struct.error, SyntaxError):
        return
    comment = sub.get(_USER_COMMENT, ifd0.get(_USER_COMMENT))
    if isinstance(comment, (bytes, str)) and comment:
        _add_user_comment(fields, decode_user_comment(comment))
    for tag, name in _IFD0_TEXT.items():
        value = ifd0.get(tag)
        if not isinstance(value, str) or not value:
            continue
        text = repair_latin1(value).strip("\x00")
        m = _PREFIXED.match(text)
        if m:  # ComfyUI: "prompt:{...}" / "workflow:{...}"
            fields.put(m.group(1).lower(), text[m.end():], f"exif:{name}")
        else:
            fields.put(f"exif_{name}", text, f"exif:{name}")


def _add_user_comment(fields: Fields, text: str, origin: str = "exif:UserComment") -> None:
    text = text.strip()
    if not text:
        return
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict):
            # A JSON object of chunk-like entries: {"prompt": {...}, "workflow": {...}} (ComfyUI
            # Save Image Plus) or {"Comment": "...", "Software": "NovelAI", ...} (NovelAI WebP).
            if ("prompt" in doc and "workflow" in doc) or "Comment" in doc or "invokeai_metadata" in doc:
                for key, value in doc.items():
                    if isinstance(value, (dict, list)):
                        value = json.dumps(value)
                    if isinstance(value, str):
                        fields.put(str(key), value, origin)
                return
            if "extraMetadata" not in doc and any(isinstance(v, dict) and "class_type" in v for v in doc.values()):
                fields.put("prompt", text, origin)  # a bare ComfyUI API graph
                return
    fields.put("parameters", text, origin)


def fields_from_loaded(text: dict[str, str], exif: bytes | None = None, alpha: "Any" = None) -> Fields:
    """:class:`Fields` from what :func:`autofix.io.image.load_image` kept: its PNG text
    chunks (as Pillow decoded them), its EXIF block and (for stealth info) its alpha."""
    fields = Fields(container="loaded")
    for key, value in (text or {}).items():
        fields.put(str(key), repair_latin1(str(value)), f"png:{key}")
    add_exif(fields, exif)
    if alpha is not None and not any(k in fields.values for k in _GENERATION_KEYS):
        add_stealth(fields, alpha)
    return fields


def read_fields_from_path(path: str, max_bytes: int = 512 * 1024 * 1024) -> Fields:
    """:func:`read_fields` on a file (refusing files over ``max_bytes``)."""
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise MetadataFileError(f"file over {max_bytes // (1024 * 1024)} MB")
    if not data:
        raise MetadataFileError("empty file (0 bytes)")
    return read_fields(data)


__all__ = ["Fields", "MetadataFileError", "add_exif", "decode_user_comment", "fields_from_loaded", "keep_png_text",
           "png_chunk_spans", "png_chunks", "png_text_chunk", "png_text_chunks", "read_fields", "read_fields_from_path", "repair_latin1"]


# --------------------------------------------------------------------------- stealth


_STEALTH = {b"stealth_pnginfo": False, b"stealth_pngcomp": True}


def stealth_text(alpha: "Any") -> str | None:
    """A1111 "stealth" PNG info (the stealth-pnginfo extension, also NovelAI): text hidden in
    the alpha channel's lowest bits, read column by column: a 15-byte signature
    (``stealth_pnginfo`` plain, ``stealth_pngcomp`` gzip), a 32-bit big-endian bit count,
    then the bytes. ``alpha`` is the ``(H, W)`` uint8 alpha; ``None`` when there is none."""
    import numpy as np

    if alpha is None or getattr(alpha, "ndim", 0) != 2 or alpha.size < 8 * 19:
        return None
    bits = (np.asarray(alpha, dtype=np.uint8).T & 1).reshape(-1)
    compressed = _STEALTH.get(np.packbits(bits[: 15 * 8]).tobytes())
    if compressed is None:
        return None
    length = int.from_bytes(np.packbits(bits[15 * 8 : 19 * 8]).tobytes(), "big")
    start = 19 * 8
    if length <= 0 or length % 8 or start + length > bits.size or length // 8 > MAX_TEXT:
        return None
    payload = np.packbits(bits[start : start + length]).tobytes()
    if compressed:
        try:
            payload = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload, MAX_TEXT + 1)
        except zlib.error:
            return None
        if len(payload) > MAX_TEXT:
            return None
    return _utf8(payload).rstrip("\x00")


def add_stealth(fields: Fields, alpha: "Any") -> None:
    """Put stealth PNG info (if any) into ``fields`` as ``parameters`` (A1111) or ``Comment`` (NovelAI JSON)."""
    text = stealth_text(alpha)
    if not text:
        return
    key = "Comment" if text.lstrip().startswith("{") else "parameters"
    fields.put(key, text, "png:stealth-alpha")
    if key == "Comment" and "Software" not in fields.values:
        fields.put("Software", "NovelAI", "png:stealth-alpha")


def _png_alpha(data: bytes, max_pixels: int = 64_000_000) -> "Any":
    """The alpha channel of a PNG with one (decoded only for this), else ``None``."""
    if len(data) < 33 or data[12:16] != b"IHDR" or data[25] not in (4, 6):
        return None
    width, height = struct.unpack_from(">II", data, 16)
    if width * height > max_pixels:
        return None
    import io

    import numpy as np
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGBA").getchannel("A"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


# --------------------------------------------------------------------------- write-back


def png_text_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``[(type, body), ...]`` of a PNG's ``tEXt``/``zTXt``/``iTXt`` chunks, raw, in file order."""
    try:
        return [(kind, body) for kind, body in png_chunks(data) if kind in (b"tEXt", b"zTXt", b"iTXt")]
    except MetadataFileError:
        return []


def keep_png_text(text: dict[str, str], source_chunks: list[tuple[bytes, bytes]] | None) -> "Any":
    """A Pillow ``PngInfo`` that writes ``text`` (keyword -> value, in order): a keyword whose
    value is exactly what the source chunk of that keyword decodes to is written back as that
    chunk's own bytes (same type, compression, language tag: byte-identical); any other
    (changed or new) as Pillow writes text (``tEXt``, or ``iTXt`` when not Latin-1).

    For :func:`autofix.io.image.encode_image`: ``source_chunks`` are :func:`png_text_chunks`
    of the input file."""
    from PIL import PngImagePlugin

    raw: dict[str, tuple[bytes, bytes, str]] = {}
    for kind, body in source_chunks or []:
        parsed = png_text_chunk(kind, body)
        if parsed and parsed[0] not in raw:
            raw[parsed[0]] = (kind, body, parsed[1])
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        source = raw.get(str(key))
        if source is not None and source[2] == str(value):
            info.add(source[0], source[1])
        else:
            info.add_text(str(key), str(value))
    return info
