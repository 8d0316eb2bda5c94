"""Reading and writing image files.

:func:`load_image` turns any file Pillow can decode into one ``(H, W, 3)`` ``uint8`` RGB
array (range 0–255) plus, kept aside, the original ``(H, W)`` ``uint8`` alpha. The
normalisations it does silently (EXIF orientation, palette, grey, 16-bit, CMYK, first
frame) are listed in :attr:`LoadedImage.normalisations` so they can be logged. Every
failure is one :class:`~autofix.errors.InputImageError` whose message is one line.

:func:`encode_image` encodes PNG, JPEG or WEBP (a run writes the bytes atomically),
re-attaching the alpha byte-identical (PNG, lossless WEBP) and keeping EXIF (orientation reset to 1), the ICC
profile and PNG text chunks. PNG output is deterministic: same input, same bytes.

Pillow's process-global switches (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``) are never changed here.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from autofix.errors import ConfigError, InputImageError
from autofix.types import check_rgb

#: Pillow's default decompression-bomb warning threshold (about 9459 x 9459 pixels).
DEFAULT_MAX_PIXELS = 89_478_485

NOT_AN_IMAGE = "not an image file (cannot identify format)"
TRUNCATED = "truncated or corrupt image data"

_ORIENTATION_TAG = 0x0112
_EXIF_HEADER = b"Exif\x00\x00"
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_LOSSY_FORMATS = ("JPEG", "MPO", "JPEG2000", "AVIF", "HEIF")
# Errors Pillow raises for damaged data, at open or at decode.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

# Same transforms as ImageOps.exif_transpose, on (H, W, ...) arrays, so the RGB and the
# alpha arrays get exactly the same one.
_ORIENT = {
    2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT
    3: lambda a: a[::-1, ::-1],  # ROTATE_180
    4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
    5: lambda a: a.swapaxes(0, 1),  # TRANSPOSE
    6: lambda a: np.rot90(a, -1),  # ROTATE_270 (90 degrees clockwise)
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # TRANSVERSE
    8: lambda a: np.rot90(a, 1),  # ROTATE_90 (90 degrees counter-clockwise)
}

# (format, extension) per requested output format.
_OUTPUTS = {"png": ("PNG", ".png"), "jpg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
_SAME_AS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "WEBP": "webp"}


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An input image, normalised to RGB with its alpha and metadata kept aside.

    Attributes:
        path: the file it was read from.
        rgb: ``(H, W, 3)`` ``uint8`` RGB, 0–255, EXIF orientation already applied.
        alpha: ``(H, W)`` ``uint8`` original alpha (transposed like ``rgb``), or ``None``.
        format: Pillow format of the source: ``"PNG"``, ``"JPEG"``, ``"WEBP"``, ``"GIF"``, ...
        mode: Pillow mode of the source frame: ``"RGB"``, ``"RGBA"``, ``"P"``, ``"LA"``,
            ``"L"``, ``"I;16"``, ``"CMYK"``, ...
        normalisations: what was done silently, in order, for the sidecar/log:
            ``"first_frame_of_N"``, ``"palette_expanded"``, ``"grayscale_expanded"``,
            ``"bilevel_expanded"``, ``"transparency_to_alpha"``, ``"16bit_scaled_to_8bit"``,
            ``"cmyk_to_srgb"`` (via the embedded ICC profile), ``"cmyk_icc_unusable"`` then
            ``"cmyk_to_rgb_naive"`` (profile broken), or just ``"cmyk_to_rgb_naive"`` (no
            profile), ``"mode_<MODE>_converted"``, ``"exif_transposed"``,
            ``"16bit_rgb_truncated_to_8bit"`` (a 16-bit RGB/RGBA PNG: Pillow keeps each
            sample's high byte), ``"png_text_dropped:KEYWORD"`` (a compressed text chunk
            over :data:`MAX_BIG_TEXT` or not inflatable; the pixels are still read).
        exif: EXIF bytes (``b"Exif\\0\\0"`` + TIFF data) to write back, Orientation = 1;
            ``None`` if the source had none.
        icc_profile: ICC profile bytes to keep on save; ``None`` if absent or after a
            CMYK → RGB conversion.
        text: PNG text chunks (A1111 ``"parameters"``, ComfyUI ``"prompt"``/``"workflow"``,
            ...), ``{}`` if none.
        lossless: the source encoding was lossless (PNG, GIF, BMP, TIFF, lossless WEBP);
            picks lossless WEBP output.
    """

    path: Path
    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    mode: str
    normalisations: tuple[str, ...]
    exif: bytes | None
    icc_profile: bytes | None
    text: dict[str, str]
    lossless: bool = False
    #: raw ``(type, body)`` of the PNG text chunks, so unchanged ones are written back
    #: byte-identical (zTXt/iTXt keep their compression and language tags); JPEG comment and
    #: XMP packet (kept on JPEG outputs).
    text_chunks: tuple[tuple[bytes, bytes], ...] = ()
    jpeg_comment: bytes | None = None
    xmp: bytes | None = None


