"""Stock pages: master staff only; imports through the "imports" queue with progress."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from kameng.core.audit import AuditEvent
from kameng.core.extensions import db
from kameng.shop.stock.models import StockBatch
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login
from tests.stock.conftest import assert_counter

pytestmark = pytest.mark.both


def run_imports(app):
    from kameng.workers.runner import run_worker

    db.session.commit()
    run_worker(app, ["imports"], burst=True)


def test_sub_shop_staff_get_403(app, tree, card, client_for):
    client = client_for("star.localhost")
    login(client, "owner@star.test")
    for page in ("/admin/stock/", f"/admin/stock/products/{card.id}"):
        assert client.get(page).status_code == 403
    assert client.post(f"/admin/stock/products/{card.id}", data={"codes": "X\n"}
                       ).status_code == 403
    assert client.post(f"/admin/stock/products/{card.id}/export").status_code == 403


def test_master_staff_import_pasted_codes_with_progress(app, tree, card, client_for,
                                                        redis_client):
    create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    client = client_for("master.localhost")
    login(client, "staff@master.test")
    resp = client.post(f"/admin/stock/products/{card.id}",
                       data={"codes": "P-1\nP-2\n\nP-1\n", "cost_note": "批次 1"})
    assert resp.status_code == 302
    batch = db.session.scalar(select(StockBatch))
    assert resp.headers["Location"].endswith(f"/admin/stock/batches/{batch.id}")
    assert client.get(f"/admin/stock/batches/{batch.id}/progress").json["status"] == "queued"
    assert redis_client.exists(f"kameng:import:{tree.master.id}:{batch.id}")
    run_imports(app)
    progress = client.get(f"/admin/stock/batches/{batch.id}/progress").json
    assert (progress["status"], progress["imported"], progress["duplicates"],
            progress["done"], progress["total"]) == ("done", 2, 1, 3, 3)
    page = client.get(f"/admin/stock/batches/{batch.id}").get_data(as_text=True)
    assert "done" in page and "P-1" not in page
    assert assert_counter(card) == 2
    overview = client.get("/admin/stock/").get_data(as_text=True)
    assert "CARD-1" in overview
    # staff may void, not export
    assert client.post(f"/admin/stock/products/{card.id}/export").status_code == 403
    assert client.post(f"/admin/stock/batches/{batch.id}/void").status_code == 302
    assert assert_counter(card) == 0
    import os

    assert not os.listdir(os.path.join(app.instance_path, "imports"))   # file removed


def test_upload_malformed_file_fails_the_batch_and_imports_nothing(app, tree, card,
                                                                    client_for):
    client = client_for("master.localhost")
    login(client, "owner@master.test")
    data = {"upload": (io.BytesIO(b"a,1\nSECRET-LINE\nb,2\n"), "codes.csv"), "separator": ","}
    resp = client.post(f"/admin/stock/products/{card.id}", data=data,
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    run_imports(app)
    batch = db.session.scalar(select(StockBatch))
    progress = client.get(f"/admin/stock/batches/{batch.id}/progress").json
    assert progress["status"] == "failed" and "2 (" in progress["error"]
    assert "SECRET-LINE" not in progress["error"]
    assert assert_counter(card) == 0


def test_owner_uploads_and_exports(app, tree, card, client_for):
    client = client_for("master.localhost")
    login(client, "owner@master.test")
    data = {"upload": (io.BytesIO(b"U-1\r\nU-2\r\n"), "codes.txt")}
    client.post(f"/admin/stock/products/{card.id}", data=data,
                content_type="multipart/form-data")
    run_imports(app)
    assert assert_counter(card) == 2
    resp = client.post(f"/admin/stock/products/{card.id}/export")
    assert resp.status_code == 200 and sorted(resp.get_data(as_text=True).splitlines()) == ["U-1", "U-2"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stock.export"))


def test_empty_import_form_shows_a_message(app, tree, card, client_for):
    client = client_for("master.localhost")
    login(client, "owner@master.test")
    client.get("/lang/en")  # service messages follow the page's locale; these read English
    resp = client.post(f"/admin/stock/products/{card.id}", data={"codes": "  "})
    assert resp.status_code == 200 and "paste codes or choose a file" in resp.get_data(as_text=True)
