"""ComfyUI graphs: the API-format ``prompt`` (node id -> ``class_type`` + ``inputs`` with
``[node_id, slot]`` links) and, when only that is missing, the UI ``workflow`` graph.

The prompt text is not stored anywhere by itself: it is found by following the chosen
sampler's ``positive``/``negative`` links through conditioning nodes (Combine, Concat,
SetArea, ControlNet, Inpaint/InstructPix2Pix conditioning, Flux guidance, ...), text
encoders (CLIP, SDXL, SD3, Flux), string nodes (primitives, concatenation, switches) and
custom text/seed nodes (rgthree, ComfyRoll, Efficiency, Derfuu, WAS, easy-use ...), matched
by their input names rather than by a list of class names. Graphs are untrusted: walks are
depth-limited and cycle-safe, and nothing is evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .model import MAX_NODES, MAX_TEXT, Lora

Graph = dict[str, dict[str, Any]]
_MAX_DEPTH = 64
_TEXT_KEYS = ("text", "Text", "string", "String", "value", "prompt", "Prompt", "text_g", "t5xxl",
              "clip_l", "text_l", "populated_text", "wildcard_text", "STRING", "str")
_NUM_KEYS = ("seed", "noise_seed", "value", "int", "number", "Number", "seed_value", "INT", "float", "a")
# Nodes whose output text we cannot know without running them (LLMs, file readers...).
_OPAQUE = re.compile(r"generate|llm|ollama|gpt|florence|caption|tagger|interrogat|load.*file|read", re.I)
_LORA_TAG = re.compile(r"<lora:([^:>]+)(?::([^:>]*))?(?::[^>]*)?>", re.I)
_DIMS = re.compile(r"(\d{2,5})\s*[x×]\s*(\d{2,5})")


def link_of(value: Any) -> tuple[str, int] | None:
    """``(node_id, slot)`` when ``value`` is an API-graph link."""
    if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and not isinstance(value[0], bool) and isinstance(value[1], int) and not isinstance(value[1], bool)):
        return str(value[0]), value[1]
    return None


@dataclass
class ComfyResult:
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None
    scheduler: str | None = None
    width: int | None = None
    height: int | None = None
    model: str | None = None
    loras: list[Lora] = field(default_factory=list)
    found_sampler: bool = False


class _Walker:
    def __init__(self, graph: Graph):
        self.g = graph

    def node(self, link: Any) -> tuple[str, int, dict[str, Any], dict[str, Any]] | None:
        ref = link_of(link)
        if ref is None:
            return None
        node = self.g.get(ref[0])
        if not isinstance(node, dict):
            return None
        inputs = node.get("inputs")
        return ref[0], ref[1], node, inputs if isinstance(inputs, dict) else {}

    # -- scalar values ------------------------------------------------------------------
    def value(self, value: Any, kind: str, depth: int = 0, seen: frozenset[str] = frozenset(),
              name: str | None = None) -> Any:
        """A scalar input, following links into primitive/switch/concat nodes; ``name`` (the
        input being resolved, e.g. ``sampler_name``) is looked up first in a linked node."""
        ref = link_of(value)
        if ref is None:
            return value
        got = self.node(value)
        if got is None or depth > _MAX_DEPTH or ref[0] in seen:
            return None
        nid, slot, node, inputs = got
        seen = seen | {nid}
        ctype = str(node.get("class_type", ""))
        if "on_true" in inputs or "on_false" in inputs:  # ComfySwitchNode and friends
            flag = self.value(inputs.get("switch", inputs.get("boolean")), "num", depth + 1, seen)
            return self.value(inputs.get("on_true" if flag else "on_false"), kind, depth + 1, seen)
        if "text_positive" in inputs and "text_negative" in inputs and kind == "str":  # SDXL Prompt Styler
            return self.value(inputs["text_negative" if slot == 1 else "text_positive"], kind, depth + 1, seen)
        if name and name in inputs:
            got_value = self.value(inputs[name], kind, depth + 1, seen, name)
            if got_value is not None:
                return got_value
        if kind == "str":
            joined = self._concat(inputs, depth, seen)
            if joined is not None:
                return joined
            if _OPAQUE.search(ctype):
                return None
            keys = _TEXT_KEYS
        else:
            keys = _NUM_KEYS
        for key in keys:
            if key in inputs:
                got_value = self.value(inputs[key], kind, depth + 1, seen)
                if got_value is not None and (kind != "str" or isinstance(got_value, str)):
                    return got_value
        # a node with exactly one scalar input of the wanted kind (custom primitives)
        scalars = [v for v in inputs.values() if link_of(v) is None and (
            isinstance(v, str) if kind == "str" else isinstance(v, (int, float)) and not isinstance(v, bool))]
        if len(scalars) == 1 and len(inputs) <= 3:
            return scalars[0]
        if len(inputs) == 1:  # reroutes and pass-through nodes, not nodes that compute (GetImageSize)
            (only_key, only), = inputs.items()
            if link_of(only) is not None and (only_key in ("", "*", "input", "value", "any", "anything", name)
                                              or "reroute" in ctype.lower()):
                return self.value(only, kind, depth + 1, seen, name)
        return None

    def _concat(self, inputs: dict[str, Any], depth: int, seen: frozenset[str]) -> str | None:
        parts = sorted(k for k in inputs if re.fullmatch(r"(?:string|text)_?(?:[a-z]|\d+)", k, re.I))
        if len(parts) < 2:
            return None
        delim = next((inputs[k] for k in ("delimiter", "separator", "Separator", "delimiter_str")
                      if isinstance(inputs.get(k), str)), ", ")
        texts = [self.value(inputs[k], "str", depth + 1, seen) for k in parts]
        texts = [t for t in texts if isinstance(t, str) and t]
        return delim.replace("\\n", "\n").join(texts) if texts else ""

    # -- conditioning ------------------------------------------------------------------
    def texts(self, link: Any, role: str, depth: int = 0, seen: frozenset[str] = frozenset()) -> list[str]:
        """The prompt texts that reach a sampler's ``role`` (positive/negative) input."""
        got = self.node(link)
        if got is None or depth > _MAX_DEPTH or got[0] in seen:
            return []
        nid, slot, node, inputs = got
        seen = seen | {nid}
        ctype = str(node.get("class_type", ""))
        if "ZeroOut" in ctype:
            return []
        if ctype == "CLIPTextEncodeSDXL":
            for key in ("text_g", "text_l"):
                text = self.value(inputs.get(key), "str", depth + 1, seen)
                if isinstance(text, str) and text.strip():
                    return [text]
            return []
        # nodes holding both prompts as strings (Efficient Loader, easy loaders, ...)
        pos, neg = inputs.get("positive"), inputs.get("negative")
        if link_of(pos) is None and isinstance(pos, str) and isinstance(neg, str):
            text = pos if role == "positive" else neg
            return [text] if text.strip() else []
        # multi-output conditioning nodes (ControlNetApplyAdvanced, InpaintModelConditioning, ...)
        if link_of(pos) is not None and link_of(neg) is not None:
            return self.texts(neg if slot == 1 else pos, role, depth + 1, seen)
        for key in ("t5xxl", "text", "Text", "prompt", "Prompt", "clip_l", "text_g", "text_l",
                    "positive" if role == "positive" else "negative", "string"):
            if key in inputs:
                text = self.value(inputs[key], "str", depth + 1, seen)
                if isinstance(text, str):
                    return [text] if text.strip() else []
        out: list[str] = []
        for key, value in inputs.items():
            lk = key.lower()
            if link_of(value) is not None and ("conditioning" in lk or lk in ("cond", "conditioning", "cond1",
                                                                            "cond2", "base_cond", "positive")):
                out.extend(self.texts(value, role, depth + 1, seen))
        return out

    # -- model and LoRAs ---------------------------------------------------------------
    def model(self, link: Any, loras: list[Lora], depth: int = 0, seen: frozenset[str] = frozenset()) -> str | None:
        got = self.node(link)
        if got is None or depth > _MAX_DEPTH or got[0] in seen:
            return None
        nid, _slot, node, inputs = got
        seen = seen | {nid}
        self._loras(inputs, loras, depth, seen)
        for key in ("ckpt_name", "unet_name", "base_ckpt_name", "model_name", "model_path"):
            name = self.value(inputs.get(key), "str", depth + 1, seen)
            if isinstance(name, str) and name:
                return name
        for key in ("model", "MODEL", "model1", "base_model"):
            if link_of(inputs.get(key)) is not None:
                return self.model(inputs[key], loras, depth + 1, seen)
        return None

    def _loras(self, inputs: dict[str, Any], loras: list[Lora], depth: int, seen: frozenset[str]) -> None:
        name = inputs.get("lora_name")
        if isinstance(name, str) and name not in ("None", ""):
            loras.append(Lora(name, _float(self.value(inputs.get("strength_model", inputs.get("strength")), "num"))))
        for key, value in inputs.items():
            if key.startswith("lora_") and isinstance(value, dict) and value.get("on", True) and value.get("lora"):
                loras.append(Lora(str(value["lora"]), _float(value.get("strength"))))  # rgthree Power Lora Loader
        stack = inputs.get("lora_stack")
        got = self.node(stack) if stack is not None else None
        if got is not None and got[0] not in seen and depth < _MAX_DEPTH:
            sub = got[3]
            for i in range(1, 50):
                lname = sub.get(f"lora_name_{i}")
                if lname is None:
                    break
                switch = sub.get(f"switch_{i}", "On")
                if isinstance(lname, str) and lname != "None" and switch in ("On", True):
                    weight = sub.get(f"model_weight_{i}", sub.get(f"lora_wt_{i}"))
                    loras.append(Lora(lname, _float(weight)))
            self._loras(sub, loras, depth + 1, seen | {got[0]})


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,40}", value.strip()):
        return int(value.strip())
    return None


