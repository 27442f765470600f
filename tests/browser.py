"""A headless Chromium driven over the DevTools protocol through a pipe (no driver, no extra
package): open a page, evaluate JavaScript in it, and see every request it made."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


class Browser:
    """``with Browser() as b: b.open(path); b.evaluate("document.title")``; ``b.requests`` lists
    the URL of every request the page made."""

    def __init__(self, timeout: float = 60.0):
        command, read_end, write_end = find_browser(), *os.pipe()
        reply_read, reply_write = os.pipe()
        assert command, "no Chromium found"
        self.profile = tempfile.mkdtemp(prefix="hfcbench-browser-")

        def pipes() -> None:  # the protocol's fixed descriptors: commands on 3, replies on 4
            os.dup2(read_end, 3)
            os.dup2(reply_write, 4)

        self.process = subprocess.Popen(
            [command, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(read_end, reply_write, 3, 4), preexec_fn=pipes, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(read_end)
        os.close(reply_write)
        self._out, self._in = os.fdopen(write_end, "wb", buffering=0), os.fdopen(reply_read, "rb", buffering=0)
        self._buffer, self._next, self.timeout = b"", 0, timeout
        self.events: list[dict] = []
        self.session: str | None = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._in], [], [], self.timeout)[0]:
                raise TimeoutError(f"the browser sent nothing for {self.timeout} s")
            chunk = self._in.read(1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, *, session: bool = True) -> dict:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self._out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        """The first event ``method`` (already received or the next ones)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def open(self, path: Path) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    @property
    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]
