"""Theme lookup through the chain, per-theme template caching, escaping, settings."""
from __future__ import annotations

import pytest
from flask import g

from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.tenants.services import create_user, update_appearance
from kameng.tenants.themes import available_themes, render, theme_chain, validate_settings
from tests.helpers import PASSWORD, login
from tests.storefront.catalog import make_catalog

pytestmark = pytest.mark.both


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_every_theme_has_a_schema_and_falls_back_to_default(app):
    themes = available_themes()
    assert {"default", "classic", "midnight"} <= set(themes)
    assert [t.name for t in theme_chain("midnight")] == ["midnight", "default"]
    assert [t.name for t in theme_chain("classic")] == ["classic", "default"]
    assert [t.name for t in theme_chain("no-such-theme")] == ["default"]
    for name in ("default", "classic", "midnight"):
        assert themes[name].description


def test_a_child_theme_overrides_one_template_and_its_css(app, tree, client_for):
    make_catalog(tree)
    master = client_for("master.localhost")    # default
    rocket = client_for("rocket.localhost")    # midnight, child of default
    home = text(rocket.get("/"))
    assert 'data-template="midnight-hero"' in home
    assert 'data-template="midnight-hero"' not in text(master.get("/"))
    # every other template comes from the parent: same product-card markup
    assert 'class="grid"' in home and 'class="grid"' in text(master.get("/"))
    # static files resolve through the chain too
    assert "#0b0d1a" in text(rocket.get("/_theme/skin.css"))  # the dark skin
    assert "#0b0d1a" not in text(master.get("/_theme/skin.css"))
    assert rocket.get("/_theme/theme.css").data == master.get("/_theme/theme.css").data
    classic_css = client_for("star.localhost").get("/_theme/theme.css").data
    assert classic_css != master.get("/_theme/theme.css").data
    assert rocket.get("/_theme/../theme.json").status_code == 404
    assert rocket.get("/_theme/nope.css").status_code == 404


def test_stylesheet_urls_change_with_the_theme(app, tree, client_for):
    """A browser must not keep the previous theme's cached CSS after a switch."""
    import re

    client = client_for("star.localhost")
    before = re.findall(r'href="(/_theme/theme.css[^"]*)"', text(client.get("/")))
    update_appearance(tree.star, "default", {})
    after = re.findall(r'href="(/_theme/theme.css[^"]*)"', text(client.get("/")))
    assert before and after and before != after
    assert b"table-layout" not in client.get(after[0]).data  # the default theme's CSS


def test_two_themes_render_the_same_template_name_differently_in_one_process(app, tree):
    """Jinja's cache is keyed by theme: one shop's template never serves another."""
    rendered = {}
    for tenant in (tree.master, tree.star, tree.master, tree.star, tree.rocket):
        with app.test_request_context("/", base_url=f"http://{tenant.slug}.localhost"):
            g.tenant = tenant
            rendered.setdefault(tenant.slug, set()).add(
                render("index.html", items=[], sections=[], uncategorised=[], featured=[],
                       categories=[], show_stock_count=False))
    assert all(len(v) == 1 for v in rendered.values())  # stable across cache hits
    default, classic, midnight = (rendered[s].pop() for s in ("master", "star", "rocket"))
    assert 'class="topbar"' in classic and 'class="topbar"' not in default
    assert 'class="hero"' in default and 'midnight-hero' in midnight
    keys = {key[1] for key in app.jinja_env.cache.keys()}
    assert {"@default/index.html", "@classic/index.html", "@midnight/index.html"} <= keys


def test_each_shop_pages_use_its_theme(app, tree, client_for):
    make_catalog(tree)
    for host, marker in (("master.localhost", 'class="site-header"'),
                         ("star.localhost", 'class="ptable"'),
                         ("rocket.localhost", "midnight-hero")):
        assert marker in text(client_for(host).get("/")), host
    # login, sign-up and lookup pages exist for every theme (classic inherits them)
    for host in ("master.localhost", "star.localhost", "rocket.localhost"):
        client = client_for(host)
        assert client.get("/login").status_code == 200
        assert client.get("/register").status_code == 200


EVIL = '<script>alert("x")</script>'


def test_shop_name_banner_and_announcement_are_escaped(app, tree, client_for):
    shop = make_catalog(tree)
    tree.star.name = EVIL
    db.session.commit()
    update_appearance(tree.star, "classic", {"banner_text": EVIL, "announcement": EVIL})
    shop.qb.name = EVIL
    shop.qb.description = EVIL
    db.session.commit()
    update_appearance(tree.master, "default", {"banner_text": EVIL, "announcement": EVIL})
    for host in ("star.localhost", "master.localhost"):
        client = client_for(host)
        for path in ("/", "/p/QB-10", "/search?q=" + EVIL, "/login", "/nope"):
            body = text(client.get(path))
            assert "<script>" not in body, (host, path)
        assert "&lt;script&gt;" in text(client.get("/"))


@pytest.mark.parametrize("values", [
    {"primary_color": "red"},
    {"primary_color": "#12345"},
    {"accent_color": "#12345g"},
    {"logo_url": "javascript:alert(1)"},
    {"banner_text": "x" * 121},
    {"announcement": "x" * 501},
    {"no_such_setting": "1"},
])
def test_settings_validation_refuses_bad_values(app, values):
    with pytest.raises(InvalidInput):
        validate_settings("default", values)


