"""Headless Chromium driven over the Chrome DevTools Protocol (a test helper; scripts/screenshots.py uses it too).

One browser process, one websocket to it; each page is a target attached in flat mode, so commands and
events carry its session id. Needs the `chromium` binary (Debian package) and `websocket-client`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
NAMES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or a DevTools command failed."""


def find_chromium() -> str:
    """The Chromium binary (CHROMIUM names another); a clear error when there is none."""
    named = os.environ.get("CHROMIUM")
    found = named or next((path for path in map(shutil.which, NAMES) if path), None)
    if not found:
        raise BrowserError("headless Chromium is needed: apt-get install chromium (CI's .ci/run installs it), "
                           "or set CHROMIUM to its binary")  # fmt: skip
    return found


class Chromium:
    """A headless Chromium process and one DevTools websocket to it; use as a context manager."""

    def __init__(self, binary: Optional[str] = None, timeout: float = 60.0, extra_flags: tuple[str, ...] = ()) -> None:
        try:
            import websocket  # websocket-client, from the [test] extra
        except ImportError:
            raise BrowserError('websocket-client is needed to drive Chromium: pip install ".[test]"') from None

        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="reportgen-chromium-")
        args = [binary or find_chromium(), *FLAGS, *extra_flags, "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}", "about:blank"]  # fmt: skip
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode("utf-8", "replace")[-2000:] if self._process.stderr else ""
                self._profile.cleanup()
                raise BrowserError(f"Chromium exited with code {self._process.returncode}: {err}")
            if time.monotonic() > deadline:
                self.close()
                raise BrowserError("Chromium did not open its DevTools port in time")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        try:
            self._ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=timeout, suppress_origin=True)
        except (OSError, websocket.WebSocketException) as exc:
            self.close()
            raise BrowserError(f"cannot connect to Chromium's DevTools port {port}: {exc}") from None
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser and remove its profile folder."""
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._profile.cleanup()

    def send(self, method: str, session: Optional[str] = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        while True:
            answer = self._receive()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})

    def _receive(self) -> dict[str, Any]:
        message = json.loads(self._ws.recv())
        if "method" in message:
            self._events.append(message)
        return message

    def wait_for(self, method: str, session: Optional[str], timeout: Optional[float] = None) -> dict[str, Any]:
        """Wait until the event `method` arrives for `session` (or has already arrived) and take it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for event in self._events:
                if event["method"] == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event.get("params", {})
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} event in time")
            self._receive()

    def events(self, session: str) -> list[dict[str, Any]]:
        """Every event of one page so far, as {"method", "params"}."""
        return [e for e in self._events if e.get("sessionId") == session]

    def new_page(self, width: int = 1100, height: int = 900) -> "Page":
        """A fresh tab with Runtime, Log, Network and Page events recorded."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session, target)
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.send(f"{domain}.enable")
        page.resize(width, height)
        return page


class Page:
    """One tab: open a URL, evaluate JavaScript, take screenshots; what the page logged and fetched is kept."""

    def __init__(self, browser: Chromium, session: str, target: str) -> None:
        self.browser, self.session, self.target = browser, session, target

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command for this page."""
        return self.browser.send(method, self.session, **params)

    def resize(self, width: int, height: int, mobile: bool = False) -> None:
        """Lay the page out at this viewport (mobile: honour the viewport meta tag, as a phone does)."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        answer = self.send("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")
        self.browser.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (DevTools runs it even where the page's CSP forbids scripts)."""
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"evaluate: {answer['exceptionDetails'].get('text')}: {expression[:80]}")
        return answer["result"].get("value")

    def screenshot(self, full_page: bool = False, clip: Optional[dict[str, float]] = None) -> bytes:
        """A PNG of the viewport, of the whole page laid out at the viewport's width, or of a clip of the page
        ({"x", "y", "width", "height"} in CSS pixels from the top left of the document)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
            params["captureBeyondViewport"] = True
        return base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (a CSP violation, a failed load)."""
        out = []
        for event in self.browser.events(self.session):
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                out.append(f"exception: {details.get('text')} {details.get('exception', {}).get('description', '')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
        return out

    def requests(self) -> list[str]:
        """The URL of every network request the page made, in order."""
        return [e["params"]["request"]["url"] for e in self.browser.events(self.session)
                if e["method"] == "Network.requestWillBeSent"]  # fmt: skip

    def close(self) -> None:
        """Close the tab."""
        self.browser.send("Target.closeTarget", targetId=self.target)


# Elements reaching past the viewport's edges (outermost ones only: their children follow them), each described
# briefly. Those inside a box that scrolls sideways are reachable there and skipped; a box that hides its
# overflow cuts content off, so what reaches past the viewport inside it is still reported.
OVERFLOW_JS = """(() => {
  const width = document.documentElement.clientWidth;
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const clipped = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (/(auto|scroll)/.test(getComputedStyle(up).overflowX)) return true;
    }
    return false;
  };
  const over = new Set();
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if ((box.right > width + 1 || box.left < -1) && !clipped(el)) over.add(el);
  }
  const out = [];
  for (const el of over) {
    if (over.has(el.parentElement)) continue;
    const box = el.getBoundingClientRect();
    out.push({element: describe(el), left: Math.round(box.left), right: Math.round(box.right),
              text: (el.textContent || '').trim().slice(0, 60)});
  }
  return {viewport: width, scrollWidth: document.documentElement.scrollWidth, elements: out};
})()"""


def png_spread(png: bytes) -> float:
    """Standard deviation of a PNG's grey levels: about 0 for a blank (one-colour) picture."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return float(np.asarray(img.convert("L"), dtype=np.float64).std())
