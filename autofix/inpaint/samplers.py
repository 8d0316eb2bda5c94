"""Sampler names from A1111/Forge, ComfyUI, InvokeAI, NovelAI and SwarmUI mapped to
diffusers schedulers.

A name is read as a *sampler* plus a *sigma schedule*: ``"DPM++ 2M Karras"``,
``"dpmpp_2m"`` + ``"karras"``, ``"euler_ancestral karras"``, ``"k_euler"``... The canonical key is
``sampler`` or ``sampler_schedule`` (``"dpm++_2m_karras"``); :data:`SCHEDULERS` maps every
key to ``(diffusers class name, config overrides)``, following diffusers' own A1111 table:

=================  ====================================  ==========================
A1111              diffusers                             key
=================  ====================================  ==========================
DPM++ 2M           DPMSolverMultistepScheduler           dpm++_2m
DPM++ 2M SDE       … algorithm_type="sde-dpmsolver++"    dpm++_2m_sde
DPM++ 3M SDE       … sde-dpmsolver++, solver_order=3     dpm++_3m_sde
DPM++ 2S a         DPMSolverSinglestepScheduler          dpm++_2s_a   (diffusers has no ancestral 2S: closest)
DPM++ SDE          DPMSolverSDEScheduler (torchsde)      dpm++_sde
DPM2 / DPM2 a      KDPM2(Ancestral)DiscreteScheduler     dpm2 / dpm2_a
Euler / Euler a    Euler(Ancestral)DiscreteScheduler     euler / euler_a
LMS / Heun         LMSDiscrete / HeunDiscrete            lms / heun
DDIM / PLMS        DDIMScheduler / PNDMScheduler         ddim / pndm
UniPC / LCM        UniPCMultistep / LCMScheduler         unipc / lcm
=================  ====================================  ==========================

Schedules: ``Karras`` → ``use_karras_sigmas``, ``Exponential`` → ``use_exponential_sigmas``,
``Beta`` → ``use_beta_sigmas`` (where the class has them), ``SGM Uniform`` →
``timestep_spacing="trailing"``; ``Automatic``/``Normal``/``Simple``/``Uniform`` keep the
sampler's default. Names with no diffusers equivalent (``DPM fast``, ``DPM adaptive``,
``Restart``, a Karras schedule on Euler a/DDIM/...) are refused with the list of valid ones,
never silently swapped.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from ..errors import ConfigError

_SIGMAS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")

# sampler key -> (class, overrides, schedules it supports besides the default)
_BASE: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "euler": ("EulerDiscreteScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}, ("sgm_uniform",)),
    "lms": ("LMSDiscreteScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "heun": ("HeunDiscreteScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "dpm2": ("KDPM2DiscreteScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "dpm2_a": ("KDPM2AncestralDiscreteScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "dpm++_2s_a": ("DPMSolverSinglestepScheduler", {}, ("karras", "exponential", "beta")),
    "dpm++_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": False},
                 ("karras", "exponential", "beta", "sgm_uniform")),
    "dpm++_sde": ("DPMSolverSDEScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "dpm++_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"},
                     ("karras", "exponential", "beta", "sgm_uniform")),
    "dpm++_2m_sde_heun": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"},
                          ("karras", "exponential", "beta", "sgm_uniform")),
    "dpm++_3m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
                     ("karras", "exponential", "beta", "sgm_uniform")),
    "ddim": ("DDIMScheduler", {}, ("sgm_uniform",)),
    "ddpm": ("DDPMScheduler", {}, ("sgm_uniform",)),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}, ("sgm_uniform",)),
    "unipc": ("UniPCMultistepScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "deis": ("DEISMultistepScheduler", {}, ("karras", "exponential", "beta", "sgm_uniform")),
    "lcm": ("LCMScheduler", {}, ()),  # LCMScheduler picks its own timesteps (ignores timestep_spacing)
}
_SCHEDULE_OVERRIDES = {"karras": {"use_karras_sigmas": True}, "exponential": {"use_exponential_sigmas": True},
                       "beta": {"use_beta_sigmas": True}, "sgm_uniform": {"timestep_spacing": "trailing"}}


def _table() -> dict[str, tuple[str, dict[str, Any]]]:
    table: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, (cls, overrides, schedules) in _BASE.items():
        table[key] = (cls, dict(overrides))
        for sched in schedules:
            table[f"{key}_{sched}"] = (cls, {**overrides, **_SCHEDULE_OVERRIDES[sched]})
    return table


#: Scheduler keys → (diffusers class name, config overrides).
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = _table()

# spellings of the samplers (after lower-casing, "+"/"-"/spaces/dots to "_" and "pp" to "++")
_SAMPLER_ALIASES = {
    "euler": "euler", "k_euler": "euler", "euler_a": "euler_a", "euler_ancestral": "euler_a",
    "k_euler_a": "euler_a", "k_euler_ancestral": "euler_a", "eulera": "euler_a",
    "lms": "lms", "k_lms": "lms", "heun": "heun", "k_heun": "heun",
    "dpm2": "dpm2", "dpm_2": "dpm2", "k_dpm_2": "dpm2", "kdpm_2": "dpm2",
    "dpm2_a": "dpm2_a", "dpm_2_a": "dpm2_a", "dpm_2_ancestral": "dpm2_a", "k_dpm_2_a": "dpm2_a",
    "k_dpm_2_ancestral": "dpm2_a", "kdpm_2_a": "dpm2_a",
    "dpm++_2s_a": "dpm++_2s_a", "dpm++_2s_ancestral": "dpm++_2s_a", "k_dpm++_2s_ancestral": "dpm++_2s_a",
    "dpm++_2m": "dpm++_2m", "k_dpm++_2m": "dpm++_2m", "dpm_2m": "dpm++_2m",
    "dpm++_sde": "dpm++_sde", "dpm++_sde_gpu": "dpm++_sde", "k_dpm++_sde": "dpm++_sde",
    "dpm++_2m_sde": "dpm++_2m_sde", "dpm++_2m_sde_gpu": "dpm++_2m_sde", "dpm++_2m_sde_heun": "dpm++_2m_sde_heun",
    "dpm++_2m_sde_heun_gpu": "dpm++_2m_sde_heun",
    "dpm++_3m_sde": "dpm++_3m_sde", "dpm++_3m_sde_gpu": "dpm++_3m_sde",
    "ddim": "ddim", "ddim_v3": "ddim", "ddpm": "ddpm", "plms": "pndm", "pndm": "pndm",
    "unipc": "unipc", "uni_pc": "unipc", "uni_pc_bh2": "unipc", "deis": "deis", "lcm": "lcm",
}
_SCHEDULE_ALIASES = {
    "karras": "karras", "k": "karras", "exponential": "exponential", "beta": "beta",
    "sgm_uniform": "sgm_uniform", "sgm": "sgm_uniform",
    "automatic": "", "normal": "", "simple": "", "uniform": "", "default": "", "native": "", "ddim_uniform": "",
    "discrete": "",
}


def _normalise(text: str) -> str:
    key = str(text).strip().lower()
    key = key.replace("dpmpp", "dpm++").replace("+ +", "++")
    key = re.sub(r"[\s\-./()]+", "_", key).strip("_")
    key = re.sub(r"^(?:sample|k_sample)_", "", key)  # old ComfyUI names: sample_dpmpp_2m
    key = key.replace("dpm_++", "dpm++").replace("dpm++_", "dpm++_")
    return re.sub(r"_+", "_", key)


def _split(key: str) -> tuple[str, str] | None:
    """``(sampler, schedule)`` for a normalised name, or ``None``."""
    if key in SCHEDULERS:
        return (key, "") if key in _BASE else _from_table(key)
    if key in _SAMPLER_ALIASES:
        return _SAMPLER_ALIASES[key], ""
    # longest sampler prefix, then a known schedule suffix
    for cut in range(len(key), 0, -1):
        head, tail = key[:cut].rstrip("_"), key[cut:].lstrip("_")
        if head in _SAMPLER_ALIASES and tail in _SCHEDULE_ALIASES:
            return _SAMPLER_ALIASES[head], _SCHEDULE_ALIASES[tail]
        if head in _BASE and tail in _SCHEDULE_ALIASES:
            return head, _SCHEDULE_ALIASES[tail]
    return None


def _from_table(key: str) -> tuple[str, str]:
    for base in sorted(_BASE, key=len, reverse=True):
        if key.startswith(base + "_"):
            return base, key[len(base) + 1:]
    return key, ""


def scheduler_name(name: str | None, schedule: str | None = None, *, nearest: bool = False) -> str | None:
    """Canonical scheduler key for a sampler ``name`` in any generator's spelling (plus an
    optional separate ``schedule``, as A1111's "Schedule type" or ComfyUI's scheduler);
    ``None`` keeps the model's own. Raises :class:`ConfigError` (listing the valid names)
    for a name with no diffusers equivalent, and for ``DPM++ SDE`` without ``torchsde``. With
    ``nearest`` a schedule the sampler's diffusers class lacks (Euler a + Karras) falls back
    to the sampler's default schedule instead of raising (for inherited samplers, where the
    caller records the fallback)."""
    if name is None or not str(name).strip():
        return None
    if str(name).strip().lower() == "image":
        raise ConfigError("scheduler 'image' means the image's own sampler: resolve it from the image's metadata "
                          "first (autofix.meta.inherit.resolve_sampler)")
    split = _split(_normalise(name))
    if split is not None and schedule:
        extra = _SCHEDULE_ALIASES.get(_normalise(schedule))
        if extra is None:
            split = None
        elif extra and not split[1]:
            split = (split[0], extra)
    if split is None:
        raise ConfigError(f"unknown scheduler {name!r}" + (f" with schedule {schedule!r}" if schedule else "")
                          + f"; choose one of: {', '.join(SCHEDULERS)} (A1111, ComfyUI and InvokeAI spellings "
                          "work too, e.g. 'DPM++ 2M Karras', 'dpmpp_2m' with schedule 'karras')")
    base, sched = split
    key = f"{base}_{sched}" if sched else base
    if key not in SCHEDULERS and nearest:
        return base
    if key not in SCHEDULERS:
        raise ConfigError(f"scheduler {name!r}: diffusers' {_BASE[base][0]} has no {sched.replace('_', ' ')} "
                          f"schedule; choose one of: {', '.join(k for k in SCHEDULERS if k.startswith(base))}")
    if base == "dpm++_sde" and importlib.util.find_spec("torchsde") is None:
        raise ConfigError(f"scheduler {name!r} (DPMSolverSDEScheduler) needs the torchsde package: "
                          "pip install torchsde")
    return key
