"""A1111 prompt language on the embeddings: emphasis, BREAK, 75-token chunks, padding of
cond/uncond, extra-network tags removed; plain prompts encode exactly as diffusers does."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
sys.path.insert(0, str(Path(__file__).parent))
from sd_tiny import build_tiny_pipeline  # noqa: E402

from autofix.inpaint.prompt_weights import (  # noqa: E402
    chunk_prompt,
    encode_prompt,
    parse_attention,
    strip_network_tags,
)

CPU = None


def _cpu():
    return torch.device("cpu")


# The webui's own documented examples of its emphasis parser.
@pytest.mark.parametrize("text,expected", [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.573), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55), (", sun, ", 1.1),
      ("sky", 1.4641), (".", 1.1)]),
    ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
    ("[x]", [("x", 1 / 1.1)]),
])
def test_parse_attention_matches_the_webui(text, expected):
    got = parse_attention(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert np.allclose([w for _, w in got], [w for _, w in expected])


def test_network_tags_are_removed():
    text, tags = strip_network_tags("a cat <lora:myLora:0.8> <lora:b:0.5:0.2>, <hypernet:h:1>")
    assert "<" not in text and [(t.kind, t.name, t.args) for t in tags] == [
        ("lora", "myLora", ("0.8",)), ("lora", "b", ("0.5", "0.2")), ("hypernet", "h", ("1",))]


@pytest.fixture(scope="module", params=["sd15", "sdxl"])
def pipe(request):
    return build_tiny_pipeline(request.param, 9)


def test_plain_prompts_encode_exactly_as_diffusers(pipe):
    for text in ["a hand", "", "hand, hand, face"]:
        ours = encode_prompt(pipe, text, _cpu())
        ref = pipe.encode_prompt(prompt=text, device=_cpu(), num_images_per_prompt=1, do_classifier_free_guidance=False)
        assert torch.equal(ours.embeds, ref[0])
        if ours.pooled is not None:
            assert torch.equal(ours.pooled, ref[2])


def test_emphasis_scales_the_weighted_tokens_hidden_states(pipe):
    plain = encode_prompt(pipe, "a hand", _cpu()).embeds
    heavy = encode_prompt(pipe, "a (hand:1.5)", _cpu()).embeds
    assert torch.equal(encode_prompt(pipe, "a (hand:1.5) <lora:x:1>", _cpu()).embeds, heavy)  # tag never encoded
    # ids are the same; position 2 ("hand") carries 1.5x relative to every other position
    d1 = pipe.text_encoder.config.hidden_size
    for part in (slice(0, d1), slice(d1, None)):  # each encoder's states (SDXL: two), weighted on their own
        h, p = heavy[0, :, part].double(), plain[0, :, part].double()
        if h.shape[-1] == 0:
            continue
        ratio = (h * p).sum(-1) / (p * p).sum(-1)  # per-position scale: heavy = ratio * plain
        assert torch.allclose(h, ratio[:, None] * p, atol=1e-5)
        assert torch.isclose(ratio[2] / ratio[1], torch.tensor(1.5, dtype=ratio.dtype), rtol=1e-4)
        assert torch.allclose(ratio[[0, 1, 3, 10]], ratio[1].expand(4), rtol=1e-4)


def test_original_emphasis_keeps_each_chunks_mean():
    from autofix.inpaint.prompt_weights import apply_emphasis

    gen = torch.Generator().manual_seed(0)
    states = torch.randn(2, 77, 16, generator=gen) + 0.5  # real CLIP states have a non-zero mean
    weights = torch.ones(2, 77)
    weights[0, 3], weights[1, 5] = 1.5, 0.5
    out = apply_emphasis(states, weights)
    assert torch.allclose(out.mean(dim=(1, 2)), states.mean(dim=(1, 2)), rtol=1e-5)
    scale = out[0, 3] / states[0, 3]
    other = out[0, 4] / states[0, 4]
    assert torch.allclose(scale / other, torch.full_like(scale, 1.5), rtol=1e-4)
    zero_mean = states[:1] - states[:1].mean()  # (tiny test models' layer-normed states): weights only
    assert torch.allclose(apply_emphasis(zero_mean, weights[:1]), zero_mean * weights[:1, :, None])


def test_long_prompts_and_break_make_77_token_chunks(pipe):
    a, b = "hand " * 10, "face " * 10
    whole = encode_prompt(pipe, f"{a} BREAK {b}", _cpu())
    assert whole.chunks == 2 and whole.embeds.shape[1] == 154
    first, second = encode_prompt(pipe, a, _cpu()).embeds, encode_prompt(pipe, b, _cpu()).embeds
    assert torch.allclose(whole.embeds[:, :77], first) and torch.allclose(whole.embeds[:, 77:], second)
    long = encode_prompt(pipe, ", ".join(["hand"] * 60), _cpu())  # 119 tokens: not truncated
    assert long.tokens == 119 and long.chunks == 2 and long.embeds.shape[1] == 154


def test_chunks_break_at_a_recent_comma(pipe):
    tok = pipe.tokenizer
    text = "f" * 70 + ", " + "a " * 10
    chunks, count = chunk_prompt(tok, text)
    comma = tok.convert_tokens_to_ids(",</w>")
    assert len(chunks) == 2
    first = chunks[0].ids
    assert first[0] == tok.bos_token_id and len(first) == 77
    assert first[first.index(tok.eos_token_id) - 1] == comma  # cut right after the comma


def test_inpainter_pads_cond_and_uncond_to_one_length(pipe):
    from autofix.inpaint.diffusion import DiffusionInpainter, _Item

    inp = DiffusionInpainter.from_pipeline(pipe)
    img = np.zeros((64, 64, 3), np.uint8)
    mask = np.full((64, 64), 255, np.uint8)
    long = ", ".join(["(hand:1.2)"] * 60)
    items = [_Item(0, 0, 1, img, mask, long, "", img), _Item(1, 0, 2, img, mask, "face", "ugly", img)]
    kw = inp._prompt_kwargs(items, 7.0)
    assert kw["prompt_embeds"].shape == kw["negative_prompt_embeds"].shape
    assert kw["prompt_embeds"].shape[:2] == (2, 154)
    empty = inp._embedding("")[0]
    short = kw["prompt_embeds"][1:2]
    assert torch.equal(short[:, 77:], empty)  # padded with the empty prompt's chunk
    assert inp.prompt_record(long)["chunks"] == 2 and inp.prompt_record("face") == {"chunks": 1, "plain": True}
    if "pooled_prompt_embeds" in kw:  # SDXL: empty negative is zeros, its padding too
        assert not kw["negative_prompt_embeds"][0].any()


def test_a_long_weighted_prompt_runs_through_the_pipeline(pipe):
    from autofix.inpaint.diffusion import DiffusionInpainter
    from autofix.types import InpaintJob

    inp = DiffusionInpainter.from_pipeline(pipe)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    job = InpaintJob(image, mask, seed=3, prompt=", ".join(["(detailed hand:1.3)"] * 40) + " BREAK face",
                     negative_prompt="[blurry]", params={"strength": 0.5, "steps": 2, "cfg": 7.0})
    res = inp.inpaint([job])[0]
    assert res.candidates[0].shape == image.shape
