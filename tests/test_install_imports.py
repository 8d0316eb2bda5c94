"""What the fix path imports: never matplotlib (nor MediaPipe, torch, ultralytics) for the
embedded default, even where those are installed."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from autofix.photos import photo_array


def test_fix_path_imports_no_matplotlib(tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.fromarray(photo_array("astronaut")).save(photos / "astronaut.png")
    code = (
        "import sys\n"
        "from autofix.cli.main import main\n"
        f"sys.argv = ['autofix', 'fix', {str(photos)!r}, '-o', {str(tmp_path / 'out')!r}, '-q']\n"
        "try:\n    rc = main()\nexcept SystemExit as exc:\n    rc = exc.code\n"
        "print(rc, sorted(m for m in ('matplotlib', 'mediapipe', 'torch', 'ultralytics', 'jax') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.stdout.strip().splitlines()[-1] in ("0 []", "None []"), res.stdout + res.stderr
