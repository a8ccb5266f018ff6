"""Headless Chromium for the tests, driven over the DevTools protocol (CDP).

A hand-written client of the few CDP calls the HTML report test needs: Playwright and
Selenium would download their own browsers, while this drives Debian's `chromium` package
(installed by scripts/setup.sh) with the `websockets` library Prefect already brings.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

STARTUP_S = 60
LOAD_S = 60
OPEN_SAMPLE = """(() => {
    const sample = document.querySelector('details.sample[data-mode=tessy]')
        || document.querySelector('details.sample');
    sample.open = true;
    sample.scrollIntoView();
})()"""


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLoad:
    """What happened while a page loaded: its requests, console errors and load time."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    load_s: float = 0.0


class Page:
    """One tab, attached with a flat session: commands carry the session id."""

    def __init__(self, socket: ClientConnection, session: str) -> None:
        self.socket = socket
        self.session = session
        self.ids = itertools.count(1000)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one command and return its result; events that come first are kept."""
        number = next(self.ids)
        message = {"id": number, "method": method, "params": params, "sessionId": self.session}
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=LOAD_S))
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str) -> None:
        """Wait until the event `method` arrives (or has arrived)."""
        while not any(event["method"] == method for event in self.events):
            self.events.append(json.loads(self.socket.recv(timeout=LOAD_S)))

    def load(self, url: str) -> PageLoad:
        """Navigate to `url` and wait for its load event."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.events.clear()
        started = time.perf_counter()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        done = PageLoad(load_s=time.perf_counter() - started)
        for event in self.events:
            params = event["params"]
            if event["method"] == "Network.requestWillBeSent":
                done.requests.append(params["request"]["url"])
            elif event["method"] == "Runtime.exceptionThrown":
                done.errors.append(params["exceptionDetails"]["text"])
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
                done.errors.append(str(params["args"]))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                done.errors.append(params["entry"]["text"])
        return done

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot_sample(self, target: Path, width: int, height: int) -> Path:
        """A PNG of the sample browser with its first tessy sample (else its first) open."""
        self.evaluate(OPEN_SAMPLE)
        return self.screenshot(target, width, height)

    def screenshot(self, target: Path, width: int, height: int) -> Path:
        """A PNG of the top `width` x `height` CSS pixels of the page."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = self.send("Page.captureScreenshot", format="png")
        target.write_bytes(base64.b64decode(shot["data"]))
        return target


@contextmanager
def headless_page() -> Iterator[Page]:
    """A fresh tab of a fresh headless Chromium with its own profile, closed afterwards."""
    # Chromium's helper processes may still write to the profile as the browser ends: the
    # whole group is killed below, and what they leave behind is no test failure.
    with tempfile.TemporaryDirectory(
        prefix="tessy-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group, so that its helpers end with it
        )
        try:
            url = _devtools_url(Path(profile), process)
            with connect(url, max_size=None, open_timeout=STARTUP_S) as socket:
                yield _attach(socket)
        finally:
            _end_group(process)


def _end_group(process: subprocess.Popen) -> None:
    """Stop the browser and every helper process it started."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _devtools_url(profile: Path, process: subprocess.Popen) -> str:
    """The browser's websocket: with port 0, Chromium writes the port it took and the
    browser's path to DevToolsActivePort in its profile."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and process.poll() is None:
        lines = active.read_text().split() if active.exists() else []
        if len(lines) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.1)
    raise RuntimeError(f"chromium did not start (exit code {process.poll()})")


def _attach(socket: ClientConnection) -> Page:
    """A new tab, attached in flat mode."""
    target = _browser_call(socket, "Target.createTarget", url="about:blank")["targetId"]
    session = _browser_call(socket, "Target.attachToTarget", targetId=target, flatten=True)
    return Page(socket, session["sessionId"])


def _browser_call(socket: ClientConnection, method: str, **params: Any) -> dict[str, Any]:
    socket.send(json.dumps({"id": 1, "method": method, "params": params}))
    while True:
        reply = json.loads(socket.recv(timeout=STARTUP_S))
        if reply.get("id") == 1:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply["result"]
