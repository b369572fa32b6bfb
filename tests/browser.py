"""A real headless browser for the report page's tests: Debian's ``chromium``, driven over the DevTools protocol.

Chromium is started with a private profile and a free debugging port; :class:`Page`
opens a file, collects console errors and uncaught exceptions, clicks at a point
like a mouse, evaluates JavaScript and takes screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import missing

INSTALL = "install a headless browser to run this test: apt-get install -y --no-install-recommends chromium"


def chromium_binary() -> str:
    """The browser's path; skips the test (saying how to install it) when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing(f"chromium not found; {INSTALL}")
    assert found
    return found


class Page:
    """One browser tab, over a websocket to its DevTools endpoint."""

    def __init__(self, binary: str, width: int = 1400, height: int = 700) -> None:
        websocket = pytest.importorskip("websocket", reason="websocket-client is part of the dev extra: pip install -e '.[dev]'")
        self.profile = tempfile.mkdtemp(prefix="chromium-")  # removed by close()
        args = [binary, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
                "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]  # fmt: skip
        # its own process group: closing stops the renderers and helpers too, not only the browser process
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port = self._port(Path(self.profile) / "DevToolsActivePort")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(url, timeout=20, suppress_origin=True)
        self.next_id, self.events = 0, []
        self.errors: list[str] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _port(self, file: Path, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if file.exists() and file.read_text().strip():
                return int(file.read_text().split()[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode} before it opened its DevTools port")
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        self.events.append(method)
        if method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(json.dumps(params.get("args"))[:500])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(params["entry"].get("text", "")[:500])

    def open(self, path: Path) -> None:
        """Load a file and wait for its load event."""
        self.call("Page.navigate", url=path.absolute().as_uri())
        deadline = time.monotonic() + 20
        while "Page.loadEventFired" not in self.events and time.monotonic() < deadline:
            self._event(json.loads(self.ws.recv()))
        self.call("Runtime.evaluate", expression="1", awaitPromise=True)  # let pending console events arrive

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the middle of the element ``selector`` matches."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                            " return [r.x + r.width / 2, r.y + r.height / 2]; })()")  # fmt: skip
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        """Stop the browser and every process it started, then remove its profile.

        Chromium's helpers can outlive the browser process for a moment and still write into the
        profile, so the whole process group is stopped and the removal retried briefly."""
        try:
            self.ws.close()
        finally:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=10)
            self._signal_group(signal.SIGKILL)  # helpers that ignored the request
            self._remove_profile()

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass  # the group has gone already

    def _remove_profile(self, attempts: int = 20) -> None:
        for _ in range(attempts - 1):
            try:
                shutil.rmtree(self.profile)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)  # a helper was still writing
        shutil.rmtree(self.profile, ignore_errors=True)
