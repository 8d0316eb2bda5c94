"""One reader per generator format, and :func:`read_info` that picks the right one.

Choosing the reader goes by unambiguous markers first (chunk names such as
``invokeai_metadata``, ``sui_image_params`` in the JSON, ``Software: NovelAI``), then by
shape (a ComfyUI graph, an A1111 infotext with a real settings line). A text that no
reader recognises inherits nothing: the result has ``source == ""`` and a one-line
``note``. A JSON document is never used as a prompt: every JSON reader takes the prompt
from a named field or returns nothing.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from . import comfy
from .containers import Fields
from .infotext import a1111_read, looks_like_infotext, size_of, tolerant_settings
from .model import GenerationInfo, Lora


#: A JSON text of the metadata decoded (capped, ``None`` when it is not JSON), as the graphs are.
_loads = comfy.parse_graph_text


def _int(value: Any) -> int | None:
    return comfy._int(value)


def _float(value: Any) -> float | None:
    if isinstance(value, str):
        value = value.strip()
    return comfy._float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _scalars(doc: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in doc.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
            and len(str(v)) < 4096}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# --------------------------------------------------------------------------- A1111


def _a1111_generator(settings: dict[str, str], fields: Fields) -> str:
    version = settings.get("Version", "")
    if "smproj" in fields.values or "parameters-json" in fields.values:
        return "Stability Matrix"
    if settings.get("App") == "SD.Next" or "SD.Next" in version:
        return "SD.Next"
    if version.startswith("Fooocus") or settings.get("Fooocus V2 Expansion"):
        return "Fooocus"
    if "RC-latest" in version or "reforge" in version.lower():  # reForge: f1.x-v1.10.1RC-latest-...
        return "reForge"
    if version.startswith("f") and re.match(r"f\d", version):  # Forge: f2.0.1v1.10.1-previous-...
        return "Forge"
    if version.lower().startswith("neo"):
        return "Forge Neo"
    if version.lower().startswith("classic"):
        return "Forge Classic"
    if "Civitai resources" in settings or "Civitai metadata" in settings or "Created Date" in settings:
        return "Civitai"
    if "workflow" in fields.values or "prompt" in fields.values or version.startswith("ComfyUI"):
        return "ComfyUI"
    return "AUTOMATIC1111"


def _ci(settings: dict[str, str], key: str) -> str | None:
    """A setting by name, any case (ComfyUI savers write "CFG Scale")."""
    if key in settings:
        return settings[key]
    low = key.lower()
    return next((v for k, v in settings.items() if k.lower() == low), None)


def read_a1111(text: str, fields: Fields, origin: str) -> GenerationInfo:
    parsed = a1111_read(text)
    last = text.strip().split("\n")[-1]
    extra = tolerant_settings(last)
    settings = dict(parsed.settings)
    size = size_of(settings.get("Size", ""))
    loras = comfy.prompt_loras(parsed.prompt)
    resources = extra.get("Civitai resources")
    model = settings.get("Model")
    if isinstance(resources, list):
        for res in resources:
            if not isinstance(res, dict):
                continue
            kind = str(res.get("type", "")).lower()
            name = _str(res.get("modelName")) or _str(res.get("modelVersionName"))
            if kind == "lora" and name:
                loras.append(Lora(name, _float(res.get("weight"))))
            elif kind == "checkpoint" and name and not model:
                model = name
    return GenerationInfo(
        prompt=parsed.prompt.strip(), negative_prompt=parsed.negative_prompt.strip(),
        seed=_int(_ci(settings, "Seed")), settings=settings, source="a1111",
        generator=_a1111_generator(settings, fields), reader=f"a1111-infotext ({origin})",
        steps=_int(_ci(settings, "Steps")), sampler=_ci(settings, "Sampler"), scheduler=_ci(settings, "Schedule type"),
        cfg=_float(_ci(settings, "CFG scale")), width=size[0] if size else None, height=size[1] if size else None,
        model=model, loras=tuple(comfy._dedupe(loras)))


# --------------------------------------------------------------------------- ComfyUI


def read_comfyui(fields: Fields, generator: str = "ComfyUI") -> GenerationInfo | None:
    graph = comfy.parse_graph_text(fields.get("prompt"))
    origin = fields.where("prompt")
    kind = "api"
    result = comfy.read_api_graph(graph) if isinstance(graph, dict) else None
    if result is None or not result.found_sampler:
        workflow = comfy.workflow_to_api(comfy.parse_graph_text(fields.get("workflow")))
        ui = comfy.read_api_graph(workflow) if workflow else None
        if ui is not None and ui.found_sampler:
            result, origin, kind = ui, fields.where("workflow"), "workflow"
    if result is None:
        return None
    if not result.found_sampler:
        return GenerationInfo(source="", generator=generator, reader=f"comfyui-{kind} ({origin})",
                              note="ComfyUI graph without a sampler whose prompt can be followed: nothing inherited")
    return GenerationInfo(
        prompt=result.prompt, negative_prompt=result.negative_prompt, seed=result.seed, source="comfyui",
        generator=generator, reader=f"comfyui-{kind} ({origin})", steps=result.steps, sampler=result.sampler,
        scheduler=result.scheduler, cfg=result.cfg, width=result.width, height=result.height,
        model=result.model, loras=tuple(result.loras),
        note="" if result.prompt else "ComfyUI: no text reaches the sampler's positive input (image "
                                      "conditioning, a zeroed or computed prompt): no prompt inherited")


def read_civitai(doc: dict[str, Any], origin: str) -> GenerationInfo:
    """Civitai's on-site generator: a ComfyUI API graph plus ``extraMetadata`` (a JSON
    string with the prompt as the user typed it, seed, steps, sampler, size)."""
    extra = doc.get("extraMetadata")
    extra = _loads(extra) if isinstance(extra, str) else extra
    extra = extra if isinstance(extra, dict) else {}
    graph = comfy.read_api_graph({k: v for k, v in doc.items() if isinstance(v, dict) and "class_type" in v})
    g = graph or comfy.ComfyResult()
    prompt = _text(extra.get("prompt")) if "prompt" in extra else g.prompt
    return GenerationInfo(
        prompt=prompt,
        negative_prompt=_text(extra.get("negativePrompt")) if "negativePrompt" in extra else g.negative_prompt,
        seed=_int(extra.get("seed")) if _int(extra.get("seed")) is not None else g.seed, settings=_scalars(extra),
        source="civitai", generator="Civitai", reader=f"civitai-json ({origin})",
        steps=_int(extra.get("steps")) or g.steps, sampler=_str(extra.get("sampler")) or g.sampler,
        scheduler=None if _str(extra.get("sampler")) else g.scheduler, cfg=_float(extra.get("cfgScale")) or g.cfg,
        width=_int(extra.get("width")) or g.width, height=_int(extra.get("height")) or g.height,
        model=g.model or _str(extra.get("baseModel")), loras=tuple(comfy._dedupe(g.loras + comfy.prompt_loras(prompt))))


# --------------------------------------------------------------------------- JSON formats


def read_swarmui(doc: dict[str, Any], origin: str) -> GenerationInfo:
    p = doc.get("sui_image_params") if isinstance(doc.get("sui_image_params"), dict) else doc
    loras = []
    names, weights = p.get("loras"), p.get("loraweights")
    if isinstance(names, list):
        for i, name in enumerate(names):
            weight = weights[i] if isinstance(weights, list) and i < len(weights) else None
            if isinstance(name, str):
                loras.append(Lora(name, _float(weight)))
    prompt = _text(p.get("prompt"))
    loras += comfy.prompt_loras(prompt)
    version = p.get("swarm_version")
    return GenerationInfo(
        prompt=prompt, negative_prompt=_text(p.get("negativeprompt")), seed=_int(p.get("seed")),
        settings=_scalars(p), source="swarmui",
        generator="SwarmUI" + (f" {version}" if isinstance(version, str) else ""),
        reader=f"swarmui-json ({origin})", steps=_int(p.get("steps")), sampler=_str(p.get("sampler")),
        scheduler=_str(p.get("scheduler")), cfg=_float(p.get("cfgscale")), width=_int(p.get("width")),
        height=_int(p.get("height")), model=_str(p.get("model")), loras=tuple(comfy._dedupe(loras)))


def _fooocus_loras(value: Any) -> list[Lora]:
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, list) and item and isinstance(item[0], str):
            out.append(Lora(item[0], _float(item[1]) if len(item) > 1 else None))
        elif isinstance(item, str) and " : " in item:
            name, _, weight = item.rpartition(" : ")
            out.append(Lora(name.strip(), _float(weight)))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            out.append(Lora(item["name"], _float(item.get("weight"))))
    return [lo for lo in out if lo.name and lo.name != "None"]


def read_fooocus(doc: dict[str, Any], origin: str) -> GenerationInfo:
    size = None
    res = doc.get("resolution")
    if isinstance(res, str):
        m = re.match(r"\(?\s*(\d+)\s*[,x×]\s*(\d+)", res)
        size = (int(m.group(1)), int(m.group(2))) if m else None
    version = _str(doc.get("version")) or "Fooocus"
    return GenerationInfo(
        prompt=_text(doc.get("prompt")), negative_prompt=_text(doc.get("negative_prompt")),
        seed=_int(doc.get("seed")), settings=_scalars(doc), source="fooocus", generator=version,
        reader=f"fooocus-json ({origin})", steps=_int(doc.get("steps")), sampler=_str(doc.get("sampler")),
        scheduler=_str(doc.get("scheduler")), cfg=_float(doc.get("guidance_scale")),
        width=size[0] if size else _int(doc.get("width")), height=size[1] if size else _int(doc.get("height")),
        model=_str(doc.get("base_model")) or _str(doc.get("base_model_name")),
        loras=tuple(_fooocus_loras(doc.get("loras"))))


def read_ruined_fooocus(doc: dict[str, Any], origin: str) -> GenerationInfo:
    return GenerationInfo(
        prompt=_text(doc.get("Prompt")), negative_prompt=_text(doc.get("Negative")), seed=_int(doc.get("seed")),
        settings=_scalars(doc), source="fooocus", generator="RuinedFooocus", reader=f"ruined-fooocus-json ({origin})",
        steps=_int(doc.get("steps")), sampler=_str(doc.get("sampler_name")), scheduler=_str(doc.get("scheduler")),
        cfg=_float(doc.get("cfg")), width=_int(doc.get("width")), height=_int(doc.get("height")),
        model=_str(doc.get("base_model_name")), loras=tuple(_fooocus_loras(doc.get("loras"))))


def read_hf_space(doc: dict[str, Any], origin: str) -> GenerationInfo:
    size = None
    if isinstance(doc.get("resolution"), str):
        m = re.match(r"\s*(\d+)\s*[x×]\s*(\d+)", doc["resolution"])
        size = (int(m.group(1)), int(m.group(2))) if m else None
    return GenerationInfo(
        prompt=_text(doc.get("prompt")), negative_prompt=_text(doc.get("negative_prompt")), seed=_int(doc.get("seed")),
        settings=_scalars(doc), source="json", generator="Hugging Face Space", reader=f"hf-space-json ({origin})",
        steps=_int(doc.get("num_inference_steps")), sampler=_str(doc.get("sampler")),
        cfg=_float(doc.get("guidance_scale")), width=size[0] if size else _int(doc.get("width")),
        height=size[1] if size else _int(doc.get("height")), model=_str(doc.get("Model")),
        loras=tuple(comfy.prompt_loras(_text(doc.get("prompt")))))


def read_easydiffusion(doc: dict[str, Any], origin: str) -> GenerationInfo:
    return GenerationInfo(
        prompt=_text(doc.get("prompt")), negative_prompt=_text(doc.get("negative_prompt")), seed=_int(doc.get("seed")),
        settings=_scalars(doc), source="json", generator="Easy Diffusion", reader=f"easydiffusion-json ({origin})",
        steps=_int(doc.get("num_inference_steps")), sampler=_str(doc.get("sampler_name")),
        cfg=_float(doc.get("guidance_scale")), width=_int(doc.get("width")), height=_int(doc.get("height")),
        model=_str(doc.get("use_stable_diffusion_model")))


def read_draw_things(doc: dict[str, Any], origin: str) -> GenerationInfo:
    size = None
    if isinstance(doc.get("size"), str):
        m = re.match(r"\s*(\d+)\s*x\s*(\d+)", doc["size"])
        size = (int(m.group(1)), int(m.group(2))) if m else None
    prompt = _text(doc.get("c"))
    return GenerationInfo(
        prompt=prompt, negative_prompt=_text(doc.get("uc")), seed=_int(doc.get("seed")), settings=_scalars(doc),
        source="json", generator="Draw Things", reader=f"draw-things-json ({origin})", steps=_int(doc.get("steps")),
        sampler=_str(doc.get("sampler")), cfg=_float(doc.get("scale")), width=size[0] if size else None,
        height=size[1] if size else None, model=_str(doc.get("model")), loras=tuple(comfy.prompt_loras(prompt)))


_XMP_COMMENT = re.compile(r"<exif:UserComment>.*?<rdf:li[^>]*>(.*?)</rdf:li>", re.S)


def _xmp_user_comment(xmp: str) -> str:
    m = _XMP_COMMENT.search(xmp or "")
    if not m:
        return ""
    import html

    return html.unescape(m.group(1)).strip()


def read_tensorart(doc: dict[str, Any], fields: Fields) -> GenerationInfo:
    base = doc.get("baseModel") if isinstance(doc.get("baseModel"), dict) else {}
    graph = comfy.read_api_graph(comfy.parse_graph_text(fields.get("prompt")))
    seed = _int(doc.get("seed"))
    if (seed is None or seed < 0) and graph is not None:
        seed = graph.seed
    loras = [Lora(str(m.get("modelFileName") or m.get("label")), _float(m.get("weight")))
             for m in doc.get("models", []) if isinstance(m, dict) and str(m.get("type", "")).upper() == "LORA"] \
        if isinstance(doc.get("models"), list) else []
    return GenerationInfo(
        prompt=_text(doc.get("prompt")), negative_prompt=_text(doc.get("negativePrompt")), seed=seed,
        settings=_scalars(doc), source="json", generator="TensorArt",
        reader=f"tensorart-json ({fields.where('generation_data')})",
        steps=_int(doc.get("steps")), sampler=_str(doc.get("ksamplerName")) or _str(doc.get("samplerName")),
        scheduler=_str(doc.get("schedule")), cfg=_float(doc.get("cfgScale")), width=_int(doc.get("width")),
        height=_int(doc.get("height")), model=_str(base.get("modelFileName")) or _str(base.get("label")),
        loras=tuple(loras))


def read_stability_matrix(doc: dict[str, Any], fields: Fields) -> GenerationInfo:
    return GenerationInfo(
        prompt=_text(doc.get("PositivePrompt")).replace("\r\n", "\n"),
        negative_prompt=_text(doc.get("NegativePrompt")).replace("\r\n", "\n"), seed=_int(doc.get("Seed")),
        settings=_scalars(doc), source="json", generator="Stability Matrix",
        reader=f"stability-matrix-json ({fields.where('parameters-json')})", steps=_int(doc.get("Steps")),
        sampler=_str(doc.get("Sampler")), cfg=_float(doc.get("CfgScale")), width=_int(doc.get("Width")),
        height=_int(doc.get("Height")), model=_str(doc.get("ModelName")),
        loras=tuple(comfy.prompt_loras(_text(doc.get("PositivePrompt")))))


def read_novelai(fields: Fields) -> GenerationInfo | None:
    doc = _loads(fields.get("Comment"))
    if not isinstance(doc, dict):
        return None
    prompt = _text(doc.get("prompt")) or _text(fields.get("Description"))
    v4 = doc.get("v4_prompt")
    if not prompt and isinstance(v4, dict) and isinstance(v4.get("caption"), dict):
        prompt = _text(v4["caption"].get("base_caption"))
    negative = _text(doc.get("uc"))
    v4n = doc.get("v4_negative_prompt")
    if not negative and isinstance(v4n, dict) and isinstance(v4n.get("caption"), dict):
        negative = _text(v4n["caption"].get("base_caption"))
    source = fields.get("Source") or fields.get("exif_Model") or fields.get("exif_Software")
    return GenerationInfo(
        prompt=prompt, negative_prompt=negative, seed=_int(doc.get("seed")), settings=_scalars(doc),
        source="novelai", generator="NovelAI", reader=f"novelai-json ({fields.where('Comment')})",
        steps=_int(doc.get("steps")), sampler=_str(doc.get("sampler")), scheduler=_str(doc.get("noise_schedule")),
        cfg=_float(doc.get("scale")), width=_int(doc.get("width")), height=_int(doc.get("height")),
        model=source.strip() if isinstance(source, str) and source.strip() else None)


def _split_invoke_prompt(text: str) -> tuple[str, str]:
    """InvokeAI 2.x: ``positive [negative] [more negative]``."""
    negatives = re.findall(r"\[([^\[\]]*)\]", text)
    positive = re.sub(r"\[[^\[\]]*\]", "", text)
    return re.sub(r"\s{2,}", " ", positive).strip(), ", ".join(n.strip() for n in negatives if n.strip())


def read_invokeai(fields: Fields) -> GenerationInfo | None:
    doc = _loads(fields.get("invokeai_metadata"))
    if isinstance(doc, dict):
        model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
        loras = []
        for item in doc.get("loras") or []:
            if isinstance(item, dict):
                ref = item.get("lora") or item.get("model") or {}
                name = ref.get("model_name") or ref.get("name") if isinstance(ref, dict) else None
                if isinstance(name, str):
                    loras.append(Lora(name, _float(item.get("weight"))))
        version = doc.get("app_version")
        return GenerationInfo(
            prompt=_text(doc.get("positive_prompt")), negative_prompt=_text(doc.get("negative_prompt")),
            seed=_int(doc.get("seed")), settings=_scalars(doc), source="invokeai",
            generator="InvokeAI" + (f" {version}" if isinstance(version, str) else ""),
            reader=f"invokeai-metadata ({fields.where('invokeai_metadata')})", steps=_int(doc.get("steps")),
            sampler=_str(doc.get("scheduler")), cfg=_float(doc.get("cfg_scale")), width=_int(doc.get("width")),
            height=_int(doc.get("height")), model=_str(model.get("model_name")) or _str(model.get("name")),
            loras=tuple(loras))
    doc = _loads(fields.get("sd-metadata"))
    if isinstance(doc, dict) and isinstance(doc.get("image"), dict):
        image = doc["image"]
        prompt = image.get("prompt")
        if isinstance(prompt, list):
            prompt = " ".join(p["prompt"] for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt"), str))
        positive, negative = _split_invoke_prompt(prompt if isinstance(prompt, str) else "")
        version = doc.get("app_version")
        return GenerationInfo(
            prompt=positive, negative_prompt=negative, seed=_int(image.get("seed")), settings=_scalars(image),
            source="invokeai", generator="InvokeAI" + (f" {version}" if isinstance(version, str) else ""),
            reader=f"invokeai-sd-metadata ({fields.where('sd-metadata')})", steps=_int(image.get("steps")),
            sampler=_str(image.get("sampler")), cfg=_float(image.get("cfg_scale")), width=_int(image.get("width")),
            height=_int(image.get("height")), model=_str(doc.get("model_weights")))
    dream = fields.get("Dream")
    if dream and len(dream) < 64 * 1024:
        return read_dream(dream, fields.where("Dream"))
    if "invokeai_graph" in fields.values:
        return read_invokeai_graph(_loads(fields.get("invokeai_graph")), fields.where("invokeai_graph"))
    return None


def read_invokeai_graph(doc: Any, origin: str) -> GenerationInfo | None:
    """InvokeAI's ``invokeai_graph`` (nodes + field-level edges), for files that have no
    ``invokeai_metadata``: the denoise node's conditionings are followed through collect
    nodes to the compel prompt nodes and their string inputs."""
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), dict) or not isinstance(doc.get("edges"), list):
        return None
    nodes = {str(k): v for k, v in doc["nodes"].items() if isinstance(v, dict)}
    if len(nodes) > 5000:
        return None
    incoming: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for edge in doc["edges"]:
        try:
            src, dst = edge["source"], edge["destination"]
            key = (str(dst["node_id"]), str(dst["field"]))
            incoming.setdefault(key, []).append((str(src["node_id"]), str(src["field"])))
        except (KeyError, TypeError):
            continue

    def field(nid: str, name: str, depth: int = 0) -> Any:
        if depth > 32 or nid not in nodes:
            return None
        for src, src_field in incoming.get((nid, name), [])[:1]:
            got = field(src, src_field, depth + 1)
            if got is not None:
                return got
        return nodes[nid].get(name)

    def texts(nid: str, depth: int = 0) -> list[str]:
        if depth > 32 or nid not in nodes:
            return []
        node = nodes[nid]
        if "compel" in str(node.get("type", "")) or "prompt" in node:
            text = field(nid, "prompt")
            return [text] if isinstance(text, str) and text.strip() else []
        out: list[str] = []
        for (dst, _name), sources in incoming.items():
            if dst == nid:
                for src, _f in sources:
                    out += texts(src, depth + 1)
        return out

    denoise = [nid for nid, n in nodes.items() if "denoise" in str(n.get("type", ""))]
    if not denoise:
        return None
    nid = denoise[0]
    pos = [t for src, _ in incoming.get((nid, "positive_conditioning"), []) for t in texts(src)]
    neg = [t for src, _ in incoming.get((nid, "negative_conditioning"), []) for t in texts(src)]
    noise = next((src for src, _ in incoming.get((nid, "noise"), [])), None)
    model = next((n.get("model") for n in nodes.values() if "model_loader" in str(n.get("type", ""))), None)
    model_name = (model.get("name") or model.get("model_name")) if isinstance(model, dict) else None
    prompt = ", ".join(t.strip() for t in pos)
    return GenerationInfo(
        prompt=prompt, negative_prompt=", ".join(t.strip() for t in neg),
        seed=_int(field(noise, "seed")) if noise else None, source="invokeai", generator="InvokeAI",
        reader=f"invokeai-graph ({origin})", steps=_int(field(nid, "steps")), sampler=_str(field(nid, "scheduler")),
        cfg=_float(field(nid, "cfg_scale")), width=_int(field(noise, "width")) if noise else None,
        height=_int(field(noise, "height")) if noise else None, model=_str(model_name),
        note="" if prompt else "InvokeAI graph: no prompt text reaches the denoise node: no prompt inherited")


_DREAM_FLAGS = {"-s": "steps", "--steps": "steps", "-S": "seed", "--seed": "seed", "-W": "width", "--width": "width",
                "-H": "height", "--height": "height", "-C": "cfg", "--cfg_scale": "cfg", "-A": "sampler",
                "--sampler": "sampler", "-m": "model", "--model": "model"}


def read_dream(text: str, origin: str) -> GenerationInfo | None:
    """InvokeAI 1.x/2.x ``Dream``: ``"prompt [negative]" -s 50 -S 1 -W 512 -H 768 -C 7.5 -A k_lms``."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        return None
    if not tokens:
        return None
    values: dict[str, str] = {}
    words: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _DREAM_FLAGS and i + 1 < len(tokens):
            values[_DREAM_FLAGS[tok]] = tokens[i + 1]
            i += 2
            continue
        if tok.startswith("-") and not words:
            i += 1
            continue
        if not tok.startswith("-") and not values:
            words.append(tok)
        i += 1
    positive, negative = _split_invoke_prompt(" ".join(words))
    return GenerationInfo(
        prompt=positive, negative_prompt=negative, seed=_int(values.get("seed")), settings=values, source="invokeai",
        generator="InvokeAI", reader=f"invokeai-dream ({origin})", steps=_int(values.get("steps")),
        sampler=values.get("sampler"), cfg=_float(values.get("cfg")), width=_int(values.get("width")),
        height=_int(values.get("height")), model=values.get("model"))