# --------------------------------------------------------------------------- loading


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, data: bytes | None = None) -> LoadedImage:
    """Read an image file fully (eager decode) and normalise it to RGB + alpha.

    Images with more than ``max_pixels`` pixels are refused from the header, before any
    pixel data is decoded. Raises :class:`InputImageError` (``"PATH: problem"``) for a
    missing/unreadable/empty file, a non-image, truncated or corrupt data, a zero-size
    or too-large image. ``data``: the file's bytes if the caller already read them (e.g.
    to hash them), so the file is read once and the pixels match the hashed bytes.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, is {max_pixels}")
    path = Path(path)
    if data is None:
        data = _read_bytes(path)
    elif not data:
        raise InputImageError(path, "empty file (0 bytes)")
    pillow_data, big_text, notes = _set_aside_big_text(data)
    with _open(path, pillow_data, max_pixels) as im:
        loaded = _decode(path, im, data)
    if big_text or notes or _is_16bit_colour_png(data):
        extra = tuple(notes) + (("16bit_rgb_truncated_to_8bit",) if _is_16bit_colour_png(data) else ())
        loaded = replace(loaded, text={**loaded.text, **big_text}, normalisations=loaded.normalisations + extra)
    return loaded


def _read_bytes(path: Path) -> bytes:
    """The whole file, or InputImageError for missing, unreadable and empty files."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputImageError(path, "file not found") from None
    except IsADirectoryError:
        raise InputImageError(path, "is a directory, not an image file") from None
    except OSError as e:
        raise InputImageError(path, f"cannot read file ({e.strerror or e})") from None
    if not data:
        raise InputImageError(path, "empty file (0 bytes)")
    return data


def _open(path: Path, data: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) and check the size; pixel data is not decoded yet."""
    try:
        im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard fired while reading the header (it also applies when
        # max_pixels is above it; we do not lift it because it is process-global).
        raise InputImageError(path, _pillow_bomb_problem(str(e), max_pixels)) from None
    except UnidentifiedImageError:
        raise InputImageError(path, _sniff_problem(data)) from None
    except _DECODE_ERRORS:
        raise InputImageError(path, TRUNCATED) from None
    width, height = im.size
    if width <= 0 or height <= 0:
        im.close()
        raise InputImageError(path, f"zero-size image ({width}x{height})")
    if width * height > max_pixels:
        im.close()
        raise InputImageError(path, _too_large(f"{width}x{height} = {width * height}", max_pixels))
    return im


def _too_large(size: str, limit: int) -> str:
    return f"image too large: {size} pixels, limit is {limit} (possible decompression bomb)"


def _pillow_bomb_problem(message: str, max_pixels: int) -> str:
    """Problem text for Pillow's DecompressionBombError, in our wording when possible."""
    match = re.search(r"\((\d+) pixels\)", message)
    if match and int(match[1]) > max_pixels:
        return _too_large(match[1], max_pixels)
    return f"image too large for Pillow's decompression-bomb guard ({message})"


