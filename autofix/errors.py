"""Exception types. Messages are one line and name the file or value at fault."""

from __future__ import annotations

import os
import re
from typing import Any


#: The exit codes of every ``autofix`` command — the one table (README, "Exit codes").
EXIT_OK = 0  #: all ok
EXIT_FATAL = 1  #: fatal: a missing input or folder, a bad config or ``--set`` value, a model that cannot load, ...
EXIT_USAGE = 2  #: usage: argparse's errors, and flag values or combinations wrong before any file is read
EXIT_FAILURES = 3  #: finished, but some inputs failed
EXIT_LOCKED = 4  #: the output folder is locked by another run
EXIT_INTERRUPTED = 130  #: Ctrl-C or SIGTERM


class AutofixError(Exception):
    """Base class for errors autofix reports to the user as one line."""


class UsageError(AutofixError, ValueError):
    """The command line itself is wrong: a flag's value or a combination of flags, found
    before any input is read (exit :data:`EXIT_USAGE`, like argparse's own errors)."""


class ConfigError(AutofixError, ValueError):
    """A configuration, preset or CLI override is invalid."""


class InputImageError(AutofixError):
    """An input file cannot be used as an image (not an image, truncated, too big, ...)."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{show_path(path)}: {problem}")
        self.path = path
        self.problem = problem


class BackendUnavailable(AutofixError):
    """A backend's optional dependency is not installed; the message says what to install."""


class ModelNotFound(AutofixError):
    """A model file is missing; the message says exactly where to put it."""


class UnsafeModelFile(AutofixError):
    """A pickle-based model file was refused: its sha256 is not in the manifest and pickles
    were not allowed (``--allow-pickle``), or ``torch.load(weights_only=True)`` found more
    than tensors in it. The one error of the pickle policy (:mod:`autofix.modelfiles.trust`)."""


class ModelFileError(AutofixError, ValueError):
    """A model file exists but cannot be used: unreadable, corrupt, a header that lies about
    its contents, the wrong suffix, or not the kind of model asked for."""


class SafetensorsError(ModelFileError):
    """A ``.safetensors`` file is malformed, or a tensor does not match the planned header."""


class MergeError(ModelFileError):
    """Models cannot be merged (layout, family or shape mismatch, unreadable file)."""


class UnsupportedModel(ModelFileError):
    """A model file exists but is not a Stable Diffusion 1.x/SDXL checkpoint this backend can run."""


class LockHeld(AutofixError):
    """Another autofix run is writing to the same output folder."""


class PromptError(ConfigError):
    """A box/point prompt or prompts file is malformed or does not fit the image."""


class MetadataFileError(AutofixError, ValueError):
    """The file is not a PNG/JPEG/WebP whose metadata can be walked."""


class PickError(AutofixError):
    """``autofix pick`` cannot do what was asked (one line)."""


class AlreadyRepainted(AutofixError):
    """The input carries autofix's own record of a repaint."""


# Control characters (C0, DEL, C1), line/paragraph separators, bidi overrides and the lone
# surrogates Python uses for bytes of a file name that are not valid UTF-8.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def show_path(value: Any) -> str:
    """A file name (or any value naming a file) as safe one-line text for a message.

    Printable names come back unchanged. A name holding a newline, a terminal escape
    code, another control or bidi character, or bytes that are not UTF-8 comes back in
    single quotes with those characters escaped (``'a\\nb'``, ``'\\x1b[31m.png'``), so it can
    neither forge an extra line nor drive the terminal.
    """
    text = os.fsdecode(value) if isinstance(value, (bytes, os.PathLike)) else str(value)
    if not _UNSAFE.search(text):
        return text
    quoted = text.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + _UNSAFE.sub(lambda m: _escape(m.group()), quoted) + "'"


def one_line(message: Any) -> str:
    """``message`` with every control character escaped: what the CLI prints, so a file
    name that reached a message unquoted still cannot add a line or an escape code."""
    return _UNSAFE.sub(lambda m: _escape(m.group()), str(message))
