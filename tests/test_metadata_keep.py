"""Other tools' metadata survives a repaint byte for byte: compressed PNG text chunks keep
their own bytes, JPEG comments and XMP packets are written back (through the real fix path)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, PngImagePlugin

from autofix.config import build_config
from autofix.meta.containers import png_text_chunks
from autofix.photos import photo_array
from autofix.run.batch import run_folder


def test_png_text_chunks_of_other_tools_stay_byte_identical(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", '{"1": {"class_type": "KSampler", "inputs": {"seed": 5}}}', zip=True)
    info.add_itxt("Description", "crème brûlée, 東京", lang="fr", tkey="Beschreibung", zip=True)
    info.add_text("Software", "some editor")
    Image.fromarray(photo_array("astronaut")).save(src / "a.png", pnginfo=info)
    cfg = build_config("faces", patch={"inpainter": {"backend": "classical"}})
    summary = run_folder(src, tmp_path / "out", cfg, progress=False)
    assert summary.counts()["fixed"] == 1  # re-encoded, not copied: the chunks were written again
    before = png_text_chunks((src / "a.png").read_bytes())
    after = png_text_chunks((tmp_path / "out" / "a.png").read_bytes())
    for chunk in before:
        assert chunk in after, chunk[1][:30]


def test_jpeg_comment_and_xmp_survive_a_repaint(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    xmp = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta><?xpacket end="w"?>')
    Image.fromarray(photo_array("astronaut")).save(src / "a.jpg", quality=92, comment=b"shot by someone", xmp=xmp)
    cfg = build_config("faces", patch={"inpainter": {"backend": "classical"}})
    run_folder(src, tmp_path / "out", cfg, progress=False)
    out = Image.open(tmp_path / "out" / "a.jpg")
    assert out.info.get("comment") == b"shot by someone"
    got = out.info.get("xmp")
    assert (got.encode() if isinstance(got, str) else got) == xmp
