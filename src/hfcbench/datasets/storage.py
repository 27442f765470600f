"""Where data files live, and how a missing one is fetched and checked.

The data directory is, in order: the ``--data-dir`` argument, ``$HFCBENCH_DATA``, then
``~/.cache/hfcbench/data``. A missing file is downloaded from its official source, its MD5
checked while streaming, and written atomically (temporary file + rename), so an interrupted
download never leaves a half file under the real name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import DataError
from ..paths import mode_as_new_file

DATA_ENV = "HFCBENCH_DATA"
DEFAULT_DATA_DIR = Path("~/.cache/hfcbench/data")


@dataclass(frozen=True)
class RemoteFile:
    """A file with its official download address and MD5."""

    filename: str
    url: str
    md5: str


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$HFCBENCH_DATA``, else ``~/.cache/hfcbench/data``."""
    chosen = data_dir or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _ways_to_provide(remote: RemoteFile, data_dir: Path) -> str:
    return (
        f"Provide it in one of three ways: (1) pass --data-dir DIR for a folder holding {remote.filename}; "
        f"(2) set {DATA_ENV}=DIR; (3) put it in {data_dir} (hfcbench downloads it there by itself "
        f"when {remote.url} can be reached)."
    )


def download(remote: RemoteFile, dest: Path, *, timeout: float = 60.0, quiet: bool = False) -> Path:
    """Stream ``remote.url`` to ``dest``, checking the MD5 before the file takes its name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=timeout) as response:
            mode_as_new_file(out.fileno())
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {remote.filename}", disable=quiet) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != remote.md5:
            raise DataError(
                f"downloaded {remote.filename} from {remote.url} has MD5 {digest.hexdigest()}, expected "
                f"{remote.md5}; the file was discarded. Try again, or fetch it by hand and check it."
            )
        os.replace(tmp_name, dest)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return dest


def fetch(remote: RemoteFile, data_dir: str | os.PathLike | None = None, *, download_missing: bool = True,
          quiet: bool = False) -> Path:
    """Path of a checked copy of ``remote`` in the data directory, downloading it if missing.

    Raises:
        DataError: the file is missing and cannot be downloaded (the message lists the three ways
            to provide it), or the file present has the wrong MD5.
    """
    directory = resolve_data_dir(data_dir)
    path = directory / remote.filename
    if not path.exists():
        if not download_missing:
            raise DataError(f"{remote.filename} is missing from {directory}. " + _ways_to_provide(remote, directory))
        try:
            download(remote, path, quiet=quiet)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DataError(
                f"{remote.filename} is missing from {directory} and could not be downloaded from {remote.url} "
                f"({exc}). " + _ways_to_provide(remote, directory)
            ) from exc
    actual = file_md5(path)
    if actual != remote.md5:
        raise DataError(
            f"{path} has MD5 {actual} but the official {remote.filename} has {remote.md5}: the file is corrupt "
            "or a different version. Delete it so that hfcbench downloads a fresh copy, or replace it."
        )
    return path