def _sniff_problem(data: bytes) -> str:
    """Why Pillow could not identify ``data``: judged from its first bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        if width == 0 or height == 0:
            return f"zero-size image ({width}x{height})"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"):
        return "unsupported image format (HEIF/HEIC)"
    magics = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
    if data.startswith(magics) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return TRUNCATED
    return NOT_AN_IMAGE


def _decode(path: Path, im: Image.Image, data: bytes) -> LoadedImage:
    """Decode the first frame eagerly and build the :class:`LoadedImage`."""
    notes: list[str] = []
    try:
        n_frames = getattr(im, "n_frames", 1)
        if n_frames > 1:
            im.seek(0)
            notes.append(f"first_frame_of_{n_frames}")
        im.load()
        text = {str(k): str(v) for k, v in getattr(im, "text", {}).items()}
    except _DECODE_ERRORS:
        raise InputImageError(path, TRUNCATED) from None
    orientation = _orientation(im)
    rgb, alpha, icc = pil_to_rgb(im, notes)
    if orientation in _ORIENT:
        rgb, alpha = _apply_orientation(rgb, orientation), _apply_orientation(alpha, orientation)
        notes.append("exif_transposed")
    return LoadedImage(
        path=path,
        rgb=rgb,
        alpha=alpha,
        format=str(im.format),
        mode=im.mode,
        normalisations=tuple(notes),
        exif=_exif_for_saving(im),
        icc_profile=icc,
        text=_clean_text(text, orientation in _ORIENT),
        lossless=_is_lossless(str(im.format), data),
        text_chunks=_raw_text_chunks(str(im.format), data),
        jpeg_comment=im.info.get("comment") if isinstance(im.info.get("comment"), bytes) else None,
        xmp=_xmp(im),
    )


def _raw_text_chunks(fmt: str, data: bytes) -> tuple[tuple[bytes, bytes], ...]:
    if fmt != "PNG":
        return ()
    from ..meta.containers import png_text_chunks

    return tuple(png_text_chunks(data))


def _xmp(im: Image.Image) -> bytes | None:
    """The XMP packet of a JPEG/WebP (Pillow's ``info["xmp"]``), as bytes; None if absent."""
    value = im.info.get("xmp")
    if isinstance(value, str):
        value = value.encode("utf-8")
    return value if isinstance(value, bytes) and value else None


def _apply_orientation(arr: np.ndarray | None, orientation: int) -> np.ndarray | None:
    """``arr`` (H, W[, C]) transposed for EXIF ``orientation`` (2..8), C-contiguous."""
    return None if arr is None else np.ascontiguousarray(_ORIENT[orientation](arr))


def _orientation(im: Image.Image) -> int:
    """EXIF (or XMP) orientation 1..8 as Pillow reads it; 1 when absent or invalid."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS + (TypeError, KeyError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# --------------------------------------------------------------------------- PNG chunks

#: Largest compressed PNG text (zTXt, compressed iTXt) kept when it is beyond what Pillow
#: inflates itself (``PngImagePlugin.MAX_TEXT_CHUNK``, 1 MB): ComfyUI workflows run to a
#: few MB. Anything larger is dropped with a note; the pixels are still read.
MAX_BIG_TEXT = 16 * 1024 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _inflate(compressed: bytes, limit: int) -> bytes | None:
    """``compressed`` inflated, or None if it is corrupt or inflates past ``limit`` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed, limit)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else out


def _set_aside_big_text(data: bytes) -> tuple[bytes, dict[str, str], list[str]]:
    """Compressed PNG text chunks too big for Pillow, taken out of the bytes Pillow reads.

    Pillow refuses a whole image ("Decompressed Data Too Large") for a zTXt/iTXt over its
    1 MB limit. Such chunks are cut from the bytes given to Pillow (the hashed ``data``
    is unchanged) and inflated here up to :data:`MAX_BIG_TEXT`: returns ``(bytes for
    Pillow, {keyword: text} read here, notes)``, a ``png_text_dropped:KEYWORD`` note for
    each chunk that is larger still or does not inflate."""
    from PIL import PngImagePlugin

    from ..meta.containers import png_chunk_spans, split_text_chunk

    limit = PngImagePlugin.MAX_TEXT_CHUNK
    cut, text, notes = [], {}, []
    for kind, start, end in png_chunk_spans(data):
        if kind not in (b"zTXt", b"iTXt") or end - start - 12 < 64:
            continue
        found = split_text_chunk(kind, data[start + 8 : end - 4])
        if found is None or not found.compressed or _inflate(found.payload, limit) is not None:
            continue  # Pillow reads it (or skips it) by itself
        cut.append((start, end))
        value = _inflate(found.payload, MAX_BIG_TEXT)
        if value is None:
            notes.append(f"png_text_dropped:{found.keyword}")
        else:
            text[found.keyword] = value.decode(found.encoding, "replace")
    if not cut:
        return data, {}, []
    kept, pos = [], 0
    for start, end in cut:
        kept.append(data[pos:start])
        pos = end
    kept.append(data[pos:])
    return b"".join(kept), text, notes


