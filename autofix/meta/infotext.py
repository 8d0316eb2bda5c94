"""A1111 "infotext": the ``parameters`` text AUTOMATIC1111, Forge, reForge, SD.Next,
Fooocus (A1111 scheme), Civitai and many ComfyUI saver nodes write::

    prompt line(s)
    Negative prompt: negative line(s)
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Lora hashes: "a: 1, b: 2"

:func:`a1111_read` applies the webui's own reading rules (its ``parse_generation_parameters``):
the whole text is stripped, split on ``\\n``; the last line is the settings line only
when at least three ``Key: value`` pairs match in it; every other line is stripped; a
line starting ``Negative prompt:`` switches to the negative prompt; quoted values are
JSON-unquoted. :func:`append_settings` adds ``Key: value`` pairs to an existing infotext
so that those rules read back exactly the original prompt, negative prompt and settings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# The webui's settings-pair pattern (a format fact, rewritten here): a key starting with
# a word character, ':', then a double-quoted JSON string or anything up to a comma.
PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEG = "Negative prompt:"
_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass
class Infotext:
    prompt: str
    negative_prompt: str
    settings: dict[str, str] = field(default_factory=dict)
    has_settings: bool = False


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            out = json.loads(value)
        except ValueError:
            return value
        return out if isinstance(out, str) else value
    return value


def a1111_read(text: str) -> Infotext:
    """Read ``text`` exactly as the webui's infotext parser does (prompt, negative prompt
    and the raw settings as strings; sizes are not split)."""
    *lines, last = text.strip().split("\n")
    pairs = PAIR.findall(last)
    has_settings = len(pairs) >= 3
    if not has_settings:
        lines.append(last)
        pairs = []
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith(_NEG):
            in_negative = True
            line = line[len(_NEG):].strip()
        (negative if in_negative else prompt).append(line)
    settings: dict[str, str] = {}
    for key, value in pairs:
        settings[key] = _unquote(value) if value else value
    return Infotext("\n".join(prompt), "\n".join(negative), settings, has_settings)


def quote(value: object) -> str:
    """A value as the webui writes it: JSON-quoted when it holds ``,``, ``:`` or a newline."""
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def settings_line(pairs: dict[str, object]) -> str:
    return ", ".join(f"{k}: {quote(v)}" for k, v in pairs.items())


def tolerant_settings(last_line: str) -> dict[str, object]:
    """The settings line read for our own use: like the webui's rules, but a value that
    starts with ``[`` or ``{`` is read as JSON (Civitai's ``Civitai resources: [...]``)."""
    out: dict[str, object] = {}
    pos, n = 0, len(last_line)
    key_re = re.compile(r"\s*(\w[\w \-/]*):\s*")
    decoder = json.JSONDecoder()
    while pos < n:
        m = key_re.match(last_line, pos)
        if not m:
            nxt = last_line.find(",", pos)
            if nxt < 0:
                break
            pos = nxt + 1
            continue
        key, pos = m.group(1).strip(), m.end()
        value: object
        if pos < n and last_line[pos] in "[{":
            try:
                value, end = decoder.raw_decode(last_line, pos)
                pos = end
            except (ValueError, RecursionError):
                end = last_line.find(",", pos)
                end = n if end < 0 else end
                value, pos = last_line[pos:end].strip(), end
        elif pos < n and last_line[pos] == '"':
            qm = re.compile(r'"(?:\\.|[^\\"])*"').match(last_line, pos)
            if qm:
                value, pos = _unquote(qm.group(0)), qm.end()
            else:
                value, pos = last_line[pos:].strip(), n
        else:
            end = last_line.find(",", pos)
            end = n if end < 0 else end
            value, pos = last_line[pos:end].strip(), end
        out.setdefault(key, value)
        comma = last_line.find(",", pos)
        if comma < 0:
            break
        pos = comma + 1
    return out


def looks_like_infotext(text: str) -> bool:
    """True for an A1111-style infotext: not JSON, and a settings line the webui accepts
    that carries at least one generation setting (so a stray comment is not one)."""
    stripped = text.strip()
    if not stripped or stripped[0] in "{[":
        return False
    parsed = a1111_read(stripped)
    if not parsed.has_settings:
        return False
    keys = set(parsed.settings)
    return bool(keys & {"Steps", "Sampler", "Seed", "CFG scale", "Size", "Model", "Model hash"})


def size_of(value: str) -> tuple[int, int] | None:
    m = _SIZE.match(value.strip()) if value else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def append_settings(text: str, extra: dict[str, object]) -> str | None:
    """``text`` (an infotext) with ``extra`` pairs added to (or replacing the same keys
    in) its settings line, leaving every other byte as it was. Returns ``None`` when the
    webui's rules would not read the result back as the original plus ``extra`` (then
    the caller must not touch the text)."""
    before = a1111_read(text)
    if not before.has_settings:
        return None
    body = text.rstrip("\r\n\t ")
    tail = text[len(body):]
    head, sep, last = body.rpartition("\n")
    ours = [m.span() for m in PAIR.finditer(last) if m.group(1) in extra]
    if ours:  # a previous autofix pass: cut its pairs out, every other byte kept
        pieces, pos = [], 0
        for start, end in ours:
            pieces.append(last[pos:start])
            pos = end
        pieces.append(last[pos:])
        last = "".join(pieces).rstrip(", ")
    new_last = f"{last}, {settings_line(extra)}" if last.strip() else settings_line(extra)
    out = f"{head}{sep}{new_last}{tail}"
    after = a1111_read(out)
    want = {**{k: v for k, v in before.settings.items() if k not in extra}, **{k: str(v) for k, v in extra.items()}}
    if (after.prompt, after.negative_prompt, after.settings) != (before.prompt, before.negative_prompt, want):
        return None
    return out
