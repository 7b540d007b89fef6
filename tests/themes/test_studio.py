"""The theme studio (装修): uploads, custom CSS, draft → preview → publish → roll back,
the announcement's schedule, featured products, theme previews, product pictures."""
from __future__ import annotations

import html
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import func, select

from kameng.core.extensions import db
from kameng.shop.catalog import images
from kameng.tenants import appearance
from kameng.tenants.models import ThemeVersion
from kameng.tenants.services import update_appearance
from kameng.tenants.themes import available_themes
from tests.helpers import login
from tests.storefront.catalog import make_catalog

pytestmark = pytest.mark.both


def text(resp) -> str:
    return resp.get_data(as_text=True)


def _owner(client_for, slug="star"):
    client = client_for(f"{slug}.localhost")
    client.get("/lang/en")
    login(client, f"owner@{slug}.test")
    return client


def _png(size=(120, 60), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 1 if mode == "1" else (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _post(client, data: dict, files: dict | None = None):
    body = {"theme": "classic", **data}
    for name, (content, filename) in (files or {}).items():
        body[name] = (io.BytesIO(content), filename)
    return client.post("/admin/appearance", data=body, content_type="multipart/form-data")


def _versions() -> int:
    return db.session.scalar(select(func.count()).select_from(ThemeVersion))


def _media_files(app) -> list:
    root = images.media_root(app)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# ----- uploads ------------------------------------------------------------------------------

def _bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(out, "BMP")
    return out.getvalue()


BAD_UPLOADS = {
    "not an image": (b"\x00\x01 not a picture at all", "logo.jpg", "not a JPEG, PNG, WebP or GIF"),
    "renamed text file": (b"<?php echo 'hi'; ?>\n" * 20, "logo.png", "not a JPEG, PNG, WebP or GIF"),
    "wrong type": (_bmp(), "logo.bmp", "not a JPEG, PNG, WebP or GIF"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "logo.svg", "not a JPEG, PNG, WebP or GIF"),
    "decompression bomb": (_png((10_000, 5_000), mode="1"), "bomb.png", "at most 40 million pixels"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_a_bad_logo_is_refused_and_leaves_nothing(app, tree, client_for, case):
    content, filename, message = BAD_UPLOADS[case]
    client = _owner(client_for)
    resp = _post(client, {"announcement": "hello", "action": "save"},
                 {"logo": (content, filename)})
    assert resp.status_code == 422
    body = text(resp)
    assert message in body and 'class="field has-error"' in body
    assert _versions() == 0 and _media_files(app) == []


def test_a_too_big_upload_is_refused(app, tree, client_for):
    app.config["MAX_IMAGE_BYTES"] = 20_000
    client = _owner(client_for)
    big = _png() + b"\0" * 30_000
    resp = _post(client, {"action": "save"}, {"banner": (big, "banner.png")})
    assert resp.status_code == 422 and "larger than" in text(resp)
    assert _versions() == 0 and _media_files(app) == []


def test_a_good_upload_beside_a_bad_field_is_not_kept(app, tree, client_for):
    client = _owner(client_for)
    resp = _post(client, {"primary_color": "red", "action": "save"},
                 {"logo": (_png(), "logo.png")})
    assert resp.status_code == 422 and "Use a colour like" in text(resp)
    assert _versions() == 0 and _media_files(app) == []


def test_a_good_logo_is_re_encoded_and_stored_for_the_shop(app, tree, client_for):
    client = _owner(client_for)
    resp = _post(client, {"action": "publish"}, {"logo": (_png(), "logo.png")})
    assert resp.status_code == 302
    db.session.refresh(tree.star)
    url = tree.star.theme_settings["logo_url"]
    assert re.fullmatch(r"/media/[0-9a-f]{32}\.webp", url)
    assert (images.media_root(app) / str(tree.star.id) / url.rsplit("/", 1)[1]).is_file()
    home = text(client_for("star.localhost").get("/"))
    assert f'src="{url}"' in home
    picture = client_for("star.localhost").get(url)
    assert picture.status_code == 200 and picture.mimetype == "image/webp"
    # another tree's host does not serve it
    assert client_for("master.localhost").get(url).status_code == 404
    # an empty file input keeps it; the "remove" box clears it
    _post(client, {"banner_text": "x", "action": "publish"})
    db.session.refresh(tree.star)
    assert tree.star.theme_settings["logo_url"] == url
    _post(client, {"logo_url_remove": "on", "action": "publish"})
    db.session.refresh(tree.star)
    assert "logo_url" not in tree.star.theme_settings


# ----- custom CSS ---------------------------------------------------------------------------

BAD_CSS = {
    "a{color:red}\n</style><script>alert(1)</script>": "line 2: “</style>” is not allowed",
    "p{}\nb{color:red}<b>": "line 2: “<” is not allowed",
    "a{width:expression(alert(1))}": "expression() is not allowed",
    "a{width:exp\\72 ession(alert(1))}": "expression() is not allowed",
    "a{background:url(javascript:alert(1))}": "url(javascript:…) is not allowed",
    "a{background:url('JavaScript:alert(1)')}": "url(javascript:…) is not allowed",
    "a{background:url(http://tracker.example/p.gif)}": "use a /media/ path or an https:// address",
    "a{background:url(data:image/png;base64,AAAA)}": "use a /media/ path or an https:// address",
    "\n\n@import url(https://evil.example/x.css);": "line 3: @import is not allowed",
    "a{behavior:url(x.htc)}": "the property “behavior” is not allowed",
    "a{-moz-binding:url(https://evil.example/x.xml#y)}": "the property “-moz-binding” is not allowed",
    "a{color:red}" * 2000: "longer than 20000 characters",
}


@pytest.mark.parametrize("css", sorted(BAD_CSS), ids=range(len(BAD_CSS)))
def test_bad_custom_css_is_refused_with_its_problem_and_line(app, tree, client_for, css):
    client = _owner(client_for)
    resp = _post(client, {"custom_css": css, "action": "publish"})
    assert resp.status_code == 422
    body = text(resp)
    assert BAD_CSS[css] in html.unescape(body)
    assert _versions() == 0


GOOD_CSS = """/* my shop */
.hero { background: url(/media/0123456789abcdef0123456789abcdef.webp) center/cover; }
@media (max-width: 600px) { .brand { font-size: 14px } }
@keyframes pulse { from { opacity: .5 } to { opacity: 1 } }
.notice { border: 2px dashed #c00; background-image: url("https://cdn.example/x.png") }
"""


def test_good_custom_css_is_served_as_a_stylesheet_of_its_shop_only(app, tree, client_for):
    client = _owner(client_for)
    assert _post(client, {"custom_css": GOOD_CSS, "action": "publish"}).status_code == 302
    home = text(client_for("star.localhost").get("/"))
    link = re.search(r'<link rel="stylesheet" href="(/_theme/custom.css\?v=1)">', home)
    assert link, "the theme links the custom stylesheet"
    assert "<style>" not in home.split("</style>", 1)[1]   # no owner CSS in the page
    css = client_for("star.localhost").get(link.group(1))
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "immutable" in css.headers["Cache-Control"]
    assert css.headers["X-Content-Type-Options"] == "nosniff"
    assert "dashed #c00" in text(css) and "my shop" not in text(css)   # comments dropped
    # another shop has none of it: its own URL has nothing, and its pages link none
    for host in ("master.localhost", "rocket.localhost"):
        assert client_for(host).get("/_theme/custom.css?v=1").status_code == 404
        assert "custom.css" not in text(client_for(host).get("/"))


# ----- draft, preview, publish, roll back ---------------------------------------------------

def test_a_draft_is_seen_only_by_its_owner_in_preview(app, tree, client_for):
    make_catalog(tree)
    client = _owner(client_for)
    resp = _post(client, {"banner_text": "DRAFT-BANNER", "custom_css": "a{color:#123456}",
                          "action": "preview"})
    draft = appearance.draft_of(tree.star)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/?preview={draft.id}")
    seen = client.get(f"/?preview={draft.id}")
    assert "DRAFT-BANNER" in text(seen) and 'class="preview-bar"' in text(seen)
    assert "no-store" in seen.headers["Cache-Control"]
    assert "#123456" in text(client.get(f"/_theme/custom.css?preview={draft.id}"))
    assert "DRAFT-BANNER" not in text(client.get("/"))     # without ?preview: the live shop

    # buyers, anonymous or logged in, see the live shop; the draft's CSS is not theirs
    anonymous = client_for("star.localhost")
    buyer = client_for("star.localhost")
    login(buyer, "buyer@star.test")
    for other in (anonymous, buyer):
        page = text(other.get(f"/?preview={draft.id}"))
        assert "DRAFT-BANNER" not in page and "preview-bar" not in page
        assert other.get(f"/_theme/custom.css?preview={draft.id}").status_code == 404
    # another shop's owner, on their own host, cannot name star's draft
    rocket_owner = _owner(client_for, "rocket")
    assert rocket_owner.get(f"/?preview={draft.id}").status_code == 404
    assert rocket_owner.get(f"/_theme/custom.css?preview={draft.id}").status_code == 404
    # and has no session on star's host
    stranger = client_for("star.localhost")
    login(stranger, "owner@rocket.test")
    assert "DRAFT-BANNER" not in text(stranger.get(f"/?preview={draft.id}"))
    assert tree.star.theme_settings.get("banner_text") is None   # nothing went live


@pytest.mark.app_config(PAGE_CACHE_SECONDS=300)
def test_publish_changes_what_anonymous_buyers_see_through_the_page_cache(app, tree, client_for):
    make_catalog(tree)
    buyer = client_for("star.localhost")
    first = text(buyer.get("/"))
    assert "SUMMER-SALE" not in first
    assert text(buyer.get("/")) == first           # served from the page cache
    client = _owner(client_for)
    _post(client, {"banner_text": "SUMMER-SALE", "action": "save"})
    assert "SUMMER-SALE" not in text(buyer.get("/"))   # a draft changes nothing
    draft = appearance.draft_of(tree.star)
    page = text(client.get("/admin/appearance"))
    assert f'data-draft="{draft.id}"' in page
    resp = client.post("/admin/appearance", data={"theme": "classic",
                                                  "banner_text": "SUMMER-SALE",
                                                  "action": "publish"})
    assert resp.status_code == 302
    assert "SUMMER-SALE" in text(buyer.get("/"))
    assert appearance.draft_of(tree.star) is None
    assert appearance.live_version(tree.star).number == 1


def test_roll_back_publishes_the_previous_version_again(app, tree, client_for):
    client = _owner(client_for)
    page = text(client.get("/admin/appearance"))
    assert "Roll back" not in page
    bad = client.post("/admin/appearance/rollback")
    assert bad.status_code == 302
    assert "no earlier version" in text(client.get("/admin/appearance"))
    for banner in ("FIRST", "SECOND"):
        _post(client, {"banner_text": banner, "primary_color": "#00aa00" if banner == "FIRST"
                       else "#aa0000", "action": "publish"})
    anonymous = client_for("star.localhost")
    assert "SECOND" in text(anonymous.get("/"))
    page = text(client.get("/admin/appearance"))
    assert "Roll back to version 1" in page and 'data-version="2"' in page
    assert client.post("/admin/appearance/rollback").status_code == 302
    home = text(anonymous.get("/"))
    assert "FIRST" in home and "SECOND" not in home and "--primary:#00aa00" in home
    live = appearance.live_version(tree.star)
    assert live.number == 3 and live.restored_from == 1
    page = text(client.get("/admin/appearance"))
    assert "(a copy of version 1)" in page and "owner@star.test" in page


def test_discard_drops_the_draft_only(app, tree, client_for):
    client = _owner(client_for)
    _post(client, {"banner_text": "LIVE", "action": "publish"})
    _post(client, {"banner_text": "DRAFT", "action": "save"})
    assert 'value="DRAFT"' in text(client.get("/admin/appearance"))
    client.post("/admin/appearance/discard")
    assert appearance.draft_of(tree.star) is None
    assert 'value="LIVE"' in text(client.get("/admin/appearance"))


# ----- announcement schedule, footer, featured ----------------------------------------------

def _local(delta_hours: float) -> str:
    now = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=delta_hours)
    return now.strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("window, shown", [
    ((1, 5), False),       # before it starts
    ((-1, 5), True),       # within
    ((-5, -1), False),     # after it ended
    ((None, 5), True), ((-1, None), True), ((2, None), False),
])
def test_the_announcement_follows_its_schedule_in_the_shops_time_zone(app, tree, client_for,
                                                                      window, shown):
    starts, ends = (_local(h) if h is not None else "" for h in window)
    update_appearance(tree.master, "default", {
        "announcement": "SCHEDULED-NOTICE", "announcement_starts": starts,
        "announcement_ends": ends, "footer_text": "Open 9-21"})
    home = text(client_for("master.localhost").get("/"))
    assert ("SCHEDULED-NOTICE" in home) is shown
    assert "Open 9-21" in home


def test_an_announcement_ending_before_it_starts_is_refused(app, tree, client_for):
    client = _owner(client_for)
    resp = _post(client, {"announcement": "x", "announcement_starts": _local(5),
                          "announcement_ends": _local(1), "action": "save"})
    assert resp.status_code == 422 and "must end after it starts" in text(resp)
    assert _versions() == 0


def test_featured_products_lead_the_home_page_in_every_theme(app, tree, client_for):
    cat = make_catalog(tree)
    for shop in (tree.master, tree.star, tree.rocket):
        client = _owner(client_for, shop.slug)
        page = text(client.get("/admin/appearance"))
        assert f'name="featured_products" value="{cat.mobile.id}"' in page
        resp = client.post("/admin/appearance", data={
            "theme": shop.theme, "featured_products": [str(cat.mobile.id)],
            "action": "publish"})
        assert resp.status_code == 302
        home = text(client_for(f"{shop.slug}.localhost").get("/"))
        marker = "box-title" if shop.theme == "classic" else "section featured"
        featured = home.split(marker, 1)[1] if shop.theme != "classic" else \
            home.split('<div class="box-title">', 2)[2]
        first = featured.split("</section>" if shop.theme != "classic" else "</table>", 1)[0]
        assert "/p/CM-50" in first, shop.slug
    # a product the shop does not sell cannot be featured
    client = _owner(client_for, "star")
    bad = client.post("/admin/appearance", data={"theme": "classic",
                                                 "featured_products": [str(cat.hidden.id)]})
    assert bad.status_code == 422 and "Pick products this shop sells." in text(bad)


def test_contacts_are_linked_from_the_studio(app, tree, client_for):
    from kameng.tenants.shop_settings import update_shop_settings

    update_shop_settings(tree.star, contacts={"qq": "123456", "wechat": "", "telegram": "",
                                              "email": "", "url": ""})
    page = text(_owner(client_for).get("/admin/appearance"))
    assert "123456" in page and 'href="/admin/shop-settings"' in page


# ----- theme previews -----------------------------------------------------------------------

def test_every_theme_has_a_preview_picture_shown_on_its_card(app, tree, client_for):
    client = _owner(client_for)
    page = text(client.get("/admin/appearance"))
    for name, theme in available_themes().items():
        path = theme.path / "static" / "preview.png"
        assert path.is_file(), f"{name}: run tools/theme_screenshots.py"
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.size[0] <= 800
        assert path.stat().st_size < 300_000
        url = f"/_theme/preview.png?t={name}"
        assert f'src="{url}"' in page
        served = client.get(url)
        assert served.status_code == 200 and served.mimetype == "image/png"
        assert served.data == path.read_bytes()


# ----- product pictures in every theme ------------------------------------------------------

def test_every_theme_shows_product_pictures_and_the_letter_tile(app, tree, client_for):
    cat = make_catalog(tree)
    name = "ab" * 16
    cat.mobile.images = [f"/media/{name}.webp"]
    db.session.commit()
    for slug in ("master", "star", "rocket"):        # default, classic, midnight
        client = client_for(f"{slug}.localhost")
        home = text(client.get("/"))
        assert f'src="/media/{name}_t.webp"' in home, slug           # the thumbnail
        tile = 'pthumb-letter' if slug == "star" else 'class="thumb thumb-card"'
        assert tile in home, slug                                      # no picture: a letter
        product = text(client.get("/p/CM-50"))
        assert f'src="/media/{name}.webp"' in product, slug
        other = text(client.get("/p/QB-10"))
        assert 'class="thumb thumb-card"' in other and "/media/" not in other, slug


def test_every_theme_declares_the_studio_settings(app):
    from kameng.tenants.themes import settings_schema

    for name in available_themes():
        schema = settings_schema(name)
        kinds = {key: spec["type"] for key, spec in schema.items()}
        assert kinds["primary_color"] == kinds["accent_color"] == "color", name
        assert kinds["logo_url"] == kinds["banner_image"] == "image", name
        assert kinds["announcement_starts"] == kinds["announcement_ends"] == "datetime", name
        assert kinds["footer_text"] == "textarea" and kinds["featured_products"] == "products"


def test_a_legacy_logo_address_does_not_block_the_studio(app, tree, client_for):
    settings = dict(tree.star.settings or {})
    settings["theme"] = {"logo_url": "http://old.example/logo.png"}
    tree.star.settings = settings
    db.session.commit()
    resp = _post(_owner(client_for), {"banner_text": "new", "action": "publish"})
    assert resp.status_code == 302
    db.session.refresh(tree.star)
    assert tree.star.theme_settings["banner_text"] == "new"
