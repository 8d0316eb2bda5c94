"""A1111's prompt language for the diffusion backend: emphasis, ``BREAK`` and prompts
longer than CLIP's 77 tokens, encoded the way the webui encodes them.

* **Emphasis** — ``(x)`` ×1.1, ``((x))`` ×1.21, ``[x]`` ÷1.1, ``(x:1.3)`` ×1.3, nesting
  multiplies, ``\\(``/``\\)``/``\\[``/``\\]`` are literal brackets, an unclosed bracket still
  applies to the end (the webui's rules).
* **Chunks** — the prompt is tokenized without truncation and cut into chunks of 75
  tokens; each chunk is encoded on its own as ``BOS + 75 tokens (padded) + EOS`` (77) and the
  chunks' hidden states are concatenated, so a 150-token prompt conditions on 154 positions.
  A chunk that would end within 20 tokens of a comma is cut at that comma instead.
  ``BREAK`` ends the current chunk (padding it).
* **Weights** — each token's hidden state is multiplied by its weight, then the whole
  chunk is rescaled so its mean is the unweighted mean (the webui's "Original" emphasis).
* **SDXL** — both text encoders' penultimate hidden states are concatenated per chunk;
  the pooled embedding is the second encoder's for the first chunk.
* **Extra-network tags** (``<lora:name:0.8>``, ``<hypernet:…>``, ``<lyco:…>``) are taken out
  of the text before encoding (CLIP never sees them); :func:`strip_network_tags` returns
  them so a LoRA loader can act on them.

Positive and negative embeddings of different lengths are padded with the empty prompt's
chunk, as the webui does, so classifier-free guidance gets equal shapes. A prompt with no
emphasis and at most 75 tokens encodes exactly as diffusers' own ``encode_prompt``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

CHUNK_TOKENS = 75
COMMA_BACKTRACK = 20
_UP, _DOWN = 1.1, 1 / 1.1
_TOKENS = re.compile(r"\\[()\[\]\\]|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:")
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_NETWORK_TAG = re.compile(r"<(\w+):([^>]+)>")


@dataclass(frozen=True)
class NetworkTag:
    """An extra-network tag: ``<kind:name[:w[:w2]]>`` (``kind`` lora, lyco, hypernet, ...)."""

    kind: str
    name: str
    args: tuple[str, ...] = ()


def strip_network_tags(text: str) -> tuple[str, list[NetworkTag]]:
    """``text`` without its ``<kind:...>`` tags, and the tags."""
    tags = []
    for m in _NETWORK_TAG.finditer(text):
        parts = m.group(2).split(":")
        tags.append(NetworkTag(m.group(1).lower(), parts[0].strip(), tuple(p.strip() for p in parts[1:])))
    return _NETWORK_TAG.sub("", text), tags


def parse_attention(text: str) -> list[tuple[str, float]]:
    """``[(text, weight), ...]`` of a prompt under the webui's emphasis rules; a ``BREAK``
    is ``("BREAK", -1.0)``. Adjacent pieces of equal weight are merged."""
    pieces: list[list[Any]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def scale(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= factor

    for m in _TOKENS.finditer(text):
        tok, weight = m.group(0), m.group(1)
        if tok.startswith("\\") and len(tok) == 2:
            pieces.append([tok[1], 1.0])
        elif tok == "(":
            round_open.append(len(pieces))
        elif tok == "[":
            square_open.append(len(pieces))
        elif weight is not None and round_open:
            scale(round_open.pop(), float(weight))
        elif tok == ")" and round_open:
            scale(round_open.pop(), _UP)
        elif tok == "]" and square_open:
            scale(square_open.pop(), _DOWN)
        else:
            for i, part in enumerate(_BREAK.split(tok)):
                if i > 0:
                    pieces.append(["BREAK", -1.0])
                pieces.append([part, 1.0])
    for start in round_open:
        scale(start, _UP)
    for start in square_open:
        scale(start, _DOWN)
    if not pieces:
        pieces = [["", 1.0]]
    merged: list[list[Any]] = [pieces[0]]
    for piece in pieces[1:]:
        if piece[1] == merged[-1][1]:
            merged[-1][0] += piece[0]
        else:
            merged.append(piece)
    return [(str(t), float(w)) for t, w in merged]


@dataclass
class Chunk:
    """One 77-token window: ids with BOS/EOS and padding, and a weight per position."""

    ids: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def _special(tokenizer: Any) -> tuple[int, int, int, int | None]:
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    comma = tokenizer.convert_tokens_to_ids(",</w>") if hasattr(tokenizer, "convert_tokens_to_ids") else None
    unk = getattr(tokenizer, "unk_token_id", None)
    return bos, eos, pad, (comma if comma is not None and comma != unk else None)


def chunk_prompt(tokenizer: Any, text: str, chunk_tokens: int = CHUNK_TOKENS,
                 comma_backtrack: int = COMMA_BACKTRACK) -> tuple[list[Chunk], int]:
    """``(chunks, token count)`` of ``text`` (tags already stripped) for ``tokenizer``."""
    bos, eos, pad, comma = _special(tokenizer)
    parsed = parse_attention(text)
    tokenized = tokenizer([t for t, _ in parsed], truncation=False, add_special_tokens=False,
                          verbose=False)["input_ids"]
    chunks: list[Chunk] = []
    ids: list[int] = []
    weights: list[float] = []
    last_comma = -1
    count = 0

    def close() -> None:
        nonlocal ids, weights, last_comma, count
        count += len(ids)
        fill = chunk_tokens - len(ids)
        # the webui pads with EOS for CLIP-L and with the pad token (0) after the first EOS for OpenCLIP
        chunk_ids = [bos] + ids + [eos] + [pad] * max(fill, 0)
        chunks.append(Chunk(chunk_ids, [1.0] + weights + [1.0] * (max(fill, 0) + 1)))
        ids, weights, last_comma = [], [], -1

    for tokens, (piece, weight) in zip(tokenized, parsed):
        if piece == "BREAK" and weight == -1.0:
            close()
            continue
        for token in tokens:
            if comma is not None and token == comma:
                last_comma = len(ids)
            elif (comma_backtrack and len(ids) == chunk_tokens and last_comma != -1
                  and len(ids) - last_comma <= comma_backtrack):
                cut = last_comma + 1
                moved_ids, moved_weights = ids[cut:], weights[cut:]
                ids, weights = ids[:cut], weights[:cut]
                close()
                ids, weights = moved_ids, moved_weights
            if len(ids) == chunk_tokens:
                close()
            ids.append(token)
            weights.append(weight)
    if ids or not chunks:
        close()
    return chunks, count


def needs_a1111(tokenizer: Any, text: str) -> bool:
    """True when ``text`` uses anything beyond plain CLIP text: emphasis, escapes, ``BREAK``,
    extra-network tags, or more than 75 tokens. Plain texts can go through diffusers' own
    ``encode_prompt`` (same result, plus its LoRA/textual-inversion handling)."""
    clean, tags = strip_network_tags(text)
    if tags:
        return True
    parsed = parse_attention(clean)
    if len(parsed) != 1 or parsed[0][1] != 1.0 or parsed[0][0] != clean:
        return True
    count = len(tokenizer(clean, truncation=False, add_special_tokens=False, verbose=False)["input_ids"])
    return count > CHUNK_TOKENS


@dataclass
class Encoded:
    """A prompt's embedding: ``embeds`` ``[1, 77*k, D]``, ``pooled`` ``[1, D2]`` (SDXL) or
    ``None``, and what the model received (for records)."""

    embeds: Any
    pooled: Any
    chunks: int
    tokens: int
    weighted: bool
    tags: list[NetworkTag]
    text: str

    def record(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "tokens": self.tokens, "weighted": self.weighted,
                "removed_tags": [f"<{t.kind}:{':'.join((t.name,) + t.args)}>" for t in self.tags]}


def _encoders(pipe: Any) -> list[tuple[Any, Any, bool]]:
    """``[(tokenizer, text_encoder, is_sdxl_pair_member)]`` of a diffusers pipeline."""
    pairs = []
    if getattr(pipe, "text_encoder", None) is not None:
        pairs.append((pipe.tokenizer, pipe.text_encoder))
    if getattr(pipe, "text_encoder_2", None) is not None:
        pairs.append((getattr(pipe, "tokenizer_2", None) or pipe.tokenizer, pipe.text_encoder_2))
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    return [(tok, te, sdxl) for tok, te in pairs]


def encode_prompt(pipe: Any, text: str, device: Any = None) -> Encoded:
    """Encode ``text`` with the pipeline's text encoder(s) under A1111's rules (module doc)."""
    import torch

    device = device if device is not None else pipe._execution_device
    clean, tags = strip_network_tags(text)
    hidden, pooled, total = [], None, 0
    weighted = any(w != 1.0 for _, w in parse_attention(clean) if w != -1.0)
    per_encoder: list[list[Chunk]] = []
    for tok, _te, _ in _encoders(pipe):
        # textual-inversion tokens loaded into the pipeline expand as diffusers expands them
        own = pipe.maybe_convert_prompt(clean, tok) if hasattr(pipe, "maybe_convert_prompt") else clean
        chunks, count = chunk_prompt(tok, own)
        total = max(total, count)
        per_encoder.append(chunks)
    n = max(len(c) for c in per_encoder)
    for (tok, te, sdxl), chunks in zip(_encoders(pipe), per_encoder):
        chunks = chunks + chunk_prompt(tok, "")[0] * (n - len(chunks))
        ids = torch.tensor([c.ids for c in chunks], device=device)
        with torch.no_grad():
            out = te(ids, output_hidden_states=sdxl)
        if sdxl:
            states = out.hidden_states[-2]
            if pooled is None and out[0].ndim == 2:
                pooled = out[0][:1]
        else:
            states = out[0]
        if weighted:  # per encoder and chunk, as the webui's "Original" emphasis
            states = apply_emphasis(states, torch.tensor([c.weights for c in chunks], device=states.device))
        hidden.append(states)
    z = torch.cat(hidden, dim=-1)  # [k, 77, D]
    dtype = pipe.text_encoder_2.dtype if getattr(pipe, "text_encoder_2", None) is not None else pipe.text_encoder.dtype
    embeds = z.reshape(1, -1, z.shape[-1]).to(dtype=dtype, device=device)
    if pooled is not None:
        pooled = pooled.to(dtype=dtype, device=device)
    return Encoded(embeds, pooled, n, total, weighted, tags, clean)


def apply_emphasis(states: Any, weights: Any) -> Any:
    """``states`` ``[k, 77, D]`` times ``weights`` ``[k, 77]`` per position, each chunk then
    rescaled to its unweighted mean (the webui's "Original" emphasis). A chunk whose mean is
    ~0 (nothing to restore, the ratio would blow up) is only weighted."""
    import torch

    weighted = states * weights.to(states.dtype).unsqueeze(-1)
    before = states.double().mean(dim=(1, 2), keepdim=True)
    after = weighted.double().mean(dim=(1, 2), keepdim=True)
    scale_ref = states.double().abs().mean(dim=(1, 2), keepdim=True)
    ok = (after.abs() > 1e-3 * scale_ref) & (before.abs() > 1e-3 * scale_ref)
    factor = torch.where(ok, before / torch.where(ok, after, torch.ones_like(after)), torch.ones_like(after))
    return weighted * factor.to(states.dtype)


def pad_to(embeds: Any, length: int, filler: Any) -> Any:
    """``embeds`` ``[1, L, D]`` extended to ``length`` positions with copies of ``filler``
    (``[1, 77, D]``, the empty prompt's chunk, or zeros)."""
    import torch

    missing = (length - embeds.shape[1]) // filler.shape[1]
    if missing <= 0:
        return embeds
    return torch.cat([embeds] + [filler] * missing, dim=1)
