"""The codes list: filter, exact search by the keyed fingerprint, pages, void with a reason;
codes shown to the owner only, never sold or reserved codes voided."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.core.audit import AuditEvent
from kameng.core.errors import Conflict, InvalidInput
from kameng.core.extensions import db
from kameng.shop.stock import services as stock
from kameng.shop.stock.models import CardCode
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login
from tests.stock.conftest import assert_counter, codes

pytestmark = pytest.mark.both


def _client(client_for, host, email, locale):
    client = client_for(host)
    login(client, email)
    client.get(f"/lang/{locale}")
    return client


def _ids(product):
    return list(db.session.scalars(select(CardCode.id).where(CardCode.product_id == product.id)
                                   .order_by(CardCode.id)))


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_owner_sees_codes_staff_sees_ids_sub_shop_gets_403(app, tree, card, client_for, locale):
    stock.import_codes(card, text=codes(3, "LIST"))
    create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    url = f"/admin/stock/products/{card.id}/codes"
    owner = _client(client_for, "master.localhost", "owner@master.test", locale)
    page = owner.get(url)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    body = page.get_data(as_text=True)
    assert "LIST-00000" in body and "LIST-00002" in body
    assert ("Void selected" if locale == "en" else "作废所选") in body
    seen = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stock.view_codes"))
    assert seen is not None and seen.detail["count"] == 3
    staff = _client(client_for, "master.localhost", "staff@master.test", locale)
    body = staff.get(url).get_data(as_text=True)
    assert "LIST-0000" not in body and f'data-code-id="{_ids(card)[0]}"' in body
    create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "stock.view_codes")) == 1
    for host, email in (("star.localhost", "owner@star.test"),
                        ("star.localhost", "staff@star.test"),
                        ("rocket.localhost", "owner@rocket.test")):
        sub = _client(client_for, host, email, locale)
        assert sub.get(url).status_code == 403
        assert sub.post(url, data={"code": [_ids(card)[0]], "reason": "x"}).status_code == 403
    assert stock.list_codes(card, status="void")[0] == []


def test_search_by_exact_code_id_and_batch_and_status(app, tree, card, client_for):
    stock.import_codes(card, text=codes(5, "FIND"))
    second = stock.import_codes(card, text="OTHER-1\n")
    ids = _ids(card)
    rows, _ = stock.list_codes(card, search="FIND-00003", reveal=True)
    assert [r.code for r in rows] == ["FIND-00003"]
    assert stock.list_codes(card, search="FIND-0000")[0] == []       # exact only
    assert [r.id for r in stock.list_codes(card, search=f"#{ids[1]}")[0]] == [ids[1]]
    assert [r.code for r in stock.list_codes(card, search=f"batch:{second.batch_id}",
                                             reveal=True)[0]] == ["OTHER-1"]
    assert all(r.code is None for r in stock.list_codes(card)[0])    # not revealed
    stock.void_codes(card, [ids[0]], "damaged")
    assert [r.id for r in stock.list_codes(card, status="void")[0]] == [ids[0]]
    assert len(stock.list_codes(card, status="available")[0]) == 5
    client = _client(client_for, "master.localhost", "owner@master.test", "en")
    body = client.get(f"/admin/stock/products/{card.id}/codes?q=FIND-00004").get_data(
        as_text=True)
    assert "FIND-00004" in body and "FIND-00001" not in body


def test_pages_are_keyset(app, tree, card):
    stock.import_codes(card, text=codes(7, "PG"))
    first, older = stock.list_codes(card, size=3)
    second, older2 = stock.list_codes(card, size=3, before=older)
    third, last = stock.list_codes(card, size=3, before=older2)
    assert [len(first), len(second), len(third), last] == [3, 3, 1, None]
    assert len({r.id for r in first + second + third}) == 7


def test_void_selected_with_reason_audited(app, tree, card, client_for):
    stock.import_codes(card, text=codes(4, "V"))
    ids = _ids(card)
    client = _client(client_for, "master.localhost", "owner@master.test", "zh_CN")
    url = f"/admin/stock/products/{card.id}/codes"
    refused = client.post(url, data={"code": [ids[0]], "reason": " "})
    assert refused.status_code == 422 and assert_counter(card) == 4
    done = client.post(url, data={"code": [ids[0], ids[1]], "reason": "泄露"})
    assert done.status_code == 302 and assert_counter(card) == 2
    voided = db.session.scalars(select(CardCode).where(CardCode.status == "void")).all()
    assert {c.id for c in voided} == {ids[0], ids[1]}
    assert all(c.void_reason == "泄露" and c.voided_at for c in voided)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stock.void_codes"))
    assert event.detail["code_ids"] == [ids[0], ids[1]] and event.detail["reason"] == "泄露"


def test_void_refuses_sold_and_reserved_codes_whole_request(app, tree, card):
    stock.import_codes(card, text=codes(3, "S"))
    ids = _ids(card)
    db.session.execute(CardCode.__table__.update().where(CardCode.id == ids[0])
                       .values(status="sold"))
    db.session.execute(CardCode.__table__.update().where(CardCode.id == ids[1])
                       .values(status="reserved"))
    db.session.commit()
    for chosen in ([ids[0]], [ids[1]], [ids[2], ids[0]]):
        with pytest.raises(Conflict):
            stock.void_codes(card, chosen, "no")
    db.session.expire_all()
    assert [db.session.get(CardCode, i).status for i in ids] == ["sold", "reserved",
                                                                 "available"]
    with pytest.raises(InvalidInput):
        stock.void_codes(card, [], "why")


def test_void_refused_on_the_page_shows_the_reason(app, tree, card, client_for):
    stock.import_codes(card, text=codes(2, "R"))
    ids = _ids(card)
    db.session.execute(CardCode.__table__.update().where(CardCode.id == ids[0])
                       .values(status="sold"))
    db.session.commit()
    client = _client(client_for, "master.localhost", "owner@master.test", "en")
    answer = client.post(f"/admin/stock/products/{card.id}/codes",
                         data={"code": [ids[0]], "reason": "x"})
    assert answer.status_code == 409
    assert "only an available code can be voided" in answer.get_data(as_text=True)
    assert db.session.get(CardCode, ids[0]).status == "sold"
