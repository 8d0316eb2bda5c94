"""Model manifest, lookup, verification, pickle policy and download (no network, no torch)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from autofix.modelfiles import store as modelstore
from autofix.modelfiles import trust
from autofix.errors import ConfigError, ModelNotFound, UnsafeModelFile

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty search folders: cwd without models/, own cache, no AUTOFIX_* settings."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for key in ("AUTOFIX_MODELS", "AUTOFIX_ALLOW_PICKLE", "AUTOFIX_MANIFEST"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def _write_manifest(path: Path, models: list[dict]) -> Path:
    path.write_text(json.dumps({"version": 1, "models": models}))
    return path


@pytest.fixture
def own_manifest(isolated, monkeypatch):
    """A manifest of two small files: one with a known hash, one with none."""
    payload = b"trusted weights"
    src = isolated / "src"
    src.mkdir()
    (src / "good.pt").write_bytes(payload)
    models = [
        {
            "name": "good",
            "file": "good.pt",
            "task": "yolo",
            "url": (src / "good.pt").as_uri(),
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        },
        {"name": "nohash", "file": "nohash.pt", "task": "yolo", "url": None, "size": None, "sha256": None},
    ]
    manifest = _write_manifest(isolated / "manifest.json", models)
    monkeypatch.setenv("AUTOFIX_MANIFEST", str(manifest))
    return src


# ---------------------------------------------------------------- shipped manifest


def test_shipped_manifest_is_well_formed():
    entries = modelstore.load_manifest()
    names = {e.name for e in entries}
    expected = {"face_yolov8n", "face_yolov8s", "hand_yolov8n", "person_yolov8n-seg"}
    assert expected | {"sam_vit_b", "sam_vit_l", "sam_vit_h", "sd15_inpainting"} <= names
    for e in entries:
        assert e.task in ("yolo", "sam", "inpaint")
        assert e.sha256 is None or HEX64.match(e.sha256), e.name
        assert all(HEX64.match(h) for h in e.previous_sha256), e.name
        assert e.url and e.url.startswith("https://"), e.name
        assert e.size and e.size > 1_000_000, e.name
    hashes = [h for e in entries for h in e.trusted_hashes]
    assert len(hashes) == len(set(hashes)), "a hash is listed twice"


def test_find_entry_by_name_file_and_alias():
    assert modelstore.find_entry("face_yolov8n").file == "face_yolov8n.pt"
    assert modelstore.find_entry("face_yolov8n.pt").name == "face_yolov8n"
    assert modelstore.find_entry("vit_b").file == "sam_vit_b_01ec64.pth"
    assert modelstore.find_entry("vit_b", task="sam").name == "sam_vit_b"
    assert modelstore.find_entry("vit_b", task="yolo") is None
    assert modelstore.find_entry("nope.pt") is None


# ---------------------------------------------------------------- folders and resolve


def test_search_order_and_models_dir(isolated, monkeypatch):
    cache = isolated / "cache" / "autofix" / "models"
    assert modelstore.models_dir() == cache
    (Path.cwd() / "models").mkdir()
    assert modelstore.models_dir() == Path.cwd() / "models"
    first, second = isolated / "a", isolated / "b"
    monkeypatch.setenv("AUTOFIX_MODELS", f"{first}{os.pathsep}{second}")
    assert modelstore.search_dirs() == [first, second, Path.cwd() / "models", cache]
    assert modelstore.models_dir() == first


def test_resolve_prefers_earlier_folders(isolated, monkeypatch):
    env_dir, local = isolated / "env", Path.cwd() / "models"
    cache = isolated / "cache" / "autofix" / "models"
    for d in (env_dir, local, cache):
        d.mkdir(parents=True)
    (cache / "face_yolov8n.pt").write_bytes(b"c")
    assert modelstore.resolve("face_yolov8n.pt") == (cache / "face_yolov8n.pt").resolve()
    (local / "face_yolov8n.pt").write_bytes(b"l")
    assert modelstore.resolve("face_yolov8n") == (local / "face_yolov8n.pt").resolve()
    monkeypatch.setenv("AUTOFIX_MODELS", str(env_dir))
    (env_dir / "face_yolov8n.pt").write_bytes(b"e")
    assert modelstore.resolve("face_yolov8n.pt", task="yolo") == (env_dir / "face_yolov8n.pt").resolve()


def test_resolve_alias_and_explicit_path(isolated, monkeypatch):
    monkeypatch.setenv("AUTOFIX_MODELS", str(isolated / "m"))
    (isolated / "m").mkdir()
    ckpt = isolated / "m" / "sam_vit_b_01ec64.pth"
    ckpt.write_bytes(b"x")
    assert modelstore.resolve("vit_b", task="sam") == ckpt.resolve()
    other = isolated / "elsewhere.pt"
    other.write_bytes(b"y")
    assert modelstore.resolve(str(other)) == other.resolve()
    assert modelstore.resolve(other) == other.resolve()


def test_missing_known_model_says_where_and_how(isolated):
    with pytest.raises(ModelNotFound) as err:
        modelstore.resolve("face_yolov8n.pt", task="yolo")
    msg = str(err.value)
    where = isolated / "cache" / "autofix" / "models" / "face_yolov8n.pt"
    assert f"put face_yolov8n.pt at {where}" in msg
    assert "autofix models pull face_yolov8n" in msg
    assert "\n" not in msg


def test_missing_unknown_model_and_missing_path(isolated):
    with pytest.raises(ModelNotFound, match=r"put mine\.pt at .*mine\.pt \(searched"):
        modelstore.resolve("mine.pt")
    with pytest.raises(ModelNotFound, match=r"model file models/mine\.pt not found \(looked at /"):
        modelstore.resolve("models/mine.pt")


# ---------------------------------------------------------------- verify


def test_verify_statuses(own_manifest, isolated, monkeypatch):
    store = isolated / "store"
    store.mkdir()
    monkeypatch.setenv("AUTOFIX_MODELS", str(store))
    assert modelstore.verify("good").status == "missing"
    assert "autofix models pull good" in modelstore.verify("good").message
    (store / "good.pt").write_bytes(b"trusted weights")
    res = modelstore.verify("good")
    assert res.ok and res.entry.name == "good" and res.path == (store / "good.pt").resolve()
    (store / "good.pt").write_bytes(b"tampered weights")
    res = modelstore.verify("good")
    assert res.status == "mismatch" and "does not match good" in res.message
    (store / "nohash.pt").write_bytes(b"whatever")
    res = modelstore.verify("nohash")
    assert res.status == "unknown hash" and "no published sha256" in res.message
    loose = isolated / "loose.pt"
    loose.write_bytes(b"zzz")
    assert modelstore.verify(str(loose)).status == "unknown hash"
    assert modelstore.verify(str(isolated / "absent.pt")).status == "missing"


def test_verify_by_path_recognises_renamed_file(own_manifest, isolated):
    renamed = isolated / "renamed.bin"
    renamed.write_bytes(b"trusted weights")
    res = modelstore.verify(renamed)
    assert res.ok and res.entry.name == "good"


def test_models_table(own_manifest, isolated, monkeypatch):
    monkeypatch.setenv("AUTOFIX_MODELS", str(own_manifest))
    rows = {r["name"]: r for r in modelstore.models_table()}
    assert rows["good"]["status"] == "present" and rows["nohash"]["status"] == "missing"
    assert set(rows["good"]) == {"name", "file", "task", "size", "status", "path", "url", "summary"}
    assert {r["name"]: r["status"] for r in modelstore.models_table(verify_hashes=True)}["good"] == "ok"


def test_bad_manifest_is_one_line_error(isolated, monkeypatch):
    bad = isolated / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("AUTOFIX_MANIFEST", str(bad))
    with pytest.raises(ConfigError, match="not a valid model manifest"):
        modelstore.load_manifest()


# ---------------------------------------------------------------- pickle policy


def test_check_pickle_policy(own_manifest, isolated, monkeypatch):
    unknown = isolated / "unknown.pt"
    unknown.write_bytes(b"not in manifest")
    with pytest.raises(UnsafeModelFile, match=r"unknown\.pt: refusing to load a pickle .*--allow-pickle"):
        trust.check_pickle(unknown)
    trust.check_pickle(unknown, allow_pickle=True)
    monkeypatch.setenv("AUTOFIX_ALLOW_PICKLE", "1")
    trust.check_pickle(unknown)
    with pytest.raises(UnsafeModelFile):
        trust.check_pickle(unknown, allow_pickle=False)  # explicit beats the environment
    monkeypatch.delenv("AUTOFIX_ALLOW_PICKLE")
    trusted = isolated / "copy.pt"
    trusted.write_bytes(b"trusted weights")
    assert trust.is_trusted_pickle(trusted)
    trust.check_pickle(trusted)
    safe = isolated / "weights.safetensors"
    safe.write_bytes(b"anything")
    trust.check_pickle(safe)


@pytest.mark.parametrize("value, expected", [("1", True), ("yes", True), ("TRUE", True), ("0", False), ("", False)])
def test_pickle_allowed_env(monkeypatch, value, expected):
    monkeypatch.setenv("AUTOFIX_ALLOW_PICKLE", value)
    assert trust.pickle_allowed() is expected


# ---------------------------------------------------------------- pull


def test_pull_downloads_checks_and_replaces(own_manifest, isolated):
    dest = isolated / "dl"
    seen = []
    path = modelstore.pull("good", dest, progress=lambda done, total: seen.append(done))
    assert path == (dest / "good.pt").resolve() and path.read_bytes() == b"trusted weights"
    assert seen and seen[-1] == len(b"trusted weights")
    assert [p.name for p in dest.iterdir()] == ["good.pt"]
    (own_manifest / "good.pt").unlink()  # already there with the right hash: no download needed
    assert modelstore.pull("good", dest) == path


def test_pull_rejects_wrong_hash_and_keeps_nothing(own_manifest, isolated):
    (own_manifest / "good.pt").write_bytes(b"swapped on the server")
    dest = isolated / "dl"
    with pytest.raises(UnsafeModelFile, match="not saved"):
        modelstore.pull("good", dest)
    assert list(dest.iterdir()) == []


def test_pull_without_network_is_clear(own_manifest, isolated):
    (own_manifest / "good.pt").unlink()  # the file:// URL now fails like an unreachable host
    dest = isolated / "dl"
    with pytest.raises(ModelNotFound, match=r"cannot download good\.pt from file:.*put it at .*dl/good\.pt"):
        modelstore.pull("good", dest)
    assert list(dest.iterdir()) == []


def test_pull_refuses_unknown_or_unhashed(own_manifest, isolated):
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        modelstore.pull("nope", isolated)
    with pytest.raises(ConfigError, match="no published sha256"):
        modelstore.pull("nohash", isolated)
