"""Generation metadata in and out of autofix's images.

Reading lives in :mod:`autofix.meta` (one reader per generator format); this module keeps
the names the rest of autofix imports (:class:`GenerationInfo`, :func:`generation_info`,
:func:`output_text`) and decides what a repainted output carries:

* every text chunk of the input, unchanged and in its order (others' data is theirs);
* autofix's own record in its own ``autofix`` chunk (JSON), replaced on a second pass;
* only when the input's ``parameters`` is an A1111 infotext, autofix's settings also
  appended to its settings line, in a form the webui's infotext parser reads back as
  exactly the original prompt, negative prompt and settings plus ours (checked; if that
  check fails ``parameters`` is left untouched). A JSON ``parameters`` (SwarmUI, Fooocus,
  ...) and inputs without ``parameters`` (ComfyUI, NovelAI, InvokeAI, photos) get no
  ``parameters`` chunk, so other readers keep calling them what they are.

Metadata is untrusted: it is only parsed as text/JSON with size caps; nothing in it is
executed or used as a path.
"""

from __future__ import annotations

import json
from typing import Any

from autofix.meta import GenerationInfo, Lora, generation_info, read_file_info
from autofix.meta.comfy import read_api_graph
from autofix.meta.containers import Fields
from autofix.meta.infotext import a1111_read, append_settings, looks_like_infotext, quote
from autofix.meta.readers import read_a1111

#: The PNG text chunk autofix writes its own record to.
AUTOFIX_CHUNK = "autofix"
_NEG = "Negative prompt:"


def parse_a1111(text: str) -> GenerationInfo:
    """An A1111 ``parameters`` text read with the webui's rules (see :mod:`autofix.meta.infotext`)."""
    return read_a1111(text, Fields(values={"parameters": text}), "parameters")


def parse_comfyui(prompt_json: str) -> GenerationInfo:
    """A ComfyUI API-format ``prompt`` graph (see :mod:`autofix.meta.comfy`)."""
    return generation_info({"prompt": prompt_json}) if prompt_json.lstrip().startswith("{") else GenerationInfo()


def a1111_parameters(info: GenerationInfo, extra: dict[str, Any]) -> str:
    """A fresh A1111-style ``parameters`` text for ``info`` with ``extra`` pairs appended
    (for callers that build one from scratch; write-back uses :func:`output_text`)."""
    lines = [info.prompt] if info.prompt else []
    if info.negative_prompt:
        lines.append(f"{_NEG} {info.negative_prompt}")
    pairs: dict[str, Any] = dict(info.settings)
    pairs.update({k: str(v) for k, v in extra.items()})
    lines.append(", ".join(f"{k}: {quote(v)}" for k, v in pairs.items()))
    return "\n".join(lines)


def autofix_record(extra: dict[str, Any]) -> str:
    """The ``autofix`` chunk's text: ``extra`` as one line of ASCII JSON."""
    return json.dumps({str(k): (v if isinstance(v, (int, float, bool)) or v is None else str(v))
                       for k, v in extra.items()}, ensure_ascii=True)


def output_text(source_text: dict[str, str], info: GenerationInfo, extra: dict[str, Any]) -> dict[str, str]:
    """The PNG text chunks a repainted output carries (see the module docstring): the
    input's chunks unchanged and in order, ``parameters`` extended only for A1111
    infotexts, and autofix's record in the ``autofix`` chunk. ``info`` is what was read
    from the input (kept in the signature for the executor; the decision is made on the
    chunk texts themselves)."""
    out = dict(source_text)
    params = source_text.get("parameters")
    if isinstance(params, str) and looks_like_infotext(params):
        appended = append_settings(params, {str(k): v for k, v in extra.items()})
        if appended is not None:
            out["parameters"] = appended
    out[AUTOFIX_CHUNK] = autofix_record(extra)
    return out


__all__ = ["AUTOFIX_CHUNK", "GenerationInfo", "Lora", "a1111_parameters", "a1111_read", "autofix_record",
           "generation_info", "output_text", "parse_a1111", "parse_comfyui", "read_api_graph", "read_file_info"]
