"""Opens a page in real headless Chromium over the DevTools protocol, for report tests.

Collects console errors, uncaught exceptions and failed loads, evaluates expressions in the
page and takes a screenshot. Needs Debian's `chromium` (`apt-get install -y chromium`).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1200,900",
)
# Bounded waits for a local browser: attempts x pause.
ATTEMPTS, PAUSE = 300, 0.1


def available() -> bool:
    return shutil.which(CHROMIUM) is not None


@dataclass
class PageVisit:
    """What a page load produced."""

    errors: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)


class Browser:
    """One headless Chromium process with its own profile folder, on loopback only."""

    def __init__(self, profile: Path):
        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [shutil.which(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.port = self._port(profile / "DevToolsActivePort")
        self._next_id = 0

    def _port(self, active_port: Path) -> int:
        for _ in range(ATTEMPTS):
            if active_port.is_file() and active_port.read_text().strip():
                return int(active_port.read_text().splitlines()[0])
            if self.process.poll() is not None:
                break
            time.sleep(PAUSE)
        self.close()
        raise RuntimeError("chromium did not start its DevTools endpoint")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def _page_socket(self):
        import websocket

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=30) as response:
            targets = json.load(response)
        page = next(t for t in targets if t["type"] == "page")
        return websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)

    def _call(self, socket, method: str, events: list, **params) -> dict:
        self._next_id += 1
        call_id = self._next_id
        socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            events.append(message)

    def visit(self, url: str, expressions: dict[str, str], screenshot: Path | None = None) -> PageVisit:
        """Loads `url`, waits for the load event, evaluates `expressions`, screenshots the page."""
        socket = self._page_socket()
        events: list[dict] = []
        try:
            for domain in ("Page", "Runtime", "Log"):
                self._call(socket, f"{domain}.enable", events)
            self._call(socket, "Page.navigate", events, url=url)
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                events.append(json.loads(socket.recv()))
            visit = PageVisit()
            for name, expression in expressions.items():
                result = self._call(socket, "Runtime.evaluate", events, expression=expression, returnByValue=True)
                visit.values[name] = result.get("result", {}).get("value")
            if screenshot is not None:
                shot = self._call(socket, "Page.captureScreenshot", events, format="png", captureBeyondViewport=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            visit.errors = _errors(events)
            return visit
        finally:
            socket.close()


def _errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            errors.append("exception: " + params["exceptionDetails"].get("text", ""))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}".strip())
    return errors
