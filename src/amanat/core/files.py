"""Private files written whole: mail and text-message sinks, the key file's directory.

A file appears under its final name only once every byte is on disk (written to a dot-name
first, fsynced, renamed, and the directory fsynced), readable by its owner alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from amanat.core.clock import utcnow


def fsync_directory(directory: Path) -> None:
    """Make a new or renamed entry in `directory` survive a crash (best effort: some file
    systems cannot fsync a directory, and then there is nothing more to do)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(directory: Path, suffix: str, data: bytes) -> Path:
    """Write `data` to a new file (0600) named by time and randomness with `suffix`, whole."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(8)}{suffix}"
    final = directory / name
    # A dot-name without the suffix: anything collecting *<suffix> never sees a half file.
    temp = directory / f".{name}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(temp, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask could only narrow it; be exact anyway
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_directory(directory)
    return final
