"""Headless Chromium for the data map page: its DOM after the scripts ran, screenshots, and the time until the map is
drawn (through the DevTools protocol). Offline by default: host names resolve to nothing and no proxy answers."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
                None)
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=127.0.0.1:9"]
FLAGS = ["--headless", "--no-sandbox", "--no-first-run", "--hide-scrollbars", "--mute-audio"]
CLICK_FILTER = ("delete document.getElementById('map').dataset.renderMs; "
                "document.querySelector('#classes input').click()")
"""Untick the first class: the page redraws the map without it and notes how long that took (data-render-ms)."""
Call = Callable[..., Awaitable[dict]]


def _run(*args: str, timeout: float = 120) -> str:
    """Chromium with a throwaway profile; its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, check=True)
    return done.stdout


def dump_dom(url: str, *, budget_ms: int = 30000) -> str:
    """The page's DOM once its scripts ran (virtual time `budget_ms` lets plotly draw), offline."""
    return _run(*OFFLINE, f"--virtual-time-budget={budget_ms}", "--dump-dom", url)


def time_until_ready(url: str, *, timeout: float = 120) -> tuple[float, float]:
    """(milliseconds from navigation until the page says it drew its map (body data-load-ms), milliseconds one filter
    click then takes to redraw it), in real time, offline."""
    async def measure(call: Call, wait_for: Callable[[str], Awaitable[float]]) -> tuple[float, float]:
        loaded = await wait_for("document.body && document.body.dataset.loadMs")
        await call("Runtime.evaluate", expression=CLICK_FILTER)
        return loaded, await wait_for("document.getElementById('map').dataset.renderMs")

    return _with_page(url, measure, offline=True, timeout=timeout)


def screenshot(url: str, path: Path, *, size: tuple[int, int] = (1300, 950), wait_s: float = 5.0,
               offline: bool = True) -> Path:
    """A PNG of the page at `size`, `wait_s` real seconds after navigating (a page inside the MLflow UI loads the UI,
    then the artifact, then runs it)."""
    async def capture(call: Call, _) -> Path:
        await asyncio.sleep(wait_s)
        shot = await call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    return _with_page(url, capture, offline=offline, size=size)


def _with_page(url: str, action, *, offline: bool, size: tuple[int, int] = (1300, 950), timeout: float = 120,
               port: int = 9333):
    """Start Chromium with a DevTools port, open `url` at `size` and run `action(call, wait_for)` on the page."""
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen([CHROMIUM, *FLAGS, *(OFFLINE if offline else []), f"--user-data-dir={profile}",
                                    f"--remote-debugging-port={port}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return asyncio.run(_drive(_page_socket(port, timeout), url, action, size, timeout))
        finally:
            browser.terminate()
            browser.wait(10)


def _page_socket(port: int, timeout: float) -> str:
    """The DevTools websocket of the browser's page, once the browser answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as answer:
                return next(t for t in json.load(answer) if t["type"] == "page")["webSocketDebuggerUrl"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def _drive(socket_url: str, url: str, action, size: tuple[int, int], timeout: float):
    """Over the page's DevTools socket: set the viewport, navigate, then hand `action` a caller and a waiter."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session, session.ws_connect(socket_url, max_msg_size=0) as socket:
        calls = iter(range(1, 1_000_000))

        async def call(method: str, **params) -> dict:
            number = next(calls)
            await socket.send_json({"id": number, "method": method, "params": params})
            while True:
                message = await socket.receive_json()
                if message.get("id") == number:
                    return message.get("result", {})

        async def wait_for(expression: str) -> float:
            while time.monotonic() < deadline:
                value = (await call("Runtime.evaluate", expression=expression)).get("result", {}).get("value")
                if value:
                    return float(value)
                await asyncio.sleep(0.1)
            raise TimeoutError(f"{url}: {expression} stayed empty for {timeout} s")

        await call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1,
                   mobile=False)
        await call("Page.navigate", url=url)
        return await action(call, wait_for)
