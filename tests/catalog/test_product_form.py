"""The product form: the buyer-field editor (rows), image uploads checked and re-encoded,
and the media route that serves them (tenant scoping, fixed headers, no traversal)."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from kameng.core.extensions import db
from kameng.shop.catalog import images
from kameng.shop.catalog.models import Product
from kameng.shop.catalog.services import create_product
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login

pytestmark = pytest.mark.both

BASE = {"sku": "IMG-1", "name": "图片卡", "name_en": "Picture card", "kind": "card",
        "status": "on_sale", "category": "", "supplier_cost": "1", "wholesale_price": "2",
        "retail_price": "3", "min_quantity": 1, "max_quantity": 10, "low_stock_threshold": 5,
        "images": ""}


def _client(client_for, host, email, locale="en"):
    client = client_for(host)
    login(client, email)
    client.get(f"/lang/{locale}")
    return client


def _png(size=(64, 48), with_exif=True) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    if with_exif:
        exif = Image.Exif()
        exif[0x010E] = "secret GPS note"       # ImageDescription
        image.save(out, "JPEG", exif=exif.tobytes())
    else:
        image.save(out, "PNG")
    return out.getvalue()


def _gif() -> bytes:
    frames = [Image.new("P", (20, 20), i) for i in (1, 2)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def _post(client, data, files=None, url="/admin/catalog/products/new"):
    body = dict(data)
    for name, (content, filename) in (files or {}).items():
        body[name] = (io.BytesIO(content), filename)
    return client.post(url, data=body, content_type="multipart/form-data")


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.parametrize("who", ["owner", "staff"])
def test_master_owner_and_staff_edit_fields_as_rows(app, tree, client_for, locale, who):
    create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    client = _client(client_for, "master.localhost", f"{who}@master.test", locale)
    page = client.get("/admin/catalog/products/new")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'name="fields-0-name"' in body and 'enctype="multipart/form-data"' in body
    assert ("Add a field" if locale == "en" else "添加字段") in body
    # "add a field" saves nothing and shows one more row
    more = _post(client, dict(BASE, **{"fields-0-name": "account", "fields-0-label": "账号",
                                       "fields-0-type": "qq", "add_field": "1"}))
    body = more.get_data(as_text=True)
    assert more.status_code == 200 and 'name="fields-1-name"' in body
    assert db.session.scalar(select(Product)) is None
    # two rows with errors: each shown next to its row, nothing saved
    bad = _post(client, dict(BASE, **{
        "fields-0-name": "account", "fields-0-label": "", "fields-0-type": "text",
        "fields-1-name": "zone", "fields-1-label": "区服", "fields-1-regex": "([",
        "fields-1-type": "text"}))
    body = bad.get_data(as_text=True)
    assert body.count('class="row-errors"') == 2
    assert db.session.scalar(select(Product)) is None
    ok = _post(client, dict(BASE, **{
        "fields-0-name": "account", "fields-0-label": "游戏账号",
        "fields-0-label_en": "Game account", "fields-0-type": "qq", "fields-0-required": "y",
        "fields-1-name": "zone", "fields-1-label": "区服", "fields-1-type": "text",
        "fields-1-regex": "^[0-9]+$",
        "fields-2-name": "gone", "fields-2-label": "删掉", "fields-2-remove": "y",
        "fields-3-name": "", "fields-3-label": ""}))
    assert ok.status_code == 302
    product = db.session.scalar(select(Product))
    assert product.fields == [
        {"name": "account", "label": "游戏账号", "label_en": "Game account", "type": "qq",
         "regex": None, "required": True},
        {"name": "zone", "label": "区服", "label_en": None, "type": "text",
         "regex": "^[0-9]+$", "required": False}]
    body = client.get(f"/admin/catalog/products/{product.id}").get_data(as_text=True)
    assert 'value="游戏账号"' in body and 'value="^[0-9]+$"' in body
    assert 'name="fields-2-name"' in body          # the blank row to add one


def test_duplicate_field_names_refused_per_row(app, tree, client_for):
    client = _client(client_for, "master.localhost", "owner@master.test")
    bad = _post(client, dict(BASE, **{
        "fields-0-name": "a", "fields-0-label": "A", "fields-1-name": "a", "fields-1-label": "B"}))
    assert "is used twice" in bad.get_data(as_text=True)
    assert db.session.scalar(select(Product)) is None


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_sub_shop_owner_and_staff_get_403(app, tree, client_for, locale):
    create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    for email in ("owner@star.test", "staff@star.test", "owner@rocket.test"):
        client = _client(client_for, email.split("@")[1].replace(".test", ".localhost"),
                         email, locale)
        assert client.get("/admin/catalog/products/new").status_code == 403
        assert _post(client, BASE).status_code == 403


def test_upload_real_image_is_reencoded_and_served(app, tree, client_for):
    client = _client(client_for, "master.localhost", "owner@master.test")
    raw = _png()
    assert b"secret GPS note" in raw
    ok = _post(client, BASE, {"upload": (raw, "photo.jpg")})
    assert ok.status_code == 302
    product = db.session.scalar(select(Product))
    url = product.images[0]
    assert re.fullmatch(r"/media/[0-9a-f]{32}\.webp", url)
    stored = images.media_root(app) / str(tree.master.id) / url.rsplit("/", 1)[1]
    data = stored.read_bytes()
    assert data != raw and b"secret GPS note" not in data
    with Image.open(io.BytesIO(data)) as check:
        assert check.format == "WEBP" and check.size == (64, 48) and not check.getexif()
    thumb = images.thumb_url(url)
    for host in ("master.localhost", "star.localhost", "rocket.localhost"):
        for path in (url, thumb):
            answer = client_for(host).get(path)
            assert answer.status_code == 200, (host, path)
            assert answer.mimetype == "image/webp"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    # the storefronts of every theme show it (the thumbnail on lists)
    for theme in ("default", "classic", "midnight"):
        tree.star.theme = theme
        db.session.commit()
        shop = client_for("star.localhost")
        assert thumb in shop.get("/").get_data(as_text=True), theme
        assert url in shop.get("/p/IMG-1").get_data(as_text=True)


def test_gif_first_frame_and_png_accepted(app, tree, client_for):
    client = _client(client_for, "master.localhost", "owner@master.test")
    assert _post(client, BASE, {"upload": (_gif(), "anim.gif")}).status_code == 302
    product = db.session.scalar(select(Product))
    assert _post(client, dict(BASE, images="\n".join(product.images)),
                 {"upload": (_png(with_exif=False), "x.png")},
                 url=f"/admin/catalog/products/{product.id}").status_code == 302
    db.session.expire_all()
    assert len(db.session.get(Product, product.id).images) == 2


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_fake_image_refused(app, tree, client_for, locale):
    client = _client(client_for, "master.localhost", "owner@master.test", locale)
    bad = _post(client, BASE, {"upload": (b"<?php echo 'hi'; ?>\n" * 10, "evil.png")})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 200
    assert ("not a JPEG, PNG, WebP or GIF" if locale == "en" else "不是") in body
    assert db.session.scalar(select(Product)) is None
    assert not any((images.media_root(app)).rglob("*.webp"))


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_oversize_upload_answers_a_clear_error(app, tree, client_for, locale):
    app.config["MAX_IMAGE_BYTES"] = 50_000
    client = _client(client_for, "master.localhost", "owner@master.test", locale)
    big = _png(size=(400, 400), with_exif=False) + b"\0" * 60_000   # valid start, too big
    # within the form allowance: refused by the image check
    answer = _post(client, BASE, {"upload": (big, "big.png")})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and ("50 MB" not in body)
    assert ("larger than" if locale == "en" else "大于") in body
    # beyond the whole body's limit: a 413 with the form and a message, not a bare page
    huge = b"\x89PNG" + b"\0" * (50_000 + 300 * 1024)
    answer = _post(client, BASE, {"upload": (huge, "huge.png")})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 413 and 'name="sku"' in body
    assert ("too large" if locale == "en" else "太大") in body
    assert db.session.scalar(select(Product)) is None


def test_media_route_refuses_traversal_and_other_trees(app, tree, client_for):
    upload = type("U", (), {"stream": io.BytesIO(_png(with_exif=False))})()
    with app.test_request_context():
        url = images.store_image(upload, tree.star.id)   # a sub-shop's own image
    name = url.rsplit("/", 1)[1]
    assert client_for("star.localhost").get(url).status_code == 200
    assert client_for("rocket.localhost").get(url).status_code == 200   # its sub-shop
    assert client_for("master.localhost").get(url).status_code == 404   # not its parent
    (images.media_root(app) / "secret.txt").write_text("secret")
    for path in ("/media/../secret.txt", "/media/..%2Fsecret.txt", "/media/%2e%2e%2fsecret.txt",
                 f"/media/..%2F{tree.star.id}%2F{name}", "/media/secret.txt",
                 f"/media/{name[:-5]}.WEBP", f"/media/{name}%00.png", "/media/.",
                 f"/media/{tree.star.id}/{name}", "/media/%5C..%5Csecret.txt"):
        answer = client_for("star.localhost").get(path)
        assert answer.status_code == 404, path
        assert answer.data != b"secret" and answer.mimetype != "image/webp"


def test_thumb_url_only_rewrites_our_media():
    assert images.thumb_url("https://x.example/a.webp") == "https://x.example/a.webp"
    assert images.thumb_url("/media/" + "a" * 32 + ".webp") == "/media/" + "a" * 32 + "_t.webp"
    assert images.thumb_url(None) is None


def test_existing_product_form_keeps_its_fields(app, tree, client_for):
    product = create_product(sku="F-1", name="x", kind="topup", supplier_cost=1,
                             wholesale_price=2, retail_price=3,
                             fields=[{"name": "phone", "label": "手机", "type": "phone"}])
    client = _client(client_for, "master.localhost", "owner@master.test")
    body = client.get(f"/admin/catalog/products/{product.id}").get_data(as_text=True)
    assert re.search(r'name="fields-0-name"[^>]*value="phone"', body)
    assert re.search(r'<option selected value="phone">|<option value="phone" selected>', body)


def test_a_refused_product_keeps_no_uploaded_file(app, tree, client_for):
    create_product(sku="IMG-1", name="已有", kind="topup", supplier_cost=1, wholesale_price=2,
                   retail_price=3)
    client = _client(client_for, "master.localhost", "owner@master.test")
    answer = _post(client, BASE, {"upload": (_png(with_exif=False), "x.png")})  # SKU taken
    assert answer.status_code == 200 and "already exists" in answer.get_data(as_text=True)
    assert not any(images.media_root(app).rglob("*.webp"))
