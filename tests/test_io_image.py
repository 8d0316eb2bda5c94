"""autofix.io.image: loading odd and broken files, normalisations, saving round trips.

Every input is built in ``tmp_path`` with Pillow/numpy; nothing large is ever decoded
(the decompression-bomb cases patch a tiny PNG's header).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

from autofix.errors import ConfigError, InputImageError
from autofix.io.atomic import TMP_MARK, atomic_write_bytes
from autofix.io.image import (
    NOT_AN_IMAGE,
    TRUNCATED,
    LoadedImage,
    encode_image,
    load_image,
    output_format,
)
from autofix.photos import photo_array


def save_image(path, rgb, alpha, fmt, **kwargs):
    """How a run writes a final image (autofix.run.writer): encode, then one atomic write."""
    atomic_write_bytes(path, encode_image(rgb, alpha, fmt, **kwargs))

# --------------------------------------------------------------------------- helpers


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _pattern(h: int = 48, w: int = 64) -> np.ndarray:
    """(h, w, 3) uint8 with every pixel distinct enough to find positions after rotation."""
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256]
    return np.stack(planes, -1).astype(np.uint8)


def _patch_ihdr(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (CRC fixed up); data unchanged."""
    chunk = bytearray(png[8:33])  # length, b"IHDR", 13 data bytes, CRC
    struct.pack_into(">II", chunk, 8, width, height)
    struct.pack_into(">I", chunk, 21, zlib.crc32(bytes(chunk[4:21])) & 0xFFFFFFFF)
    return png[:8] + bytes(chunk) + png[33:]


def _problem(path: Path, **kw) -> str:
    with pytest.raises(InputImageError) as info:
        load_image(path, **kw)
    err = info.value
    assert str(err) == f"{path}: {err.problem}"
    assert "\n" not in str(err)
    assert err.path == path
    return err.problem


