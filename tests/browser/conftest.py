"""A real Chromium against the app served on a loopback port.

Chromium resolves every ``*.localhost`` name to the loopback address, so each
shop is reached by its own Host (``star.localhost:PORT``) exactly as in
production. Skipped, with the reason, when Debian's chromium is not installed.
"""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# the screenshots are the browser tests' artefacts: kept in the checkout (git ignores
# them) unless KAMENG_SCREENSHOT_DIR says where
SHOTS = os.environ.get("KAMENG_SCREENSHOT_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "test-artifacts", "screenshots")
os.makedirs(SHOTS, exist_ok=True)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)")
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="Playwright for Python is not installed")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def live_server(app):
    """Serve ``app`` for real in a thread; yields a function host → base URL."""
    from kameng.core.extensions import db

    db.session.commit()  # the server's requests must see (and not wait for) the test's rows
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield lambda host: f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    yield context.new_page()
    context.close()