# --------------------------------------------------------------------------- dispatch


def _unknown(note: str, generator: str | None = None) -> GenerationInfo:
    return GenerationInfo(generator=generator, note=note)


def _json_reader(doc: Any, origin: str, fields: Fields) -> GenerationInfo | None:
    if not isinstance(doc, dict):
        return None
    if "sui_image_params" in doc:
        return read_swarmui(doc, origin)
    if doc.get("software") == "RuinedFooocus" or ("Prompt" in doc and "Negative" in doc and "base_model_name" in doc):
        return read_ruined_fooocus(doc, origin)
    if "fooocus_scheme" in fields.values or doc.get("metadata_scheme") == "fooocus" or \
            ("full_prompt" in doc and "base_model" in doc) or str(doc.get("version", "")).startswith("Fooocus"):
        return read_fooocus(doc, origin)
    if "use_stable_diffusion_model" in doc:
        return read_easydiffusion(doc, origin)
    if "c" in doc and "uc" in doc and ("sampler" in doc or "seed" in doc):
        return read_draw_things(doc, origin)
    if "prompt" in doc and ("Model" in doc or "resolution" in doc) and "num_inference_steps" in doc:
        return read_hf_space(doc, origin)
    return None


def read_info(fields: Fields) -> GenerationInfo:
    """The generation info ``fields`` carry, or an empty record with a one-line note."""
    values = fields.values
    if not values:
        return _unknown("no generation metadata in the file: nothing inherited")
    params = values.get("parameters", "")
    params_doc = _loads(params) if params.lstrip().startswith("{") else None

    # 1. unique markers
    if "invokeai_metadata" in values or "sd-metadata" in values or "Dream" in values or "invokeai_graph" in values:
        got = read_invokeai(fields)
        if got is not None:
            return got
    if (values.get("Software", "").startswith("NovelAI") or values.get("exif_Software", "").startswith("NovelAI")
            or (values.get("Comment", "").lstrip().startswith("{") and '"uc"' in values.get("Comment", "")
                and '"steps"' in values.get("Comment", ""))):
        got = read_novelai(fields)
        if got is not None:
            return got
    if isinstance(params_doc, dict) and "sui_image_params" in params_doc:
        return read_swarmui(params_doc, fields.where("parameters"))
    if isinstance(params_doc, dict) and "extraMetadata" in params_doc:
        return read_civitai(params_doc, fields.where("parameters"))
    if '"extraMetadata"' in values.get("prompt", ""):
        doc = _loads(values["prompt"])
        if isinstance(doc, dict):
            return read_civitai(doc, fields.where("prompt"))
    if "generation_data" in values:
        doc = _loads(values["generation_data"])
        if isinstance(doc, dict):
            return read_tensorart(doc, fields)
    if "parameters-json" in values and not looks_like_infotext(params):
        doc = _loads(values["parameters-json"])
        if isinstance(doc, dict):
            return read_stability_matrix(doc, fields)

    if "use_stable_diffusion_model" in values:  # Easy Diffusion: one PNG text chunk per field
        return read_easydiffusion(dict(values), fields.where("use_stable_diffusion_model"))
    xmp_comment = _xmp_user_comment(values.get("XML:com.adobe.xmp", ""))
    if xmp_comment.startswith("{"):
        doc = _loads(xmp_comment)
        got = _json_reader(doc, f"{fields.where('XML:com.adobe.xmp')} UserComment", fields)
        if got is not None:
            return got

    # 2. A1111 infotext (also what ComfyUI saver nodes, Civitai, Fooocus' A1111 scheme,
    #    Stability Matrix write); it names the prompt the user meant, so it goes first.
    for key in ("parameters", "jpeg_comment", "exif_ImageDescription"):
        text = values.get(key, "")
        if text and looks_like_infotext(text):
            if values.get("prompt", "").lstrip().startswith("{") and (
                    "workflow" in values or "ComfyUI" in a1111_read(text).settings.get("Version", "")):
                # a ComfyUI saver node's A1111 text next to the graph that really ran: the
                # graph wins when its prompt can be followed (savers write "unknown" otherwise)
                graph = read_comfyui(fields)
                if graph is not None and graph.found and graph.prompt:
                    return graph
            return read_a1111(text, fields, fields.where(key))

    # 3. JSON documents in parameters / UserComment
    if params_doc is not None:
        got = _json_reader(params_doc, fields.where("parameters"), fields)
        if got is not None:
            return got

    # 4. ComfyUI graphs (also Civitai's orchestration graph)
    if values.get("prompt") or values.get("workflow"):
        got = read_comfyui(fields)
        if got is not None:
            return got

    # 5. nothing we know
    if params:
        what = "a JSON document of an unknown generator" if params_doc is not None else \
            "text that is not an A1111 infotext (no settings line)"
        return _unknown(f"{fields.where('parameters')} holds {what}: nothing inherited")
    known = sorted(fields.where(k) for k in values)
    return _unknown(f"no generation metadata that autofix can read (found {', '.join(known[:6])}): nothing inherited")
