"""Every "install X" hint autofix prints is a command that works in the running environment."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from autofix import extras
from autofix.errors import BackendUnavailable
from autofix.registry import Registry

EXTRA_MODULES = {
    "sd": ["torch", "diffusers", "transformers", "accelerate", "safetensors"],
    "yolo": ["torch", "torchvision", "ultralytics"],
    "sam": ["torch", "torchvision", "segment_anything"],
    "ray": ["ray"],
}


def _pip_part(hint: str) -> list[str]:
    return shlex.split(hint.split(" (or, in this checkout:")[0])


def test_extras_are_declared_and_expand():
    reqs = {e: extras.extra_requirements(e) for e in (*EXTRA_MODULES, "all")}
    assert all(reqs[e] for e in EXTRA_MODULES), reqs
    assert set(reqs["all"]) == set().union(*(reqs[e] for e in EXTRA_MODULES))
    assert extras.extra_requirements("detect") == []  # kept as an empty alias


def test_hint_installs_into_this_interpreter():
    argv = _pip_part(extras.install_command("sd"))
    assert argv[:4] == [sys.executable, "-m", "pip", "install"]
    assert "diffusers>=0.30" in argv and not any(a.startswith("autofix[") for a in argv)
    assert _pip_part(extras.install_command(None, ["ai_edge_litert"]))[4:] == ["ai-edge-litert"]


def test_hint_under_pipx(monkeypatch):
    monkeypatch.setattr(sys, "prefix", str(Path.home() / ".local/share/pipx/venvs/autofix"))
    assert extras.install_command("ray").startswith("pipx inject autofix 'ray>=2.40'")


def test_registry_error_carries_the_command():
    reg: Registry[object] = Registry("detector")
    reg.register("x", requires=("no_such_module_autofix",), extra="yolo")(lambda: object())
    with pytest.raises(BackendUnavailable) as info:
        reg.build("x")
    assert f"{sys.executable} -m pip install torch torchvision" in str(info.value)


@pytest.mark.parametrize("extra", sorted(EXTRA_MODULES))
def test_hint_command_resolves(extra):
    """Run the hint (as a dry run) where the extra is installed: pip accepts it as is."""
    missing = [m for m in EXTRA_MODULES[extra] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{extra} not installed here ({', '.join(missing)}); the dry run would download it")
    argv = _pip_part(extras.install_command(extra))
    res = subprocess.run([*argv, "--dry-run", "--no-index", "-q"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