@dataclass
class _Sampler:
    nid: str
    positive: Any
    negative: Any
    seed: Any = None
    steps: Any = None
    cfg: Any = None
    sampler: Any = None
    scheduler: Any = None
    denoise: Any = None
    model: Any = None
    latent: Any = None


def _samplers(w: _Walker) -> list[_Sampler]:
    out = []
    for nid, node in w.g.items():
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
            continue
        inp, ctype = node["inputs"], str(node.get("class_type", ""))
        if link_of(inp.get("guider")) is not None:  # SamplerCustomAdvanced
            g = w.node(inp["guider"])
            if g is None:
                continue
            ginp = g[3]
            pos = ginp.get("positive", ginp.get("conditioning", ginp.get("cond1")))
            s = _Sampler(nid, pos, ginp.get("negative"), cfg=ginp.get("cfg"), model=ginp.get("model"),
                         latent=inp.get("latent_image"))
            noise = w.node(inp.get("noise"))
            if noise is not None:
                s.seed = noise[3].get("noise_seed", noise[3].get("seed"))
            _custom_parts(w, s, inp)
            out.append(s)
        elif link_of(inp.get("positive")) is not None and (
                "sampler" in ctype.lower() or any(k in inp for k in ("seed", "noise_seed", "steps", "sampler_name"))):
            s = _Sampler(nid, inp.get("positive"), inp.get("negative"), seed=inp.get("seed", inp.get("noise_seed")),
                         steps=inp.get("steps"), cfg=inp.get("cfg"), sampler=inp.get("sampler_name"),
                         scheduler=inp.get("scheduler"), denoise=inp.get("denoise"), model=inp.get("model"),
                         latent=inp.get("latent_image"))
            _custom_parts(w, s, inp)
            out.append(s)
    return out