def test_settings_validation_cleans_good_values(app):
    clean = validate_settings("classic", {
        "primary_color": "#AA0000", "logo_url": "https://cdn.example/logo.png",
        "banner_text": "  年终大促  ", "announcement": "", "show_stock_count": True})
    assert clean == {"primary_color": "#AA0000", "logo_url": "https://cdn.example/logo.png",
                     "banner_text": "年终大促", "show_stock_count": True}


def test_update_appearance_writes_nothing_on_bad_input(app, tree):
    with pytest.raises(InvalidInput):
        update_appearance(tree.star, "midnight", {"banner_text": "ok", "primary_color": "nope"})
    db.session.rollback()
    db.session.refresh(tree.star)
    assert tree.star.theme == "classic" and tree.star.theme_settings == {}
    with pytest.raises(InvalidInput):
        update_appearance(tree.star, "no-such-theme", {})


def test_update_appearance_switches_theme_and_keeps_or_resets_settings(app, tree):
    update_appearance(tree.star, "midnight", {"banner_text": "夜场", "primary_color": "#101010"})
    assert tree.star.theme == "midnight"
    assert tree.star.theme_settings == {"banner_text": "夜场", "primary_color": "#101010"}
    update_appearance(tree.star, "default", {"primary_color": ""})  # blank: back to default
    db.session.refresh(tree.star)
    assert tree.star.theme_settings == {"banner_text": "夜场"}


def test_appearance_page_is_for_the_owner_only(app, tree, client_for):
    create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    anonymous = client_for("star.localhost")
    assert anonymous.get("/admin/appearance").status_code == 302
    for email in ("staff@star.test", "buyer@star.test"):
        client = client_for("star.localhost")
        login(client, email)
        assert client.get("/admin/appearance").status_code == 403
        assert client.post("/admin/appearance", data={"theme": "default"}).status_code == 403
    # the owner of another shop has no session on this host
    other = client_for("star.localhost")
    login(other, "owner@master.test")
    assert other.get("/admin/appearance").status_code == 302


def test_appearance_page_shows_errors_and_saves(app, tree, client_for):
    client = client_for("star.localhost")
    client.get("/lang/en")
    login(client, "owner@star.test")
    page = text(client.get("/admin/appearance"))
    for name in ("default", "classic", "midnight"):
        assert f'data-theme="{name}"' in page
    assert 'name="primary_color"' in page and 'name="announcement"' in page
    # switching the theme in the form shows that theme's fields and defaults
    assert "#7c3aed" in text(client.get("/admin/appearance?theme=midnight"))

    bad = client.post("/admin/appearance", data={
        "theme": "midnight", "primary_color": "purple", "announcement_starts": "tomorrow",
        "banner_text": "Night sale"})
    assert bad.status_code == 422
    body = text(bad)
    assert "Use a colour like #1a2b3c." in body and "Use a date and time" in body
    assert 'value="Night sale"' in body  # what the owner typed is kept
    db.session.refresh(tree.star)
    assert tree.star.theme == "classic"

    ok = client.post("/admin/appearance", data={
        "theme": "midnight", "primary_color": "#ff0088", "banner_text": "Night sale",
        "announcement": "Open 24/7", "show_stock_count": "on", "action": "publish"})
    assert ok.status_code == 302
    db.session.refresh(tree.star)
    assert tree.star.theme == "midnight"
    assert tree.star.theme_settings["show_stock_count"] is True
    home = text(client_for("star.localhost").get("/"))
    assert "midnight-hero" in home and "--primary:#ff0088" in home
    assert "Night sale" in home and "Open 24/7" in home


def test_admin_layout_links_appearance_for_owners(app, tree, client_for):
    create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    owner = client_for("star.localhost")
    login(owner, "owner@star.test")
    body = text(owner.get("/admin/"))
    assert 'href="/admin/appearance"' in body and 'class="side-nav"' in body
    staff = client_for("star.localhost")
    login(staff, "staff@star.test")
    assert 'href="/admin/appearance"' not in text(staff.get("/admin/"))


def test_language_switch_and_tenant_default(app, tree, client_for):
    client = client_for("star.localhost")
    assert "搜索商品" in text(client.get("/"))  # the shop's default, zh_CN
    resp = client.get("/lang/en?next=/search?q%3Dx")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/search?q=x")
    body = text(client.get("/"))
    assert "Search products" in body and "搜索商品" not in body
    assert 'lang="en"' in body
    client.get("/lang/zh_CN")
    assert "搜索商品" in text(client.get("/"))
    assert client.get("/lang/fr").status_code == 404
    assert client.get("/lang/en?next=//evil.example/").headers["Location"] in ("/", "http://star.localhost/")

    tree.rocket.locale = "en"
    db.session.commit()
    assert "Search products" in text(client_for("rocket.localhost").get("/"))


def test_auth_pages_and_errors_are_translated(app, tree, client_for):
    client = client_for("master.localhost")
    assert "登录" in text(client.get("/login")) and "邮箱" in text(client.get("/login"))
    assert "页面不存在" in text(client.get("/no-such-page"))
    client.get("/lang/en")
    assert "Page not found" in text(client.get("/no-such-page"))
    assert "E-mail" in text(client.get("/login"))


def test_unknown_host_error_page_names_no_shop(app, tree, client_for):
    body = text(client_for("nobody.localhost").get("/"))
    for word in ("Master Shop", "Star Cards", "Rocket", "master", "star", "rocket", "classic"):
        assert word not in body
