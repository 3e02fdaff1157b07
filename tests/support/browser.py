"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright, with no internet.

``offline_browser()`` yields a browser whose contexts (``offline_context``) abort every request that does
not go to a loopback address and record it, so a page that needs a CDN shows it as blank *and* the test
can say which request it tried. Screenshots go to ``$JADECHAIN_SCREENSHOTS`` when it is set (CI keeps
them), else to the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not shutil.which("chromium"),
                                    reason="Debian's chromium is not installed")


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def offline_browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def offline_context(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A browser context where every non-loopback request fails; yields it and the list of refused URLs."""
    refused: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if is_loopback(url):
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort("internetdisconnected")

    context.route("**/*", route)
    try:
        yield context, refused
    finally:
        context.close()


def screenshot(page: Any, name: str, fallback_dir: Path) -> Path:
    folder = Path(os.environ.get("JADECHAIN_SCREENSHOTS") or fallback_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000, f"{path}: empty screenshot"
    print(f"screenshot: {path}")
    return path