def _custom_parts(w: _Walker, s: _Sampler, inp: dict[str, Any]) -> None:
    """SamplerCustom(Advanced): sampler and schedule come from their own nodes."""
    sel = w.node(inp.get("sampler"))
    if sel is not None and s.sampler is None:
        s.sampler = sel[3].get("sampler_name")
        if s.sampler is None:
            m = re.match(r"Sampler(\w+)", str(sel[2].get("class_type", "")))
            s.sampler = m.group(1) if m else None
    sig = w.node(inp.get("sigmas"))
    if sig is not None:
        sinp, sct = sig[3], str(sig[2].get("class_type", ""))
        s.steps = s.steps if s.steps is not None else sinp.get("steps")
        s.denoise = s.denoise if s.denoise is not None else sinp.get("denoise")
        s.scheduler = sinp.get("scheduler") or (sct.replace("Scheduler", "").lower() or None)


def _latent_size(w: _Walker, link: Any) -> tuple[int | None, int | None, bool]:
    """``(width, height, from_empty_latent)`` of the latent a sampler starts from."""
    got = w.node(link)
    if got is None:
        return None, None, False
    _nid, _slot, node, inputs = got
    ctype = str(node.get("class_type", ""))
    empty = "empty" in ctype.lower() or ("width" in inputs and "height" in inputs and "samples" not in inputs
                                         and "pixels" not in inputs and "image" not in inputs)
    width = _int(w.value(inputs.get("width"), "num", name="width"))
    height = _int(w.value(inputs.get("height"), "num", name="height"))
    if (width is None or height is None) and isinstance(inputs.get("dimensions"), str):
        m = _DIMS.search(inputs["dimensions"])
        if m:
            width, height = int(m.group(1)), int(m.group(2))
    if "latent" in inputs and not empty:
        return _latent_size(w, inputs["latent"])
    return width, height, empty


