"""Regenerate ``themes/<name>/preview.png``: the demo shop's home page in each theme,
as Chromium shows it, for the theme cards of the back office's studio (装修).

    .venv/bin/python tools/theme_screenshots.py [--chromium /usr/bin/chromium]

It builds the demo in a throw-away instance folder (SQLite, embedded Redis), serves
it on a loopback port, switches the demo master to each installed theme in turn and
keeps a 1280×800 view of its home page scaled down to 640×400 (Playwright for Python,
a test dependency, drives the browser). Commit the PNGs it writes.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
from pathlib import Path

VIEW = (1280, 800)
SIZE = (640, 400)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from PIL import Image
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from kameng import demo
    from kameng.core.extensions import db
    from kameng.core.scoping import ALL, set_scope
    from kameng.tenants.models import Tenant
    from kameng.tenants.services import update_appearance
    from kameng.tenants.themes import available_themes
    from kameng.webapp import create_app

    folder = tempfile.mkdtemp(prefix="kameng-shots-")
    app = create_app({"INSTANCE_PATH": folder, "DATABASE_URL": f"sqlite:///{folder}/demo.db",
                      "SECRET_KEY": "theme-screenshots", "BASE_DOMAIN": "localhost",
                      "PAGE_CACHE_SECONDS": 0, "ARGON2_PROFILE": "CHEAPEST"})
    set_scope(ALL)
    with app.app_context():
        db.create_all()
        demo.seed()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://master.localhost:{server.server_port}/"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                            args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": VIEW[0], "height": VIEW[1]})
                for name, theme in available_themes().items():
                    master = db.session.scalars(db.select(Tenant).filter_by(slug="master")).one()
                    update_appearance(master, name, {})
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
                    shot = shot.resize(SIZE, Image.Resampling.LANCZOS)
                    target = Path(theme.path) / "static" / "preview.png"
                    shot.save(target, "PNG", optimize=True)
                    print(f"{name}: {target} ({target.stat().st_size // 1024} KB)")
                browser.close()
        finally:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
