"""Manual products: the order waits in the queue of the shop that owns the stock (the
master), whichever site took it, and the master's staff deliver it by hand."""
from __future__ import annotations

import re

import pytest

from kameng.core.audit import AuditEvent
from kameng.core.errors import Conflict, InvalidInput, ServiceError
from kameng.core.extensions import db
from kameng.sales import services
from kameng.sales.manual import deliver_manual
from kameng.shop.catalog import services as catalog
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login
from tests.orders.helpers import fund
from tests.orders.web_helpers import (
    checkout,
    enable_balance,
    get_order,
    order_no_from,
    outbox_count,
    run_jobs,
)


def manual_product(sku="VIP-MONTH"):
    return catalog.create_product(sku=sku, name="VIP membership", kind="manual",
                                  supplier_cost=1000, wholesale_price=1500, retail_price=2000)


def paid_manual_order(app, tree, client_for):
    product = manual_product()
    enable_balance(tree.star)
    fund(tree.star_customer, 100_000)
    buyer = client_for("star.localhost")
    login(buyer, tree.star_customer.email)
    order_no = order_no_from(checkout(buyer, product.sku, "balance"))
    run_jobs(app)  # the job claims the order and leaves the manual line to staff
    order = get_order(order_no)
    assert order.status == "fulfilling" and order.lines[0].status == "pending"
    return buyer, order


@pytest.mark.both
@pytest.mark.app_config(SMTP_URL="smtp://127.0.0.1:9")  # so the delivery queues its e-mail
def test_staff_deliver_a_manual_order_from_the_queue(app, tree, client_for):
    buyer, order = paid_manual_order(app, tree, client_for)
    page = buyer.get(f"/o/{order.order_no}")
    assert 'data-waiting="manual"' in page.text and "data-poll-url" in page.text

    # the star's site took the order; its staff see the status, read-only
    star_staff = client_for("star.localhost")
    login(star_staff, create_user(tree.star, "staff@star.test", "staff", PASSWORD).email)
    assert order.order_no in star_staff.get("/admin/orders?status=queue").text
    star_detail = star_staff.get(f"/admin/orders/{order.order_no}")
    assert star_detail.status_code == 200 and 'class="manual-form"' not in star_detail.text
    assert star_staff.post(f"/admin/orders/{order.order_no}/lines/{order.lines[0].id}/deliver",
                           data={"codes": "NOPE"}).status_code == 403

    staff_user = create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    staff = client_for("master.localhost")
    login(staff, staff_user.email)
    queue = staff.get("/admin/orders?status=queue")
    assert queue.status_code == 200 and order.order_no in queue.text
    detail = staff.get(f"/admin/orders/{order.order_no}")
    assert 'class="manual-form"' in detail.text
    assert 'class="card refund-form"' not in detail.text  # refunds are the owner's

    line_id = order.lines[0].id
    url = f"/admin/orders/{order.order_no}/lines/{line_id}/deliver"
    empty = staff.post(url, data={"codes": "  \n \n"})
    assert empty.status_code == 422 and get_order(order.order_no).status == "fulfilling"

    resp = staff.post(url, data={"codes": "VIP-AAAA-1111\n\n  VIP-BBBB-2222  \n"})
    assert resp.status_code == 302
    order = get_order(order.order_no)
    assert order.status == "delivered" and order.delivered_at is not None
    assert services.order_codes(order) == ["VIP-AAAA-1111", "VIP-BBBB-2222"]
    assert outbox_count("order.delivered", order) == 1
    assert db.session.query(AuditEvent).filter_by(action="order.deliver_manual").count() == 1

    page = buyer.get(f"/o/{order.order_no}")
    assert re.findall(r'<code class="code">([^<]+)</code>', page.text) == [
        "VIP-AAAA-1111", "VIP-BBBB-2222"]
    # delivering again changes nothing
    again = staff.post(url, data={"codes": "OTHER"})
    assert again.status_code == 422
    assert services.order_codes(get_order(order.order_no)) == ["VIP-AAAA-1111", "VIP-BBBB-2222"]
    assert outbox_count("order.delivered", order) == 1
    assert order.order_no not in staff.get("/admin/orders?status=queue").text


def test_manual_delivery_service_refuses_what_it_must(app, tree, client_for):
    _, order = paid_manual_order(app, tree, client_for)
    line_id = order.lines[0].id
    with pytest.raises(ServiceError) as refused:  # the selling shop does not own the stock
        deliver_manual(order, line_id, "CODE-0", tree.star_owner)
    assert refused.value.status == 403
    with pytest.raises(InvalidInput):
        deliver_manual(order, line_id, "\n\n", tree.master_owner)
    with pytest.raises(InvalidInput):
        deliver_manual(order, line_id, "bad\x00code", tree.master_owner)
    assert deliver_manual(order, line_id, "CODE-1", tree.master_owner) == ["CODE-1"]
    with pytest.raises(Conflict):
        deliver_manual(get_order(order.order_no), line_id, "CODE-2", tree.master_owner)
    assert services.order_codes(get_order(order.order_no)) == ["CODE-1"]


@pytest.mark.app_config(SMTP_URL="smtp://127.0.0.1:9")
def test_a_paid_order_the_job_has_not_seen_yet_is_delivered_too(app, tree):
    product = manual_product()
    fund(tree.star_customer, 100_000)
    order = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer).order
    assert order.status == "paid"
    deliver_manual(order, order.lines[0].id, "CODE-X", tree.master_owner)
    assert get_order(order.order_no).status == "delivered"
    run_jobs(app)  # the job arriving late finds nothing to do
    assert get_order(order.order_no).status == "delivered"
    assert outbox_count("order.delivered", order) == 1


def test_customers_and_other_shops_cannot_deliver(app, tree, client_for):
    _, order = paid_manual_order(app, tree, client_for)
    url = f"/admin/orders/{order.order_no}/lines/{order.lines[0].id}/deliver"
    customer = client_for("star.localhost")
    login(customer, tree.star_customer.email)
    assert customer.post(url, data={"codes": "X"}).status_code == 403
    rocket_owner = client_for("rocket.localhost")
    login(rocket_owner, tree.rocket_owner.email)
    assert rocket_owner.get(f"/admin/orders/{order.order_no}").status_code == 404
    assert rocket_owner.post(url, data={"codes": "X"}).status_code == 404
    assert get_order(order.order_no).status == "fulfilling"