def _exif(orientation: int, make: str = "AutofixCam") -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = make
    return exif


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def _flat_cmyk_profile(lab: tuple[int, int, int] = (128, 128, 128)) -> bytes:
    """A minimal ICC v2 CMYK profile whose A2B0 maps every CMYK value to one Lab colour.

    Real CMYK profiles are megabytes and none ships with the test environment; this one
    is enough to prove the ICC path is taken (naive conversion would not be uniform).
    """
    ident = bytes(range(256))
    matrix = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + matrix + ident * 4 + bytes(lab) * 16 + ident * 3
    white = _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    name = b"autofix test CMYK\x00"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(8 + 3 + 67)
    tags = [(b"desc", desc), (b"wtpt", b"XYZ " + bytes(4) + white), (b"A2B0", lut)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = struct.pack(">I", offset + len(body)) + bytes(4) + struct.pack(">I", 0x02100000)
    header += b"prtrCMYKLab " + bytes(12) + b"acsp" + bytes(28) + white
    return header + bytes(128 - len(header)) + struct.pack(">I", len(tags)) + table + body


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def rgba_random() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    alpha[:5] = 0  # fully transparent rows: their RGB must survive too (lossless paths)
    return rgb, alpha


# --------------------------------------------------------------------------- failures


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    path = _write(tmp_path / "notes.jpg", b"this is plain text, not a JPEG\n")
    assert _problem(path) == NOT_AN_IMAGE == "not an image file (cannot identify format)"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_files_fail_at_load(tmp_path, fmt, keep):
    data = _bytes(Image.fromarray(photo_array("astronaut")[:128, :128]), fmt)
    path = _write(tmp_path / f"cut.{fmt.lower()}", data[: int(len(data) * keep)])
    assert _problem(path) == TRUNCATED


def test_png_cut_inside_header_is_truncated_not_unknown(tmp_path):
    data = _bytes(Image.fromarray(_pattern()), "PNG")
    assert _problem(_write(tmp_path / "a.png", data[:40])) == TRUNCATED


def test_corrupt_png_crc_is_reported(tmp_path):
    data = bytearray(_bytes(Image.fromarray(_pattern()), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # flip a byte inside the compressed data
    assert _problem(_write(tmp_path / "bad.png", bytes(data))) == TRUNCATED


def test_empty_file(tmp_path):
    assert _problem(_write(tmp_path / "empty.png", b"")) == "empty file (0 bytes)"


def test_missing_file_and_directory(tmp_path):
    assert _problem(tmp_path / "nope.png") == "file not found"
    (tmp_path / "dir.png").mkdir()
    assert _problem(tmp_path / "dir.png") == "is a directory, not an image file"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = _write(tmp_path / "secret.png", _bytes(Image.fromarray(_pattern()), "PNG"))
    path.chmod(0)
    try:
        assert _problem(path).startswith("cannot read file (")
    finally:
        path.chmod(0o600)


def test_read_error_is_one_line(tmp_path, monkeypatch):
    path = _write(tmp_path / "locked.png", _bytes(Image.fromarray(_pattern()), "PNG"))

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    assert _problem(path) == "cannot read file (Permission denied)"


@pytest.mark.parametrize("size", [(0, 4), (4, 0)])
def test_zero_size_image(tmp_path, size):
    data = _patch_ihdr(_bytes(Image.new("RGB", (4, 4)), "PNG"), *size)
    assert _problem(_write(tmp_path / "zero.png", data)) == f"zero-size image ({size[0]}x{size[1]})"


def test_heic_is_unsupported(tmp_path):
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    assert _problem(_write(tmp_path / "phone.jpg", data)) == "unsupported image format (HEIF/HEIC)"


def test_max_pixels_checked_from_header_before_decoding(tmp_path):
    # The header claims 3000x3000 but the data is a 4x4 image: decoding would say
    # "truncated", so getting "too large" proves the check came first.
    data = _patch_ihdr(_bytes(Image.new("RGB", (4, 4)), "PNG"), 3000, 3000)
    path = _write(tmp_path / "bomb.png", data)
    assert _problem(path, max_pixels=1_000_000) == (
        "image too large: 3000x3000 = 9000000 pixels, limit is 1000000 (possible decompression bomb)"
    )
    assert _problem(path, max_pixels=10_000_000) == TRUNCATED  # allowed: now it is decoded


def test_max_pixels_boundary(tmp_path):
    path = _write(tmp_path / "a.png", _bytes(Image.fromarray(_pattern(10, 20)), "PNG"))
    assert load_image(path, max_pixels=200).rgb.shape == (10, 20, 3)
    assert _problem(path, max_pixels=199).startswith("image too large: 20x10 = 200 pixels")
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(path, max_pixels=0)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_default_limit_refuses_header_bomb(tmp_path):
    data = _patch_ihdr(_bytes(Image.new("1", (8, 8)), "PNG"), 10_000, 10_000)  # 1e8 px
    assert _problem(_write(tmp_path / "bomb.png", data)).startswith("image too large: 10000x10000")


@pytest.mark.parametrize("max_pixels", [89_478_485, 2**31])
def test_pillow_hard_limit_is_reported_not_bypassed(tmp_path, max_pixels):
    data = _patch_ihdr(_bytes(Image.new("1", (8, 8)), "PNG"), 20_000, 20_000)  # 4e8 px
    problem = _problem(_write(tmp_path / "bomb.png", data), max_pixels=max_pixels)
    assert problem.startswith("image too large")
    assert "400000000" in problem


def test_pillow_global_flags_untouched(tmp_path):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    data = _bytes(Image.fromarray(_pattern()), "JPEG")
    header_bomb = _patch_ihdr(_bytes(Image.new("L", (2, 2)), "PNG"), 99, 99)
    for i, blob in enumerate([data[: len(data) // 2], b"junk", header_bomb]):
        with pytest.raises(InputImageError):
            load_image(_write(tmp_path / f"{i}.img", blob), max_pixels=50)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


# --------------------------------------------------------------------------- plain loads


def test_rgb_png_real_photo(tmp_path):
    photo = photo_array("astronaut")
    path = _write(tmp_path / "astronaut.png", _bytes(Image.fromarray(photo), "PNG"))
    img = load_image(path)
    assert isinstance(img, LoadedImage)
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == photo.shape
    np.testing.assert_array_equal(img.rgb, photo)
    assert img.alpha is None and img.format == "PNG" and img.mode == "RGB"
    assert img.normalisations == () and img.exif is None and img.icc_profile is None
    assert img.text == {} and img.lossless and img.path == path
    assert img.rgb.flags.c_contiguous and img.rgb.flags.writeable


def test_jpeg_is_lossy_and_keeps_icc(tmp_path):
    icc = _srgb_icc()
    path = _write(tmp_path / "a.jpg", _bytes(Image.fromarray(_pattern()), "JPEG", icc_profile=icc))
    img = load_image(path)
    assert img.format == "JPEG" and not img.lossless and img.icc_profile == icc


# --------------------------------------------------------------------------- alpha


def test_rgba_alpha_kept(tmp_path, rgba_random):
    rgb, alpha = rgba_random
    path = _write(tmp_path / "a.png", _bytes(Image.fromarray(np.dstack([rgb, alpha])), "PNG"))
    img = load_image(path)
    assert img.mode == "RGBA" and img.normalisations == ()
    np.testing.assert_array_equal(img.rgb, rgb)
    np.testing.assert_array_equal(img.alpha, alpha)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_alpha_round_trip_byte_identical(tmp_path, rgba_random, fmt):
    rgb, alpha = rgba_random
    src_png = _bytes(Image.fromarray(np.dstack([rgb, alpha])), "PNG")
    src = load_image(_write(tmp_path / "src.png", src_png))
    out = tmp_path / f"out.{fmt.lower()}"
    save_image(out, src.rgb, src.alpha, fmt, like=src)
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        back = np.asarray(im)
    assert back[..., 3].tobytes() == alpha.tobytes()
    np.testing.assert_array_equal(back[..., :3], rgb)  # lossless, incl. under alpha == 0
    again = load_image(out)
    np.testing.assert_array_equal(again.alpha, alpha)


def test_jpeg_output_drops_alpha(tmp_path, rgba_random):
    rgb, alpha = rgba_random
    out = tmp_path / "out.jpg"
    save_image(out, rgb, alpha, "jpg")
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.format == "JPEG" and im.size == (53, 37)


def test_la_png(tmp_path):
    grey = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    alpha = (255 - grey * 2).astype(np.uint8)
    path = _write(tmp_path / "la.png", _bytes(Image.fromarray(np.dstack([grey, alpha])), "PNG"))
    img = load_image(path)
    assert img.mode == "LA" and img.normalisations == ("grayscale_expanded",)
    np.testing.assert_array_equal(img.rgb, np.repeat(grey[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(img.alpha, alpha)


def test_l_png_repeats_channel(tmp_path):
    grey = photo_array("camera")[:, :, 0]
    img = load_image(_write(tmp_path / "l.png", _bytes(Image.fromarray(grey), "PNG")))
    assert img.mode == "L" and img.alpha is None and img.normalisations == ("grayscale_expanded",)
    np.testing.assert_array_equal(img.rgb, np.repeat(grey[:, :, None], 3, axis=2))


def test_palette_with_transparency(tmp_path):
    p = Image.new("P", (3, 2))
    p.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    p.putdata([0, 1, 2, 2, 1, 0])
    path = _write(tmp_path / "p.png", _bytes(p, "PNG", transparency=bytes([255, 0, 128])))
    img = load_image(path)
    assert img.mode == "P"
    assert img.normalisations == ("palette_expanded", "transparency_to_alpha")
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    index = np.array([[0, 1, 2], [2, 1, 0]])
    np.testing.assert_array_equal(img.rgb, colours[index])
    np.testing.assert_array_equal(img.alpha, np.array([255, 0, 128], dtype=np.uint8)[index])
    out = tmp_path / "p_out.png"
    save_image(out, img.rgb, img.alpha, "PNG", like=img)
    with Image.open(out) as im:
        assert np.asarray(im)[..., 3].tobytes() == img.alpha.tobytes()


def test_palette_without_transparency_has_no_alpha(tmp_path):
    p = Image.fromarray(_pattern()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    img = load_image(_write(tmp_path / "p.png", _bytes(p, "PNG")))
    assert img.alpha is None and img.normalisations == ("palette_expanded",)
    np.testing.assert_array_equal(img.rgb, np.asarray(p.convert("RGB")))


# --------------------------------------------------------------------------- 16-bit, CMYK


def test_sixteen_bit_png_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1, 128, 129, 256], [32767, 32768, 65279, 65534, 65535]], dtype=np.uint16)
    path = _write(tmp_path / "16.png", _bytes(Image.fromarray(values), "PNG"))
    img = load_image(path)
    assert img.mode.startswith("I") and img.normalisations == ("16bit_scaled_to_8bit",)
    expected = np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(expected, [[0, 0, 0, 1, 1], [127, 128, 254, 255, 255]])
    for c in range(3):
        np.testing.assert_array_equal(img.rgb[..., c], expected)


def test_mode_i_tiff_scaled(tmp_path):
    values = np.array([[0, 257, 65535, 70000]], dtype=np.int32)  # 70000: beyond 16 bits
    img = load_image(_write(tmp_path / "i.tif", _bytes(Image.fromarray(values), "TIFF")))
    assert img.mode == "I" and "16bit_scaled_to_8bit" in img.normalisations
    np.testing.assert_array_equal(img.rgb[0, :, 0], [0, 1, 255, 255])


def _cmyk_jpeg(**kw) -> bytes:
    cmyk = np.zeros((8, 8, 4), dtype=np.uint8)
    cmyk[:, 4:] = (200, 30, 0, 60)
    return _bytes(Image.fromarray(cmyk, mode="CMYK"), "JPEG", quality=100, **kw)


def test_cmyk_without_profile_converts_plainly(tmp_path):
    data = _cmyk_jpeg()
    img = load_image(_write(tmp_path / "c.jpg", data))
    assert img.mode == "CMYK" and img.normalisations == ("cmyk_to_rgb_naive",)
    assert img.icc_profile is None and img.alpha is None
    with Image.open(io.BytesIO(data)) as im:
        np.testing.assert_array_equal(img.rgb, np.asarray(im.convert("RGB")))
    assert img.rgb[0, 0].min() > 240  # CMYK 0 is white, left half
    assert img.rgb[0, 7, 0] < 100  # lots of cyan: little red, right half


def test_cmyk_with_profile_uses_imagecms(tmp_path):
    img = load_image(_write(tmp_path / "c.jpg", _cmyk_jpeg(icc_profile=_flat_cmyk_profile())))
    assert img.normalisations == ("cmyk_to_srgb",)
    assert img.icc_profile is None  # pixels are sRGB now; the CMYK profile must not be saved
    # The test profile maps every colour to the same Lab value: both halves are equal,
    # which plain convert("RGB") would never give.
    assert (img.rgb == img.rgb[0, 0]).all()
    assert img.rgb[0, 0].max() < 200


def test_cmyk_with_broken_profile_falls_back(tmp_path):
    img = load_image(_write(tmp_path / "c.jpg", _cmyk_jpeg(icc_profile=b"not an icc profile" * 10)))
    assert img.normalisations == ("cmyk_icc_unusable", "cmyk_to_rgb_naive")
    assert img.icc_profile is None


# --------------------------------------------------------------------------- frames


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 6), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    data = _bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    img = load_image(_write(tmp_path / "anim.gif", data))
    assert img.format == "GIF" and img.rgb.shape == (6, 10, 3)
    assert img.normalisations[0] == "first_frame_of_3"
    assert (img.rgb == [255, 0, 0]).all()
    assert output_format(img.format, "same") == ("PNG", ".png")


def test_animated_webp_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in [(0, 0, 255), (255, 255, 0)]]
    data = _bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    img = load_image(_write(tmp_path / "anim.webp", data))
    assert img.normalisations[0] == "first_frame_of_2"
    assert (img.rgb == [0, 0, 255]).all() and img.lossless


def test_mpo_first_frame_stays_jpeg(tmp_path):
    frames = [Image.fromarray(_pattern()), Image.new("RGB", (64, 48), (9, 9, 9))]
    data = _bytes(frames[0], "MPO", save_all=True, append_images=frames[1:])
    img = load_image(_write(tmp_path / "stereo.jpg", data))
    assert img.format == "MPO" and img.normalisations == ("first_frame_of_2",)
    assert abs(int(img.rgb[24, 32, 0]) - int(_pattern()[24, 32, 0])) < 12  # the first frame
    assert output_format(img.format, "same") == ("JPEG", ".jpg")


# --------------------------------------------------------------------------- EXIF orientation


def test_jpeg_orientation_6_rotates_clockwise(tmp_path):
    h, w = 40, 60
    arr = np.full((h, w, 3), 255, dtype=np.uint8)
    arr[:10, :15] = (255, 0, 0)  # red block at the top-left of the stored pixels
    path = _write(tmp_path / "rot.jpg", _bytes(Image.fromarray(arr), "JPEG", exif=_exif(6), quality=95))
    img = load_image(path)
    assert img.rgb.shape == (w, h, 3)  # transposed
    assert img.normalisations == ("exif_transposed",)
    # Orientation 6 = display rotated 90 degrees clockwise: top-left goes to top-right.
    assert tuple(int(v) for v in img.rgb[5, h - 5]) == pytest.approx((255, 0, 0), abs=30)
    assert img.rgb[5, 5].min() > 220 and img.rgb[w - 5, h - 5].min() > 220
    with Image.open(path) as im:  # same as Pillow's reference transform
        ref = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(img.rgb, ref)
    # The EXIF kept for saving says 1, and the rest of it is kept.
    saved = Image.Exif()
    saved.load(img.exif)
    assert saved[0x0112] == 1 and saved[0x010F] == "AutofixCam"


def test_orientation_applied_once_after_save(tmp_path):
    arr = _pattern(30, 50)
    data = _bytes(Image.fromarray(arr), "JPEG", exif=_exif(8), quality=100, subsampling=0)
    path = _write(tmp_path / "rot.jpg", data)
    img = load_image(path)
    assert img.rgb.shape == (50, 30, 3)
    for fmt in ("JPEG", "PNG", "WEBP"):
        out = tmp_path / f"out.{fmt.lower()}"
        save_image(out, img.rgb, img.alpha, fmt, like=img)
        again = load_image(out)
        assert again.rgb.shape == (50, 30, 3), fmt
        assert "exif_transposed" not in again.normalisations, fmt
        assert again.exif is not None


@pytest.mark.parametrize("endian", ["<", ">"])
def test_exif_bytes_kept_except_orientation(tmp_path, endian):
    mark = b"II" if endian == "<" else b"MM"
    tiff = mark + struct.pack(endian + "HI", 42, 8) + struct.pack(endian + "H", 2)
    tiff += struct.pack(endian + "HHIHH", 0x0112, 3, 1, 6, 0)  # Orientation = 6 (SHORT)
    tiff += struct.pack(endian + "HHI4s", 0x010F, 2, 4, b"Cam\x00")  # Make = "Cam"
    raw = b"Exif\x00\x00" + tiff + struct.pack(endian + "I", 0)
    data = _bytes(Image.fromarray(_pattern(8, 16)), "JPEG", exif=raw)
    img = load_image(_write(tmp_path / "e.jpg", data))
    assert img.rgb.shape == (16, 8, 3)
    entry = struct.pack(endian + "HHIHH", 0x0112, 3, 1, 6, 0)
    expected = raw.replace(entry, struct.pack(endian + "HHIHH", 0x0112, 3, 1, 1, 0))
    assert img.exif == expected  # byte-for-byte, only the orientation value changed


@pytest.mark.parametrize(
    "mode, key",
    [("RGB", (1, 2, 3)), ("L", 7), ("I;16", 7)],
    ids=["rgb-colour-key", "grey-value-key", "16bit-grey-key"],
)
def test_trns_colour_key_becomes_alpha(tmp_path, mode, key):
    dtype = np.uint16 if mode == "I;16" else np.uint8
    arr = np.full((4, 5, 3) if mode == "RGB" else (4, 5), 200, dtype)
    arr[1, 2] = key
    data = _bytes(Image.fromarray(arr), "PNG", transparency=key)
    img = load_image(_write(tmp_path / "k.png", data))
    assert "transparency_to_alpha" in img.normalisations
    expected = np.full((4, 5), 255, np.uint8)
    expected[1, 2] = 0
    np.testing.assert_array_equal(img.alpha, expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_for_rgb_and_alpha(tmp_path, orientation):
    rgb, alpha = _pattern(6, 9), (np.arange(54, dtype=np.uint8).reshape(6, 9) * 4)
    rgba = Image.fromarray(np.dstack([rgb, alpha]))
    path = _write(tmp_path / "o.png", _bytes(rgba, "PNG", exif=_exif(orientation)))
    img = load_image(path)
    with Image.open(path) as im:
        ref = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(img.rgb, ref[..., :3])
    np.testing.assert_array_equal(img.alpha, ref[..., 3])
    assert ("exif_transposed" in img.normalisations) == (orientation != 1)


def test_xmp_orientation_removed_from_png_text(tmp_path):
    xmp = '<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    path = _write(tmp_path / "x.png", _bytes(Image.fromarray(_pattern(4, 7)), "PNG", pnginfo=info))
    img = load_image(path)
    assert img.rgb.shape == (7, 4, 3) and "tiff:Orientation" not in img.text["XML:com.adobe.xmp"]
    out = tmp_path / "out.png"
    save_image(out, img.rgb, None, "PNG", like=img)
    assert load_image(out).rgb.shape == (7, 4, 3)


# --------------------------------------------------------------------------- saving


def test_png_text_chunks_round_trip(tmp_path):
    chunks = {
        "parameters": "a photo of an astronaut\nSteps: 20, Sampler: Euler a, Seed: 1",
        "prompt": '{"3": {"class_type": "KSampler"}}',
        "workflow": '{"nodes": []}',
        "comment": "unicode ✓ kept",
    }
    info = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v)
    src = load_image(_write(tmp_path / "gen.png", _bytes(Image.fromarray(_pattern()), "PNG", pnginfo=info)))
    assert src.text == chunks
    out = tmp_path / "out.png"
    save_image(out, src.rgb, None, "png", like=src)  # text=None: keep like.text
    assert load_image(out).text == chunks
    save_image(out, src.rgb, None, "png", like=src, text={})
    assert load_image(out).text == {}
    save_image(out, src.rgb, None, "png", text={"autofix": "stage=face"})
    assert load_image(out).text == {"autofix": "stage=face"}


def test_png_encoding_deterministic(tmp_path, rgba_random):
    rgb, alpha = rgba_random
    src = _bytes(Image.fromarray(rgb), "PNG", icc_profile=_srgb_icc(), exif=_exif(1))
    like = load_image(_write(tmp_path / "s.png", src))
    a = encode_image(rgb, alpha, "PNG", like=like, text={"k": "v"})
    b = encode_image(rgb.copy(), alpha.copy(), "png", like=like, text={"k": "v"})
    assert a == b
    save_image(tmp_path / "1.png", rgb, alpha, "PNG", like=like)
    save_image(tmp_path / "2.png", rgb, alpha, "PNG", like=like)
    assert (tmp_path / "1.png").read_bytes() == (tmp_path / "2.png").read_bytes()


def test_jpeg_save_quality_subsampling_exif_icc(tmp_path):
    icc = _srgb_icc()
    data = _bytes(Image.fromarray(_pattern()), "JPEG", exif=_exif(1, "Cam"), icc_profile=icc)
    src = load_image(_write(tmp_path / "s.jpg", data))
    out = tmp_path / "out.jpg"
    save_image(out, src.rgb, None, "JPEG", like=src, jpeg_quality=90)
    with Image.open(out) as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
        assert im.info["icc_profile"] == icc
        assert im.getexif()[0x010F] == "Cam"
    low = encode_image(src.rgb, None, "JPEG", jpeg_quality=20)
    assert len(low) < len(out.read_bytes())


def _webp_bitstream(data: bytes) -> bytes:
    return b"VP8L" if b"VP8L" in data[12:64] else b"VP8 "


def test_webp_lossless_choice(tmp_path):
    rgb = photo_array("astronaut")[:64, :64]
    lossy_src = load_image(_write(tmp_path / "a.jpg", _bytes(Image.fromarray(rgb), "JPEG")))
    lossless_src = load_image(_write(tmp_path / "a.png", _bytes(Image.fromarray(rgb), "PNG")))
    assert _webp_bitstream(encode_image(rgb, None, "WEBP", like=lossy_src)) == b"VP8 "
    assert _webp_bitstream(encode_image(rgb, None, "WEBP")) == b"VP8 "
    exact = encode_image(rgb, None, "WEBP", like=lossless_src)
    assert _webp_bitstream(exact) == b"VP8L"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(exact))), rgb)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    assert _webp_bitstream(encode_image(rgb, alpha, "WEBP", like=lossy_src)) == b"VP8L"
    # Lossless-ness of a WEBP source is read from its bitstream.
    assert load_image(_write(tmp_path / "l.webp", exact)).lossless
    lossy = encode_image(rgb, None, "WEBP", like=lossy_src)
    assert not load_image(_write(tmp_path / "y.webp", lossy)).lossless


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    out = tmp_path / "sub" / "out.png"
    save_image(out, _pattern(), None, "PNG")
    assert out.exists() and not [p for p in out.parent.iterdir() if TMP_MARK in p.name]
    np.testing.assert_array_equal(load_image(out).rgb, _pattern())


@pytest.mark.parametrize(
    "rgb, alpha, fmt, match",
    [
        (np.zeros((4, 4, 3), np.float32), None, "PNG", "rgb must be"),
        (np.zeros((4, 4), np.uint8), None, "PNG", "rgb must be"),
        (np.zeros((4, 4, 4), np.uint8), None, "PNG", "rgb must be"),
        (np.zeros((0, 4, 3), np.uint8), None, "PNG", "must not be empty"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), "PNG", "alpha must be"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), bool), "PNG", "alpha must be"),
        (np.zeros((4, 4, 3), np.uint8), None, "GIF", "PNG, JPEG or WEBP"),
    ],
)
def test_encode_rejects_bad_arguments(rgb, alpha, fmt, match):
    with pytest.raises(ValueError, match=match):
        encode_image(rgb, alpha, fmt)


