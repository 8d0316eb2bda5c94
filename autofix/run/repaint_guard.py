"""Refuse to repaint an image autofix already repainted (unless ``--force``).

Inpainting an inpainted region again drifts further from the original each pass
("recursive inpainting collapse"), so a second pass must be asked for. autofix knows its
own outputs by the record it writes into them: the PNG ``autofix`` text chunk (JSON, see
:func:`autofix.io.metadata.output_text`) and, for A1111 inputs, the same settings appended
to ``parameters`` (``autofix stages: face:1/2 ...``). Only outputs where a stage actually
repainted a region count; an output autofix merely re-encoded does not.
"""

from __future__ import annotations

import json
import re

from ..errors import AlreadyRepainted

_STAGES = re.compile(r"([A-Za-z0-9_-]+):(\d+)/(\d+)")
_IN_PARAMETERS = re.compile(r"autofix stages: \"?([^,\n\"]*)")


def previous_repaint(text: dict[str, str]) -> str | None:
    """``"autofix 0.x repainted face:1/1"`` when ``text`` (an image's PNG text chunks) says
    autofix repainted at least one region of it, else None."""
    version, stages = "", ""
    chunk = text.get("autofix")
    if isinstance(chunk, str):
        try:
            record = json.loads(chunk)
        except ValueError:
            record = None
        if isinstance(record, dict):
            version, stages = str(record.get("autofix", "")), str(record.get("autofix stages", ""))
    if not stages and isinstance(text.get("parameters"), str):
        found = _IN_PARAMETERS.search(text["parameters"])
        stages = found.group(1) if found else ""
    repainted = [f"{name}:{done}/{total}" for name, done, total in _STAGES.findall(stages) if int(done) > 0]
    if not repainted:
        return None
    return f"autofix {version} repainted {' '.join(repainted)}".replace("autofix  ", "autofix ")


def check_not_repainted(text: dict[str, str], where: str) -> None:
    """Raise :class:`AlreadyRepainted` (one line) if ``text`` says autofix repainted the image."""
    what = previous_repaint(text)
    if what is not None:
        raise AlreadyRepainted(f"{where}: already repainted ({what}, per its 'autofix' metadata); a second pass "
                               "degrades it further, so it is skipped — pass --force to repaint it again")
