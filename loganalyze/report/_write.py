"""Writing reports: atomically, and with names that survive whatever bytes they hold.

A file name on Linux is bytes; Python hands a non-UTF-8 name over as a str with lone
surrogates (U+DC80–U+DCFF, PEP 383), which no UTF-8 writer accepts. And a name may hold control
characters (an ESC that recolours a terminal, a newline that splits an annotation). So:

* JSON (and SARIF) keep every name exactly: a lone surrogate is written as a `\\udcXX` escape,
  which a JSON reader turns back into the same str (`os.fsencode` gives the original bytes).
* HTML, XML and the terminal show the byte instead: `\\xff` for an undecodable byte, `\\x1b` for
  a control character — readable, pasteable, never markup or a terminal command.

A report is written to a temporary file beside its target and renamed over it, so a crash,
a Ctrl-C or a full disk leaves the old report or none, never half of one.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_JSON_ESCAPE = re.compile("[\x7f-\x9f\ud800-\udfff]")  # json.dumps escapes C0 itself
# C0 controls but tab and newline, DEL, C1 controls, and lone surrogates
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _shown(m: re.Match) -> str:
    c = ord(m.group())
    if 0xDC80 <= c <= 0xDCFF:  # an undecodable byte, as PEP 383 carries it
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}"


def printable(text: str) -> str:
    """Text for people (terminal, HTML, XML): undecodable bytes and control characters as `\\xNN`."""
    return _UNPRINTABLE.sub(_shown, text)


def json_safe(text: str) -> str:
    """Serialized JSON with its lone surrogates (and DEL, C1 controls) escaped (`\\udcff`): valid
    UTF-8, lossless, no raw control character.

    Only valid on the output of `json.dumps`, where these can only sit inside a string.
    """
    return _JSON_ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _target_dir(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_writable(path: str | os.PathLike, option: str) -> str | None:
    """Why `path` cannot receive a report, or None. Checked before the analysis starts."""
    p = Path(path)
    shown = printable(os.fspath(p))
    if p.is_dir():
        return f"{option} {shown}: is a directory"
    parent = _target_dir(p)
    if not parent.exists():
        return f"{option} {shown}: directory {printable(os.fspath(parent))} does not exist"
    if not parent.is_dir():
        return f"{option} {shown}: {printable(os.fspath(parent))} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{option} {shown}: directory {printable(os.fspath(parent))} is not writable"
    if p.exists() and not os.access(p, os.W_OK):
        return f"{option} {shown}: file exists and is not writable"
    return None


def write_text(target: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8, LF) to `target` atomically; `-` is standard output.

    The temporary file lives in the target's directory (a rename is atomic only within one file
    system) and takes the target's permissions, or the usual ones for a new file.
    """
    import tempfile  # not at import time: the CLI must start fast

    data = text.encode("utf-8")
    if os.fspath(target) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    fd, tmp = tempfile.mkstemp(dir=_target_dir(path), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