def test_encode_rejects_bad_quality():
    with pytest.raises(ValueError, match="jpeg_quality"):
        encode_image(np.zeros((4, 4, 3), np.uint8), None, "JPEG", jpeg_quality=0)


@pytest.mark.parametrize(
    "source, requested, expected",
    [
        ("PNG", "same", ("PNG", ".png")),
        ("JPEG", "same", ("JPEG", ".jpg")),
        ("WEBP", "same", ("WEBP", ".webp")),
        ("MPO", "same", ("JPEG", ".jpg")),
        ("GIF", "same", ("PNG", ".png")),
        ("TIFF", "same", ("PNG", ".png")),
        ("JPEG", "png", ("PNG", ".png")),
        ("PNG", "jpg", ("JPEG", ".jpg")),
        ("PNG", "webp", ("WEBP", ".webp")),
        ("PNG", "JPEG", ("JPEG", ".jpg")),
    ],
)
def test_output_format(source, requested, expected):
    assert output_format(source, requested) == expected


def test_final_extension_follows_output_format():
    """A run names its finals by output_format: the input's own suffix when it is one autofix
    writes, else the format's (a single .gif input is written as PNG, so it is named .png)."""
    from autofix.run.writer import output_ext

    assert output_ext(Path("sub/a.JPEG"), "same") == ".JPEG"
    assert output_ext(Path("anim.gif"), "same") == ".png"
    assert output_ext(Path("a.jpg"), "webp") == ".webp" and output_ext(Path("a.png"), "jpg") == ".jpg"


def test_output_format_rejects_unknown():
    with pytest.raises(ConfigError, match="same, png, jpg, webp"):
        output_format("PNG", "tiff")


def test_loaded_image_is_frozen(tmp_path):
    img = load_image(_write(tmp_path / "a.png", _bytes(Image.fromarray(_pattern()), "PNG")))
    with pytest.raises(AttributeError):
        img.format = "JPEG"  # type: ignore[misc]