def read_api_graph(graph: Any) -> ComfyResult | None:
    """Read an API-format graph. ``None`` when it is not one (no nodes with ``inputs``)."""
    if not isinstance(graph, dict) or not graph or len(graph) > MAX_NODES:
        return None
    g = {str(k): v for k, v in graph.items() if isinstance(v, dict)}
    if not any(isinstance(v.get("inputs"), dict) and "class_type" in v for v in g.values()):
        return None
    w = _Walker(g)
    samplers = _samplers(w)
    res = ComfyResult()
    if not samplers:
        return res
    scored = []
    for order, s in enumerate(samplers):
        width, height, empty = _latent_size(w, s.latent)
        denoise = _float(w.value(s.denoise, "num"))
        first = empty and (denoise is None or denoise >= 0.999)
        pos = w.texts(s.positive, "positive")
        scored.append(((first, bool(pos), -order), s, width, height, pos))
    scored.sort(key=lambda t: t[0], reverse=True)
    _key, s, width, height, pos = scored[0]
    res.found_sampler = True
    res.prompt = _join(pos)
    res.negative_prompt = _join(w.texts(s.negative, "negative")) if s.negative is not None else ""
    res.seed = _int(w.value(s.seed, "num", name="seed"))
    res.steps = _int(w.value(s.steps, "num", name="steps"))
    res.cfg = _float(w.value(s.cfg, "num", name="cfg"))
    sampler = w.value(s.sampler, "str", name="sampler_name")
    scheduler = w.value(s.scheduler, "str", name="scheduler")
    res.sampler = sampler if isinstance(sampler, str) else None
    res.scheduler = scheduler if isinstance(scheduler, str) else None
    res.width, res.height = width, height
    loras: list[Lora] = []
    res.model = w.model(s.model, loras)
    if res.model is None:  # fall back to the graph's one checkpoint loader
        names = {v["inputs"]["ckpt_name"] for v in g.values()
                 if isinstance(v.get("inputs"), dict) and isinstance(v["inputs"].get("ckpt_name"), str)}
        res.model = names.pop() if len(names) == 1 else None
    res.loras = _dedupe(loras + prompt_loras(res.prompt))
    return res


def _join(texts: list[str]) -> str:
    out: list[str] = []
    for t in texts:
        if t not in out:
            out.append(t)
    if len(out) == 1:
        return out[0].strip()
    return ", ".join(t.strip().strip(",").strip() for t in out if t.strip())


def _dedupe(loras: list[Lora]) -> list[Lora]:
    seen, out = set(), []
    for lora in loras:
        if lora.name not in seen:
            seen.add(lora.name)
            out.append(lora)
    return out


