"""Fixtures for driving web/optibase-stripe.js in Debian's headless Chromium.

One browser per session, one fresh context per test, pages served from 127.0.0.1 only.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT = Path(__file__).resolve().parents[2] / "web" / "optibase-stripe.js"
SCRIPT_PATH = "/optibase-stripe.js"
LOOPBACK = "127.0.0.1"


class PageServer:
    """Threaded HTTP server on a free loopback port serving the real script and test pages."""

    def __init__(self) -> None:
        self._pages: dict[str, str] = {}
        self._names = itertools.count()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                server.requests.append(path)
                if path == SCRIPT_PATH:
                    # Read on every request so the test always runs the file as it is now.
                    self._send(SCRIPT.read_bytes(), "text/javascript")
                elif path in server._pages:
                    self._send(server._pages[path].encode(), "text/html")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"{content_type}; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._httpd.daemon_threads = True
        self.origin = f"http://{LOOPBACK}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def add(self, html: str) -> str:
        """Serve `html` under a new path and return its URL."""
        path = f"/page-{next(self._names)}.html"
        self._pages[path] = html
        return self.origin + path

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@dataclass
class Tab:
    """A fresh page plus what it printed and any request it tried to send off the machine."""

    page: Page
    server: PageServer
    console: list[ConsoleMessage] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [m.text for m in self.console if m.type == "warning"]

    @property
    def errors(self) -> list[str]:
        return [m.text for m in self.console if m.type == "error"] + self.page_errors

    def open(self, html: str) -> None:
        self.page.goto(self.server.add(html), wait_until="load")


@pytest.fixture(scope="session")
def browser_playwright() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser_chromium(browser_playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        # Deliberately a failure, not a skip: a silently skipped browser suite proves nothing.
        pytest.fail(
            f"{CHROMIUM} not found; the page-script tests need Debian's Chromium "
            "(Playwright's own browser downloads do not work here). Install it with:\n"
            "    apt-get update && apt-get install -y chromium chromium-driver",
            pytrace=False,
        )
    browser = browser_playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def browser_server() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def page_tab(browser_chromium: Browser, browser_server: PageServer) -> Iterator[Tab]:
    context = browser_chromium.new_context(service_workers="block")
    page = context.new_page()
    page.set_default_timeout(5_000)
    tab = Tab(page=page, server=browser_server)

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == LOOPBACK or url.startswith("data:"):
            route.continue_()
        else:
            tab.outside.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    page.on("console", lambda message: tab.console.append(message))
    page.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    yield tab
    context.close()
    assert tab.outside == [], f"the page tried to reach beyond loopback: {tab.outside}"
    assert tab.page_errors == [], f"uncaught errors in the page: {tab.page_errors}"
