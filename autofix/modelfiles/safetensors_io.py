"""Read and write ``.safetensors`` files one tensor at a time.

File format (https://github.com/huggingface/safetensors): an 8-byte little-endian
unsigned length ``N``; ``N`` bytes of UTF-8 JSON, padded with spaces to a multiple of 8::

    {"<name>": {"dtype": "F16", "shape": [320, 4, 3, 3], "data_offsets": [begin, end]},
     ...,
     "__metadata__": {"<str>": "<str>"}}

then the raw little-endian (C-order) tensor bytes. Offsets are relative to the start of
the data and tile it without gaps.

``safetensors.torch.save_file`` needs every tensor in memory at once. Since the header
depends only on names, dtypes and shapes, :class:`StreamWriter` lays it out up front and
then takes tensors one by one, so writing a model costs one tensor of memory. It writes
to a temp file and renames it over the target at the end (:mod:`autofix.io.atomic`).
:class:`SafetensorsReader` reads a tensor with plain ``readinto`` (no mmap): pages it
reads stay in the OS page cache, not in this process's memory.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable


from ..errors import BackendUnavailable, SafetensorsError
from ..io.atomic import TMP_MARK, fsync_dir

if TYPE_CHECKING:  # pragma: no cover
    import torch

MAX_HEADER = 100_000_000  # same limit as the safetensors library

DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}
FLOAT_CODES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})


def require_torch() -> Any:
    """Import torch or raise :class:`BackendUnavailable` with the install hint."""
    try:
        import torch
    except ImportError:
        from ..registry import install_hint

        raise BackendUnavailable(f"model files need torch, which is not installed: {install_hint('sd')}") from None
    return torch


@functools.cache
def _code_to_torch() -> dict[str, "torch.dtype"]:
    torch = require_torch()
    names = {
        "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
        "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32",
        "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16",
        "U8": "uint8", "BOOL": "bool",
    }
    return {code: getattr(torch, name) for code, name in names.items() if hasattr(torch, name)}


def torch_dtype(code: str) -> "torch.dtype":
    """The torch dtype for a safetensors dtype code such as ``"F16"``."""
    try:
        return _code_to_torch()[code]
    except KeyError:
        raise SafetensorsError(f"unsupported safetensors dtype {code!r}") from None


def dtype_code(dtype: "torch.dtype") -> str:
    """The safetensors dtype code for a torch dtype (``torch.float16`` → ``"F16"``)."""
    for code, value in _code_to_torch().items():
        if value == dtype:
            return code
    raise SafetensorsError(f"dtype {dtype} cannot be stored in .safetensors")


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's safetensors dtype code and shape, known without reading its data."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = DTYPE_SIZES[self.dtype]
        for dim in self.shape:
            n *= dim
        return n

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_CODES


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_entry(path: Path, name: str, entry: Any, data_len: int) -> tuple[TensorInfo, int, int]:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise SafetensorsError(f"{path}: malformed header entry for {name!r} (needs dtype, shape, data_offsets)")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise SafetensorsError(f"{path}: tensor {name!r} has unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise SafetensorsError(f"{path}: tensor {name!r} has a malformed shape {shape!r}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(x) for x in offsets):
        raise SafetensorsError(f"{path}: tensor {name!r} has malformed data_offsets {offsets!r}")
    info, (begin, end) = TensorInfo(dtype, tuple(shape)), offsets
    if not begin <= end <= data_len or end - begin != info.nbytes:
        raise SafetensorsError(f"{path}: tensor {name!r} has offsets outside the file or of the wrong size")
    return info, begin, end


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SafetensorsError(f"tensor {key!r} is listed twice")
        out[key] = value
    return out


def _check_tiling(path: Path, entries: dict[str, tuple[TensorInfo, int, int]], data_len: int) -> None:
    """Tensor data must tile the data section: no overlaps, no gaps, nothing after it."""
    at = 0
    for name, (_, begin, end) in sorted(entries.items(), key=lambda kv: (kv[1][1], kv[1][2])):
        if begin != at:
            what = "overlaps the tensor before it" if begin < at else f"leaves a gap of {begin - at} bytes before it"
            raise SafetensorsError(f"{path}: tensor {name!r} {what}")
        at = end
    if at != data_len:
        raise SafetensorsError(f"{path}: {data_len - at} bytes after the last tensor; the header does not describe them")


def read_header(path: str | Path) -> tuple[dict[str, tuple[TensorInfo, int, int]], dict[str, str], int]:
    """Parse and validate a ``.safetensors`` header: ``({name: (info, begin, end)}, metadata, data_start)``.

    The one validator of ``.safetensors`` files (the SD loader and the merge both use it):
    everything the safetensors library would refuse, and everything a lying header can say
    (length past the file, not JSON, not an object, duplicate names, bad metadata, unknown
    dtype, malformed shape or offsets, offsets outside the data or of the wrong size,
    overlapping or gapped tensors, unexplained trailing bytes) is one
    :class:`SafetensorsError` line naming the file. Reads only the header.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise SafetensorsError(f"{path}: too short to be a .safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER or 8 + n > size:
                raise SafetensorsError(f"{path}: not a .safetensors file (header length {n}, file size {size})")
            raw = fh.read(n)
    except OSError as exc:
        raise SafetensorsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise SafetensorsError(f"{path}: not a .safetensors file (header is not JSON)") from None
    except SafetensorsError as exc:
        raise SafetensorsError(f"{path}: {exc}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: not a .safetensors file (header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")
    data_len = size - 8 - n
    entries = {k: _check_entry(path, k, v, data_len) for k, v in header.items()}
    _check_tiling(path, entries, data_len)
    return entries, dict(metadata), 8 + n


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape of a validated ``.safetensors`` file (no tensor data is read)."""
    return {name: info.shape for name, (info, _, _) in read_header(path)[0].items()}


class SafetensorsReader:
    """Lazy reader of one ``.safetensors`` file: the header now, each tensor on :meth:`get`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries, self.metadata, self._start = read_header(self.path)
        self._fh = open(self.path, "rb")

    def keys(self) -> list[str]:
        """Tensor names in file order."""
        return sorted(self._entries, key=lambda k: self._entries[k][1])

    def info(self, key: str) -> TensorInfo:
        return self._entries[key][0]

    def get(self, key: str) -> "torch.Tensor":
        """Read one tensor into a new CPU tensor (the file is not mapped)."""
        torch = require_torch()
        info, begin, end = self._entries[key]
        if begin == end:
            return torch.empty(info.shape, dtype=torch_dtype(info.dtype))
        buf = bytearray(end - begin)
        self._fh.seek(self._start + begin)
        if self._fh.readinto(buf) != len(buf):
            raise SafetensorsError(f"{self.path}: truncated while reading {key!r}")
        return torch.frombuffer(buf, dtype=torch_dtype(info.dtype)).reshape(info.shape)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "SafetensorsReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_header(entries: Iterable[tuple[str, TensorInfo]], metadata: dict[str, str] | None) -> bytes:
    """The length prefix plus padded JSON header for tensors stored in the given order."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, info in entries:
        if name in header:
            raise SafetensorsError(f"tensor name {name!r} given twice")
        span = [offset, offset + info.nbytes]
        header[name] = {"dtype": info.dtype, "shape": list(info.shape), "data_offsets": span}
        offset += info.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


class StreamWriter:
    """Write a ``.safetensors`` file tensor by tensor, in the order the entries were planned.

    ``with StreamWriter(path, [(name, TensorInfo), ...], metadata) as w: w.write(name, t)``.
    A clean exit renames the finished temp file over ``path``; an exception (or a
    missing tensor) deletes it, leaving any previous ``path`` untouched.
    """

    def __init__(
        self, path: str | Path, entries: list[tuple[str, TensorInfo]], metadata: dict[str, str] | None = None
    ) -> None:
        if sys.byteorder != "little":  # pragma: no cover
            raise SafetensorsError("writing .safetensors needs a little-endian machine")
        self.path = Path(path)
        self._entries = list(entries)
        self._next = 0
        header = build_header(self._entries, metadata)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}{TMP_MARK}", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "wb")
        self._fh.write(header)
        self.bytes_written = len(header)

    def write(self, name: str, tensor: "torch.Tensor") -> None:
        """Append the next planned tensor; its name, dtype and shape must match the plan."""
        if self._next >= len(self._entries):
            raise SafetensorsError(f"{self.path}: tensor {name!r} was not planned")
        want_name, want = self._entries[self._next]
        got = TensorInfo(dtype_code(tensor.dtype), tuple(tensor.shape))
        if name != want_name or got != want:
            raise SafetensorsError(
                f"{self.path}: expected {want_name} {want.dtype}{list(want.shape)}, "
                f"got {name} {got.dtype}{list(got.shape)}"
            )
        if want.nbytes:
            data = tensor.detach().cpu().contiguous().reshape(-1).view(require_torch().uint8)
            self._fh.write(memoryview(data.numpy()))
        self.bytes_written += want.nbytes
        self._next += 1

    def commit(self) -> None:
        """Check every tensor was written, fsync, rename over the target."""
        if self._next != len(self._entries):
            missing = self._entries[self._next][0]
            self.abort()
            raise SafetensorsError(f"{self.path}: not all tensors were written (next: {missing!r})")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.path)
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Close and delete the temp file."""
        self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "StreamWriter":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


