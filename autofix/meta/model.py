"""The typed record every metadata reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Cap on any one metadata text (a PNG chunk, an EXIF field): bigger ones are not read.
MAX_TEXT = 4 * 1024 * 1024
#: Cap on nodes walked in one ComfyUI graph.
MAX_NODES = 20_000


@dataclass(frozen=True)
class Lora:
    """A LoRA the generation used: its name (as the generator wrote it) and weight."""

    name: str
    weight: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight}


@dataclass(frozen=True)
class GenerationInfo:
    """What an image's metadata says about how it was generated.

    ``prompt``/``negative_prompt`` are the texts a ``{prompt}`` template inherits
    (``""`` when unknown: unknown metadata inherits nothing). ``settings`` keeps the
    generator's own key/value pairs (A1111's settings line, or the JSON's top-level
    scalars). ``source`` is the reader family (``"a1111"``, ``"comfyui"``, ... or ``""``);
    ``reader`` names the exact reader (``"a1111-infotext/png:parameters"``), ``generator``
    the program that wrote the file. ``note`` is one line saying why nothing was read.
    """

    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    settings: dict[str, str] = field(default_factory=dict)
    source: str = ""
    generator: str | None = None
    reader: str | None = None
    steps: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    cfg: float | None = None
    width: int | None = None
    height: int | None = None
    model: str | None = None
    loras: tuple[Lora, ...] = ()
    note: str = ""

    @property
    def found(self) -> bool:
        """True when a reader recognised the metadata."""
        return bool(self.source)

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None

    @property
    def sampler_label(self) -> str | None:
        """The sampler with its schedule appended when the generator stores it apart
        (``"DPM++ 2M Karras"``, ``"euler_ancestral karras"``)."""
        if not self.sampler:
            return None
        sched = (self.scheduler or "").strip()
        if not sched or sched.lower() in ("automatic", "normal", "simple", "default") \
                or sched.lower() in self.sampler.lower():
            return self.sampler
        return f"{self.sampler} {sched}"

    def summary(self) -> dict[str, Any]:
        """The ``autofix info --json`` object: exactly these keys, ``None`` where unknown."""
        known = self.found
        return {
            "generator": self.generator,
            "prompt": self.prompt if known else None,
            "negative_prompt": self.negative_prompt if known else None,
            "seed": self.seed,
            "steps": self.steps,
            "sampler": self.sampler_label,
            "cfg": self.cfg,
            "size": list(self.size) if self.size else None,
            "model": self.model,
            "loras": [lora.as_json() for lora in self.loras] if known else None,
            "reader": self.reader,
        }
