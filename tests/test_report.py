"""The visual report: HTML rendered in a real headless Chromium, escaping, contact sheet."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from autofix.config import build_config
from autofix.photos import photo_array
from autofix.run.batch import run_folder
from autofix.run.report import write_report


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("AUTOFIX_REQUIRE_CHROMIUM"):
        pytest.fail("AUTOFIX_REQUIRE_CHROMIUM is set but no chromium is installed")
    pytest.skip("no chromium installed (CI installs it and sets AUTOFIX_REQUIRE_CHROMIUM=1)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    src, out = tmp / "in", tmp / "out"
    src.mkdir()
    Image.fromarray(photo_array("zidane")).save(src / "zidane.png")
    Image.fromarray(photo_array("astronaut")).save(src / 'odd <b>"name" & <i>co.png')
    run_folder(src, out, build_config("faces+hands", patch={"inpainter": {"backend": "classical"}}), progress=False)
    return out, write_report(out)


def test_report_escapes_names_and_lists_regions(report):
    _, page = report
    text = page.read_text()
    assert '<b>"name"' not in text
    assert "odd &lt;b&gt;&quot;name&quot; &amp; &lt;i&gt;co.png" in text
    assert text.count("<table>") >= 3  # zidane hand + face, astronaut face
    assert (page.parent / "contact-sheet-01.png").exists()
    sheet = np.asarray(Image.open(page.parent / "contact-sheet-01.png"))
    assert sheet.shape[0] >= 2 * 192


def _colourful_fraction(browser: str, page, shot) -> float:
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    return float(((img.max(axis=2) - img.min(axis=2)) > 60).mean())


def test_report_renders_images_in_headless_chromium(report, tmp_path):
    browser = _chromium()
    _, page = report
    # The page is grey text on #111; only rendered photo thumbnails are colourful.
    rendered = _colourful_fraction(browser, page, tmp_path / "shot.png")
    control = tmp_path / "no-thumbs" / "index.html"  # same page, thumbnails missing
    control.parent.mkdir()
    control.write_text(page.read_text())
    broken = _colourful_fraction(browser, control, tmp_path / "control.png")
    assert rendered > 0.02 and broken < 0.005, (rendered, broken)
    for thumb in (page.parent / "thumbs").iterdir():
        assert Image.open(thumb).size[1] == 192
