"""Shop settings (/admin/shop-settings): customer-service contacts shown by every theme,
escaped; the shop's time zone, in which every page shows the times stored in UTC."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.tenants import api_keys
from kameng.tenants import services as tenants
from kameng.tenants.shop_settings import (
    DEFAULT_TIME_ZONE,
    contacts_of,
    format_shop_time,
    time_zone_of,
    update_shop_settings,
)
from tests.helpers import PASSWORD, login

pytestmark = pytest.mark.both

LANGS = ("en", "zh_CN")
CONTACTS = {"qq": "12345678", "wechat": "kameng_cs", "telegram": "@kameng_help",
            "email": "Help@Star.test", "url": 'https://chat.example/?q="><script>x</script>'}


@pytest.fixture
def shops(tree):
    tree.nova = tenants.create_tenant("nova", "Nova", "master", theme="classic")
    tenants.create_user(tree.nova, "owner@nova.test", "owner", PASSWORD)
    for t in (tree.master, tree.star, tree.rocket):
        tenants.create_user(t, f"staff@{t.slug}.test", "staff", PASSWORD)
    return tree


def _as(client_for, slug: str, role: str | None = "owner", lang: str = "en"):
    client = client_for(f"{slug}.localhost")
    if role:
        login(client, f"{role}@{slug}.test")
    client.get(f"/lang/{lang}")
    return client


def _fresh(slug: str):
    db.session.expire_all()
    return tenants.tenant_by_slug(slug)


@pytest.mark.parametrize("lang", LANGS)
def test_page_for_every_owner_not_staff(shops, client_for, lang):
    for slug in ("master", "star", "rocket"):
        page = _as(client_for, slug, lang=lang).get("/admin/shop-settings")
        assert page.status_code == 200
        assert 'name="wechat"' in page.text and 'value="Asia/Shanghai" selected' in page.text
        if lang == "zh_CN":
            assert "客服" in page.text and "时区" in page.text
        staff = _as(client_for, slug, "staff", lang)
        assert staff.get("/admin/shop-settings").status_code == 403
        assert staff.post("/admin/shop-settings", data={"qq": "12345"}).status_code == 403
    assert contacts_of(_fresh("star")) == {}


def test_contacts_saved_and_shown_escaped_by_every_theme(shops, client_for):
    star = _as(client_for, "star")
    resp = star.post("/admin/shop-settings", data={**CONTACTS, "time_zone": "Asia/Shanghai"})
    assert resp.status_code == 302
    saved = contacts_of(_fresh("star"))
    assert saved == {**CONTACTS, "telegram": "kameng_help", "email": "help@star.test"}
    # each shop its own: the parent, the child and the sibling show none
    for slug in ("master", "rocket", "nova"):
        assert contacts_of(_fresh(slug)) == {}
    for slug, theme in (("star", "classic"), ("star", "default"), ("star", "midnight")):
        tenants.update_appearance(_fresh(slug), theme, {})
        for lang in LANGS:
            html = _as(client_for, slug, None, lang).get("/").text
            assert "12345678" in html and "kameng_cs" in html, theme
            assert 'href="https://t.me/kameng_help"' in html
            assert 'href="mailto:help@star.test"' in html
            assert "<script>x" not in html and "&#34;&gt;&lt;script&gt;x" in html, theme
    assert "12345678" not in _as(client_for, "rocket", None).get("/").text
    assert "12345678" not in _as(client_for, "nova", None).get("/").text
    # an empty field removes that contact
    star.post("/admin/shop-settings", data={**CONTACTS, "qq": "", "time_zone": "UTC"})
    assert "qq" not in contacts_of(_fresh("star"))


@pytest.mark.parametrize("lang", LANGS)
def test_bad_contacts_are_all_refused_and_nothing_written(shops, client_for, lang):
    star = _as(client_for, "star", lang=lang)
    bad = {"qq": "qq123", "wechat": "1 2", "telegram": "ab", "email": "not-an-address",
           "url": "javascript:alert(1)", "time_zone": "Mars/Olympus"}
    resp = star.post("/admin/shop-settings", data=bad)
    assert resp.status_code == 422
    assert resp.text.count('aria-invalid="true"') == 5 and resp.text.count('class="error"') == 6
    assert ("QQ 号" in resp.text) == (lang == "zh_CN")
    for field, value in {**bad, "qq": "12345", "url": "ftp://files.example/"}.items():
        data = {**CONTACTS, "time_zone": "UTC", field: value}
        if field == "qq":
            data["url"] = "ftp://files.example/"
        assert star.post("/admin/shop-settings", data=data).status_code == 422, field
    tenant = _fresh("star")
    assert contacts_of(tenant) == {} and time_zone_of(tenant) == DEFAULT_TIME_ZONE
    with pytest.raises(InvalidInput):
        update_shop_settings(tenant, contacts={"url": "http://"})


def test_times_in_the_shops_zone_everywhere(shops, client_for):
    owner = shops.star_owner
    key = api_keys.create_key(owner, "k").key
    key.created_at = datetime(2026, 1, 1, 16, 30, tzinfo=UTC)
    buyer_key = api_keys.create_key(shops.star_customer, "b").key
    buyer_key.created_at = datetime(2026, 1, 1, 16, 30, tzinfo=UTC)
    db.session.commit()
    star = _as(client_for, "star")
    buyer = _as(client_for, "star", "buyer")
    # the default zone, Asia/Shanghai: UTC+8
    assert "2026-01-02 00:30" in star.get("/admin/api-keys").text
    assert "2026-01-02 00:30" in buyer.get("/account/api-keys").text
    assert star.post("/admin/shop-settings",
                     data={"time_zone": "America/New_York"}).status_code == 302
    assert time_zone_of(_fresh("star")) == "America/New_York"
    assert "2026-01-01 11:30" in star.get("/admin/api-keys").text
    assert "2026-01-01 11:30" in buyer.get("/account/api-keys").text
    # stored in UTC still; the parent and the child keep their own zone
    db.session.expire_all()
    assert db.session.get(type(key), key.id).created_at == datetime(2026, 1, 1, 16, 30,
                                                                    tzinfo=UTC)
    assert time_zone_of(_fresh("master")) == time_zone_of(_fresh("rocket")) == "Asia/Shanghai"
    stamp = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert format_shop_time(stamp, _fresh("rocket")) == "2026-07-01 20:00"
    assert format_shop_time(stamp, _fresh("star")) == "2026-07-01 08:00"   # summer time
    assert format_shop_time(None, _fresh("star")) == ""


def test_templates_print_times_only_through_shoptime():
    """A time printed with ``strftime`` in a template would be UTC on a page that
    claims the shop's zone: every template uses ``|shoptime`` instead."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = [f"{path.relative_to(root)}:{number}"
             for folder in ("platform", "themes")
             for path in sorted((root / folder).rglob("templates/**/*.html"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if ".strftime(" in line or ".isoformat(" in line]
    assert not found, found