def _is_16bit_colour_png(data: bytes) -> bool:
    """A 16-bit-per-channel RGB or RGBA PNG (Pillow keeps only each sample's high byte)."""
    return data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 26 \
        and data[24] == 16 and data[25] in (2, 6)


# --------------------------------------------------------------------------- mode → RGB


def pil_to_rgb(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    """``(rgb (H,W,3) uint8, alpha (H,W) uint8 | None, icc bytes | None)`` from a loaded image."""
    icc = im.info.get("icc_profile") or None
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im, icc, notes), None, None
    if im.mode in _SIXTEEN_BIT:
        rgb, alpha = _sixteen_bit_to_rgb(im, notes)
        return rgb, alpha, icc
    has_alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
    if im.mode == "P":
        notes.append("palette_expanded")
    elif im.mode in ("L", "LA", "La"):
        notes.append("grayscale_expanded")
    elif im.mode == "1":
        notes.append("bilevel_expanded")
    elif im.mode not in ("RGB", "RGBA"):
        notes.append(f"mode_{im.mode}_converted")
    if "transparency" in im.info and im.mode not in _ALPHA_MODES:
        notes.append("transparency_to_alpha")
    if not has_alpha:
        return np.array(im.convert("RGB")), None, icc
    rgba = np.array(im if im.mode == "RGBA" else im.convert("RGBA"))
    return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3]), icc


