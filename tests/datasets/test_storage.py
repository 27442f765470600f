"""Downloads against a local HTTP server (no network needed), and data-dir resolution."""

import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import pytest

from hfcbench.datasets.storage import RemoteFile, fetch, resolve_data_dir
from hfcbench.errors import DataError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_checks_md5_and_writes_file(server, tmp_path):
    root, base = server
    payload = b"hfcbench" * 10000
    (root / "data.npz").write_bytes(payload)
    remote = RemoteFile("data.npz", f"{base}/data.npz", hashlib.md5(payload).hexdigest())
    target = tmp_path / "cache"
    path = fetch(remote, target, quiet=True)
    assert path == target / "data.npz" and path.read_bytes() == payload
    assert [p.name for p in target.iterdir()] == ["data.npz"]  # no temporary file left behind


def test_download_with_wrong_md5_leaves_nothing(server, tmp_path):
    root, base = server
    (root / "data.npz").write_bytes(b"tampered")
    remote = RemoteFile("data.npz", f"{base}/data.npz", "0" * 32)
    target = tmp_path / "cache"
    with pytest.raises(DataError, match="expected 0{32}; the file was discarded"):
        fetch(remote, target, quiet=True)
    assert not any(target.iterdir())


def test_unreachable_source_explains_how_to_provide(server, tmp_path):
    _, base = server
    remote = RemoteFile("absent.npz", f"{base}/absent.npz", "0" * 32)  # 404
    with pytest.raises(DataError, match="could not be downloaded .*Provide it in one of three ways"):
        fetch(remote, tmp_path, quiet=True)


def test_data_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HFCBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("HFCBENCH_DATA")
    assert resolve_data_dir() == Path("~/.cache/hfcbench/data").expanduser()
