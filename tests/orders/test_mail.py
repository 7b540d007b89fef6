"""The delivery e-mail, sent over SMTP to a real server on loopback (aiosmtpd), by the
real fulfilment and the real ``order_delivered`` job run by an RQ worker."""
from __future__ import annotations

import pytest

from kameng.billing.payments.base import PaymentNotice
from kameng.sales import services
from kameng.workers.jobs import order_delivered
from tests.fakes.smtp import smtp  # noqa: F401  (fixture)
from tests.orders.helpers import card_product, fund_own_gateway
from tests.orders.web_helpers import outbox_count, run_jobs


def paid_guest_order(tenant, product, contact, quantity=2, locale=None):
    if not tenant.is_master:
        fund_own_gateway(tenant)  # its own gateway: the parent's price from its funds
    order = services.place_order(tenant, sku=product.sku, quantity=quantity,
                                 payment_method="epay", contact=contact,
                                 lookup_password="pw-1234", locale=locale).order
    assert services.record_payment(tenant, PaymentNotice(
        provider="epay", order_no=order.order_no, amount=order.amount,
        currency=order.currency, provider_ref="T-1", paid=True))
    return order


@pytest.mark.both
def test_delivery_sends_one_bilingual_email_with_the_codes(app, tree, smtp):
    product = card_product(codes=5)
    order = paid_guest_order(tree.star, product, "buyer@example.com", locale="en")
    run_jobs(app, "fulfilment")   # fulfil → delivered → the order.delivered outbox row
    run_jobs(app, "mail")         # the real job: kameng.workers.jobs.order_delivered
    order = services.get_order(order.order_no)
    assert order.status == "delivered" and outbox_count("order.delivered", order) == 1
    codes = services.order_codes(order)

    [(rcpt, msg)] = smtp.messages
    assert rcpt == ["buyer@example.com"]
    assert msg["From"] == "shop@kameng.test"
    subject = str(msg["Subject"])
    assert order.order_no in subject and "delivered" in subject and "已发货" in subject
    assert subject.index("delivered") < subject.index("已发货")  # the buyer's language first
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for code in codes:
        assert text.count(code) == 2  # once per language
        assert code in html
    assert "Your order" in text and "您的订单" not in text[:20]
    assert "您在 Star Cards 的订单" in text
    assert f"/lookup?order_number={order.order_no}" in text

    # the job again (a retried or duplicated job): it sends again but nothing else changes
    assert order_delivered(tree.star.id, order.id) == "sent"
    assert len(smtp.messages) == 2


def test_chinese_buyers_get_chinese_first_and_html_is_escaped(app, tree, smtp):
    from kameng.shop.catalog import services as catalog
    from kameng.shop.stock import services as stock

    product = catalog.create_product(sku="ESC-1", name="<b>Card</b> & co", kind="card",
                                     supplier_cost=100, wholesale_price=200, retail_price=300)
    stock.import_codes(product, text="<i>CODE</i>&1")
    order = paid_guest_order(tree.star, product, "zh@example.com", quantity=1, locale="zh_CN")
    run_jobs(app, "fulfilment")
    assert order_delivered(tree.star.id, order.id) == "sent"
    [(_, msg)] = smtp.messages
    assert str(msg["Subject"]).startswith("【Star Cards】")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert text.index("您在") < text.index("Your order")
    assert "<i>CODE</i>&1" in text                      # plain text is as imported
    assert "&lt;i&gt;CODE&lt;/i&gt;&amp;1" in html       # markup in data is escaped
    assert "<b>Card</b>" not in html and "&lt;b&gt;Card&lt;/b&gt; &amp; co" in html


def test_no_email_for_a_phone_contact_or_without_smtp(app, tree, smtp):
    product = card_product(codes=4)
    phone = paid_guest_order(tree.star, product, "13800138000", quantity=1)
    run_jobs(app, "fulfilment")
    assert order_delivered(tree.star.id, phone.id) == "no e-mail contact"
    mail = paid_guest_order(tree.star, product, "a@example.com", quantity=1)
    run_jobs(app, "fulfilment")
    app.config["SMTP_URL"] = None
    assert order_delivered(tree.star.id, mail.id) == "mail not configured"
    assert smtp.messages == []


def _batch_of_two(app, tree):
    """Two orders to two buyers, delivered in one batch (one fulfilment list)."""
    app.config["FULFIL_SHARDS"] = 1
    product = card_product(codes=5)
    orders = [paid_guest_order(tree.star, product, contact, quantity=1, locale="en")
              for contact in ("first@example.com", "second@example.com")]
    run_jobs(app, "fulfilment")
    return [services.get_order(o.order_no) for o in orders]


@pytest.mark.both
def test_a_delivery_batch_sends_its_mails_in_one_job_each_as_alone(app, tree, smtp):
    from rq import Queue

    from kameng.core.extensions import redis_conn

    orders = _batch_of_two(app, tree)
    assert {o.status for o in orders} == {"delivered"}
    [job] = Queue("mail", connection=redis_conn.get()).get_jobs()   # not one per order
    assert job.func_name == "kameng.workers.jobs.orders_delivered"
    run_jobs(app, "mail")
    sent = {tuple(rcpt): msg for rcpt, msg in smtp.messages}
    assert set(sent) == {("first@example.com",), ("second@example.com",)}
    for order, rcpt in zip(orders, sorted(sent), strict=True):
        msg = sent[rcpt]
        assert order.order_no in str(msg["Subject"])
        [code] = services.order_codes(order)
        assert msg.get_body(("plain",)).get_content().count(code) == 2
        assert outbox_count("order.delivered", order) == 1
    from kameng.core.extensions import db
    from kameng.sales.models import OutboxMessage

    assert all(row.dispatched_at is not None for row in db.session.query(OutboxMessage)
               .filter(OutboxMessage.topic == "order.delivered"))


@pytest.mark.both
def test_a_mail_that_fails_in_a_batch_is_filed_as_its_own_failed_job(app, tree, smtp,
                                                                      monkeypatch):
    from rq import Queue

    from kameng.core.extensions import redis_conn
    from kameng.sales import mailer

    orders = _batch_of_two(app, tree)
    first_id, star_id = orders[0].id, tree.star.id   # read now: the worker runs in here
    real = mailer.send_delivery

    def flaky(order, tenant):
        if order.id == first_id:
            raise ConnectionError("the SMTP server hung up")
        return real(order, tenant)

    monkeypatch.setattr(mailer, "send_delivery", flaky)
    run_jobs(app, "mail")
    assert [rcpt for rcpt, _msg in smtp.messages] == [["second@example.com"]]
    queue = Queue("mail", connection=redis_conn.get())
    [failed] = queue.failed_job_registry.get_job_ids()
    job = queue.fetch_job(failed)
    assert job.func_name == "kameng.workers.jobs.order_delivered"
    assert job.args == (star_id, first_id)

    monkeypatch.setattr(mailer, "send_delivery", real)   # the server is back: requeue it
    queue.failed_job_registry.requeue(failed)
    run_jobs(app, "mail")
    assert [rcpt for rcpt, _msg in smtp.messages] == [["second@example.com"],
                                                      ["first@example.com"]]