def prompt_loras(prompt: str) -> list[Lora]:
    """``<lora:NAME:W>`` tags of a prompt (A1111 syntax)."""
    out = []
    for m in _LORA_TAG.finditer(prompt or ""):
        out.append(Lora(m.group(1).strip(), _float(m.group(2)) if m.group(2) else 1.0))
    return out


# --------------------------------------------------------------------------- UI workflow

# widget names by node type, in widgets_values order ("control" = control_after_generate).
_WIDGETS: dict[str, tuple[str, ...]] = {
    "KSampler": ("seed", "control", "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": ("add_noise", "noise_seed", "control", "steps", "cfg", "sampler_name", "scheduler",
                         "start_at_step", "end_at_step", "return_with_leftover_noise"),
    "SamplerCustom": ("add_noise", "noise_seed", "control", "cfg"),
    "RandomNoise": ("noise_seed", "control"),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "CFGGuider": ("cfg",),
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl", "guidance"),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "PrimitiveNode": ("value", "control"),
    "PrimitiveString": ("value",),
    "PrimitiveStringMultiline": ("value",),
    "PrimitiveInt": ("value", "control"),
    "PrimitiveFloat": ("value",),
}


def workflow_to_api(workflow: Any) -> Graph | None:
    """A UI-format ``workflow`` turned into an API-like graph (links resolved, widget values
    named for core nodes; a node of unknown type with one text widget gets it as ``text``)."""
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
        return None
    nodes, links = workflow["nodes"], workflow.get("links") or []
    if len(nodes) > MAX_NODES:
        return None
    source: dict[int, tuple[str, int]] = {}
    for link in links:
        if isinstance(link, list) and len(link) >= 5:
            source[link[0]] = (str(link[1]), int(link[2]) if isinstance(link[2], int) else 0)
        elif isinstance(link, dict) and "id" in link:
            source[link["id"]] = (str(link.get("origin_id")), int(link.get("origin_slot") or 0))
    graph: Graph = {}
    for node in nodes:
        if not isinstance(node, dict) or "id" not in node:
            continue
        ntype = str(node.get("type", ""))
        if node.get("mode") in (2, 4):  # muted / bypassed nodes did not run
            continue
        inputs: dict[str, Any] = {}
        widget_inputs = []
        for entry in node.get("inputs") or []:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("name", ""))
            if entry.get("widget"):
                widget_inputs.append(str(entry["widget"].get("name", name)))
            if entry.get("link") is not None and entry["link"] in source:
                inputs[name] = list(source[entry["link"]])
        values = node.get("widgets_values")
        if isinstance(values, dict):  # some custom nodes store named widgets
            for k, v in values.items():
                inputs.setdefault(str(k), v)
        elif isinstance(values, list):
            names = _WIDGETS.get(ntype)
            if names is None:
                texts = [v for v in values if isinstance(v, str) and len(v) > 0]
                if texts and isinstance(values[0], str) and re.search(r"text|prompt|string", ntype, re.I):
                    inputs.setdefault("text", values[0])
                nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                if re.search(r"seed", ntype, re.I) and nums:
                    inputs.setdefault("seed", nums[0])
            else:
                for name, value in zip(names, values):
                    if name != "control":
                        inputs.setdefault(name, value)
        for key in ("text", "text_g", "text_l", "value", "t5xxl", "clip_l"):
            if isinstance(inputs.get(key), str):
                inputs[key] = strip_comments(inputs[key])
        graph[str(node["id"])] = {"class_type": ntype, "inputs": inputs}
    return graph


def strip_comments(text: str) -> str:
    """ComfyUI's frontend drops ``/* ... */`` and ``// ...`` comments from prompt widgets
    before queueing; the UI workflow still holds them."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(?m)(^|\s)//[^\n]*", r"\1", text)


def parse_graph_text(text: str) -> Any:
    """JSON-decode a graph chunk (capped; ``NaN`` accepted as ComfyUI writes it)."""
    if not text or len(text) > MAX_TEXT:
        return None
    try:
        return json.loads(text.strip().rstrip("\x00"))
    except (ValueError, RecursionError):
        return None