def _sixteen_bit_to_rgb(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """16-bit grey (``I;16*``, or ``I`` read as 0–65535) → 8-bit RGB, ``round(v*255/65535)``.

    Values outside 0–65535 (only possible in mode ``I``) are clipped to that range first.
    A single-value ``transparency`` (PNG tRNS) becomes a 0/255 alpha.
    """
    values = np.asarray(im).astype(np.int64)
    grey = ((np.clip(values, 0, 65535) + 128) // 257).astype(np.uint8)  # v/257 never ends in .5
    notes.append("16bit_scaled_to_8bit")
    alpha = None
    transparent = im.info.get("transparency")
    if isinstance(transparent, int):
        alpha = np.where(values == transparent, 0, 255).astype(np.uint8)
        notes.append("transparency_to_alpha")
    return np.repeat(grey[:, :, None], 3, axis=2), alpha


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None, notes: list[str]) -> np.ndarray:
    """CMYK → sRGB through the embedded ICC profile; plain ``convert("RGB")`` otherwise."""
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(im, source, srgb, outputMode="RGB")
        except (ImportError, OSError, ValueError, TypeError):  # PyCMSError is an OSError
            notes.append("cmyk_icc_unusable")
        else:
            assert converted is not None  # profileToProfile returns an image unless inPlace
            notes.append("cmyk_to_srgb")
            return np.array(converted.convert("RGB"))
    notes.append("cmyk_to_rgb_naive")
    return np.array(im.convert("RGB"))


# --------------------------------------------------------------------------- metadata


def _exif_for_saving(im: Image.Image) -> bytes | None:
    """The source's EXIF as ``b"Exif\\0\\0"`` + TIFF bytes with Orientation set to 1."""
    raw = im.info.get("exif")
    if not raw and "Raw profile type exif" in im.info:  # ImageMagick-style PNG text chunk
        try:
            raw = bytes.fromhex("".join(str(im.info["Raw profile type exif"]).split("\n")[3:]))
        except ValueError:
            raw = None
    if not isinstance(raw, bytes) or not raw:
        return None
    if not raw.startswith(_EXIF_HEADER):
        raw = _EXIF_HEADER + raw
    return _reset_orientation(raw)


def _reset_orientation(exif: bytes) -> bytes | None:
    """``exif`` with IFD0 Orientation = 1, patched in place so all other bytes are kept.

    Falls back to Pillow's re-serialisation if the TIFF structure cannot be walked, and
    to ``None`` (drop EXIF rather than keep a wrong orientation) if that fails too.
    """
    tiff = exif[len(_EXIF_HEADER) :]
    try:
        endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(endian + "I", tiff, 4)
        (count,) = struct.unpack_from(endian + "H", tiff, ifd)
        for i in range(count):
            entry = ifd + 2 + 12 * i
            tag, kind, n = struct.unpack_from(endian + "HHI", tiff, entry)
            if tag == _ORIENTATION_TAG and kind == 3 and n == 1:  # SHORT, value inline
                out = bytearray(exif)
                struct.pack_into(endian + "H", out, len(_EXIF_HEADER) + entry + 8, 1)
                return bytes(out)
            if tag == _ORIENTATION_TAG:
                break  # unusual encoding: let Pillow rewrite it
        else:
            return exif  # no Orientation tag at all
    except (KeyError, struct.error):
        pass
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        parsed[_ORIENTATION_TAG] = 1
        return parsed.tobytes()
    except _DECODE_ERRORS + (TypeError, KeyError):
        return None


def _clean_text(text: dict[str, str], transposed: bool) -> dict[str, str]:
    """PNG text chunks to keep: EXIF text copies dropped (EXIF travels as ``exif``), and
    XMP orientation removed once pixels are transposed, so nothing rotates them twice."""
    kept = {k: v for k, v in text.items() if k != "Raw profile type exif"}
    if transposed and "XML:com.adobe.xmp" in kept:
        xmp = kept["XML:com.adobe.xmp"]
        xmp = re.sub(r'tiff:Orientation="[0-9]"', "", xmp)
        kept["XML:com.adobe.xmp"] = re.sub(r"<tiff:Orientation>[0-9]</tiff:Orientation>", "", xmp)
    return kept


def _is_lossless(fmt: str, data: bytes) -> bool:
    """True if the source encoding kept pixels exactly (WEBP: a VP8L bitstream)."""
    if fmt == "WEBP":
        return _webp_is_lossless(data)
    return fmt not in _LOSSY_FORMATS


def _webp_is_lossless(data: bytes, offset: int = 12) -> bool:
    """Walk RIFF chunks from ``offset``; True if the first bitstream is ``VP8L``."""
    while offset + 8 <= len(data):
        fourcc, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if fourcc in (b"VP8L", b"VP8 "):
            return fourcc == b"VP8L"
        if fourcc == b"ANMF":  # animation frame: 16-byte header, then its own chunks
            return _webp_is_lossless(data[: offset + 8 + size], offset + 8 + 16)
        offset += 8 + size + (size & 1)
    return False


# --------------------------------------------------------------------------- saving


def output_format(source_format: str, requested: str) -> tuple[str, str]:
    """``(Pillow format, extension with dot)`` for an output (a run's finals are named by it,
    :func:`autofix.run.writer.output_ext`).

    ``requested`` is ``"same"``, ``"png"``, ``"jpg"`` or ``"webp"``. ``"same"`` keeps a
    PNG/JPEG/WEBP source's format (an MPO, a multi-picture JPEG, stays JPEG) and picks PNG
    for anything else (GIF, BMP, TIFF, AVIF, ...).
    """
    key = requested.lower()
    if key == "jpeg":
        key = "jpg"
    if key == "same":
        key = _SAME_AS.get(source_format.upper(), "png")
    if key not in _OUTPUTS:
        raise ConfigError(f"output format must be one of same, png, jpg, webp; is {requested!r}")
    return _OUTPUTS[key]


def encode_image(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    fmt: str,
    like: LoadedImage | None = None,
    jpeg_quality: int = 95,
    text: dict[str, str] | None = None,
    png_compression: int = 6,
) -> bytes:
    """Encode ``rgb`` ``(H, W, 3)`` uint8 (+ ``alpha`` ``(H, W)`` uint8 or None) as a file.

    ``fmt``: ``"PNG"``, ``"JPEG"`` (``"JPG"``) or ``"WEBP"``, any case. ``like``: the
    loaded source whose EXIF and ICC profile are kept. ``text``: PNG text chunks; ``None``
    means ``like.text`` (if ``like`` is given), ``{}`` means none. JPEG drops ``alpha``
    (JPEG has none), uses ``jpeg_quality`` and 4:4:4 chroma. WEBP is lossless (exact RGB
    under transparent pixels too) when there is alpha or ``like`` was lossless, else lossy
    at ``jpeg_quality``. ``png_compression``: zlib level 0–9 (pixels are the same at every
    level). Same arguments give the same PNG bytes.
    """
    pil_format = _check_format(fmt)
    if not 1 <= int(jpeg_quality) <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100, is {jpeg_quality}")
    _check_arrays(rgb, alpha)
    keep_alpha = alpha is not None and pil_format != "JPEG"
    pixels = np.dstack([rgb, alpha]) if keep_alpha else rgb
    im = Image.fromarray(np.ascontiguousarray(pixels))
    options = _save_options(pil_format, keep_alpha, like, int(jpeg_quality), text, int(png_compression))
    buf = io.BytesIO()
    im.save(buf, pil_format, **options)
    return buf.getvalue()


def _check_format(fmt: str) -> str:
    name = fmt.upper().lstrip(".")
    name = "JPEG" if name == "JPG" else name
    if name not in ("PNG", "JPEG", "WEBP"):
        raise ValueError(f"image format must be PNG, JPEG or WEBP, is {fmt!r}")
    return name


def _check_arrays(rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    """Raise ValueError unless rgb is (H, W, 3) uint8 and alpha None or (H, W) uint8."""
    check_rgb(rgb, "rgb")
    if alpha is None:
        return
    if not isinstance(alpha, np.ndarray) or alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
        desc = f"{alpha.shape} {alpha.dtype}" if isinstance(alpha, np.ndarray) else type(alpha).__name__
        raise ValueError(f"alpha must be an {rgb.shape[:2]} uint8 array like rgb, is {desc}")


def _save_options(
    fmt: str, has_alpha: bool, like: LoadedImage | None, quality: int, text: dict[str, str] | None,
    png_compression: int = 6,
) -> dict[str, object]:
    """Pillow ``save()`` keyword arguments for ``fmt``."""
    options: dict[str, object] = {}
    if like is not None and like.exif:
        options["exif"] = like.exif
    if like is not None and like.icc_profile:
        options["icc_profile"] = like.icc_profile
    if fmt == "JPEG":
        options.update(quality=quality, subsampling=0)
        if like is not None and like.jpeg_comment:
            options["comment"] = like.jpeg_comment
        if like is not None and like.xmp:
            options["xmp"] = like.xmp
    elif fmt == "PNG":
        chunks = (like.text if like is not None else {}) if text is None else text
        if chunks:
            options["pnginfo"] = _png_info(chunks, like.text_chunks if like is not None else ())
        options["compress_level"] = png_compression  # explicit, so a Pillow default change can't alter bytes
    elif has_alpha or (like is not None and like.lossless):
        options.update(lossless=True, exact=True)
    else:
        options.update(quality=quality)
    return options


def _png_info(text: dict[str, str], source_chunks: tuple[tuple[bytes, bytes], ...] = ()) -> PngImagePlugin.PngInfo:
    """PNG text chunks in the given order: a chunk the source had with the same value is
    written back as its own bytes (other tools' metadata stays byte-identical); changed or new
    ones as tEXt, or iTXt for non-Latin-1 values."""
    if source_chunks:
        from ..meta.containers import keep_png_text

        return keep_png_text({str(k): str(v) for k, v in text.items()}, list(source_chunks))
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(str(key), str(value))
    return info
