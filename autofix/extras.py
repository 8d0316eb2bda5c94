"""Install hints that work: the exact command that adds a missing extra or package to the
environment autofix is running in.

autofix is installed from a checkout or a built wheel (``pip install .``, ``pipx install .``),
not from a package index, so ``pip install 'autofix[sd]'`` would not find it. The hint
installs the extra's own requirements (read from autofix's installed metadata, else from
the checkout's pyproject.toml) with this interpreter's pip, or ``pipx inject`` inside a
pipx environment; in a source checkout it also names ``scripts/install.sh``.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_SELF = re.compile(r"^autofix\[([^\]]+)\]")
#: Import names whose distribution is spelled differently.
DISTRIBUTIONS = {"ai_edge_litert": "ai-edge-litert", "cv2": "opencv-python-headless", "PIL": "pillow",
                 "yaml": "pyyaml", "segment_anything": "segment-anything", "skimage": "scikit-image"}


def _declared() -> list[str]:
    """autofix's requirement strings (``'name>=1; extra == "sd"'``)."""
    try:
        from importlib.metadata import PackageNotFoundError, requires

        return list(requires("autofix") or [])
    except PackageNotFoundError:
        pass
    pyproject = _checkout() / "pyproject.toml" if _checkout() else None
    if pyproject is None:
        return []
    try:
        import tomllib
    except ImportError:  # Python 3.10 without tomli: no fallback
        return []
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    out = list(project.get("dependencies", []))
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out += [f'{r}; extra == "{extra}"' for r in reqs]
    return out


def extra_requirements(extra: str) -> list[str]:
    """The requirements extra ``extra`` adds, nested ``autofix[...]`` extras expanded."""
    declared = _declared()
    out: list[str] = []

    def add(name: str, seen: set[str]) -> None:
        for req in declared:
            spec, _, marker = req.partition(";")
            match = _EXTRA_MARKER.search(marker)
            if not match or match.group(1) != name:
                continue
            nested = _SELF.match(spec.strip())
            if nested:
                for sub in nested.group(1).split(","):
                    if sub.strip() not in seen:
                        seen.add(sub.strip())
                        add(sub.strip(), seen)
            elif spec.strip() not in out:
                out.append(spec.strip())

    add(extra, {extra})
    return out


def _checkout() -> Path | None:
    """The source checkout autofix runs from, if any (has pyproject.toml and scripts/install.sh)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "scripts" / "install.sh").is_file() else None


def _in_pipx() -> bool:
    """Running from a pipx-managed venv (``python -m pip`` works there too, via pipx's shared pip)."""
    prefix = Path(sys.prefix)
    return (prefix / "pipx_metadata.json").is_file() or ("pipx" in prefix.parts and "venvs" in prefix.parts)


def install_command(extra: str | None = None, packages: tuple[str, ...] | list[str] = ()) -> str:
    """A command that installs ``extra`` (or ``packages``, import or distribution names) into
    the running environment."""
    reqs = extra_requirements(extra) if extra else []
    reqs += [DISTRIBUTIONS.get(p, p) for p in packages]
    if not reqs:
        reqs = [f"autofix[{extra}]"] if extra else []
    quoted = " ".join(shlex.quote(r) for r in reqs)
    if _in_pipx():
        command = f"pipx inject autofix {quoted}"
    else:
        command = f"{shlex.quote(sys.executable)} -m pip install {quoted}"
    root = _checkout()
    if root is not None and extra:
        flag = {"sd": "--sd", "ray": "--ray"}.get(extra, "--all")
        command += f" (or, in this checkout: bash {shlex.quote(str(root / 'scripts' / 'install.sh'))} {flag})"
    return command
