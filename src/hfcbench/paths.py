"""Folders hfcbench writes to, checked before any work, and the one-line answer to a full disk."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

from .errors import HfcbenchError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def writable_dir(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a folder that exists (created with its parents if missing) and can be written;
    otherwise an error that names ``option``, the path and why, before any work is done."""
    path = Path(path).expanduser()
    try:
        if path.exists() and not path.is_dir():
            raise HfcbenchError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".hfcbench-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = {errno.ENAMETOOLONG: "a part of the path is too long", errno.EROFS: "the file system is read-only",
                  errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                  errno.ENOTDIR: "a part of the path is a file, not a folder"}.get(exc.errno, exc.strerror or str(exc))
        if exc.errno in DISK_FULL:
            reason = "the disk is full"
        raise HfcbenchError(f"{option} {path} cannot be written: {reason}; give a writable folder") from None
    return path


def writable_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a file that can be written: not a folder, in a folder that exists (created if
    missing) and can be written; otherwise an error naming ``option`` before any work is done."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise HfcbenchError(f"{option} {path} is a folder; give the name of a file (in it, or beside it)")
    writable_dir(path.parent, f"{option} (its folder)")
    return path


def disk_full(path: str | os.PathLike) -> HfcbenchError:
    """The error for a write to ``path`` that ran out of space (what was written before is intact)."""
    try:
        free = f"{shutil.disk_usage(Path(path).parent).free / 2 ** 20:.1f} MB free"
    except OSError:
        free = "no space"
    return HfcbenchError(f"the disk is full ({free}) while writing {path}; free some space or point --out/--cache-dir "
                         "elsewhere, then run again: everything written before is intact and is reused")


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for lack of space (an ``OSError``, or torch.save's
    ``RuntimeError`` from its zip writer, which reports a short write as an 'unexpected pos')."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL
    return isinstance(exc, RuntimeError) and ("unexpected pos" in str(exc) or "file write failed" in str(exc))


def mode_as_new_file(fd: int) -> None:
    """Give the file open as ``fd`` the mode a new file gets under the user's umask (``0o666 &
    ~umask``): a file written through a private temporary file (mode 0600) and renamed into place
    (a page, a results file, a download) is then readable as any other file in its folder. A file
    system without modes (vfat, some shares) keeps its own. (Reading the umask means setting it for
    an instant; hfcbench writes these files from one thread.)"""
    mask = os.umask(0o022)
    os.umask(mask)
    with suppress(OSError):
        os.fchmod(fd, 0o666 & ~mask)
