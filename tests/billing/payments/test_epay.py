"""易支付: the signature, the submit form, every notify check, 补单 — against a fake gateway."""
from __future__ import annotations

import hashlib
import secrets

import pytest
import requests

from kameng.billing.payments import epay, services
from kameng.billing.payments.base import (
    InvalidNotification,
    NotificationRequest,
    PaymentRequest,
    RefundUnsupported,
)
from kameng.billing.payments.registry import get_provider
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from tests.fakes.epay_gateway import live_server, loopback_get


def configure(tenant, gw, types=("alipay", "wxpay")):
    services.save_provider_config(tenant, "epay", enabled=True,
                                  settings={"apiurl": gw.apiurl, "pid": gw.pid,
                                            "types": list(types)},
                                  secrets={"key": gw.key})


def new_order_no() -> str:
    return "K" + secrets.token_hex(8).upper()


def submit(tenant, gw, amount=1265, name="王者荣耀 60点券", channel=None, order_no=None):
    """Start a payment and post the form to the gateway as the buyer's browser would."""
    order_no = order_no or new_order_no()
    start = get_provider(tenant, "epay").start(PaymentRequest(
        order_no=order_no, amount=amount, currency="CNY", description=name,
        notify_url=services.epay_notify_url(tenant, order_no),
        return_url=f"http://{tenant.slug}.localhost/orders/{order_no}", channel=channel))
    resp = requests.post(start.url, data=dict(start.fields), timeout=10)
    assert resp.status_code == 200, resp.text
    return order_no, start


def submitted(tenant, gw) -> str:
    """The shop takes epay and the buyer has posted the payment form: the order number."""
    configure(tenant, gw)
    order_no, _ = submit(tenant, gw)
    return order_no


def notify(client_for, host, order_no, params, method="get"):
    client = client_for(host)
    path = f"/pay/epay/notify/{order_no}"
    if method == "post":
        return client.post(path, data=params)
    return client.get(path, query_string=params)


# ----- the signature ---------------------------------------------------------

def test_signature_matches_the_spec_computed_by_hand():
    params = {"pid": "1001", "type": "alipay", "out_trade_no": "K20240101",
              "notify_url": "http://a.test/n", "return_url": "", "name": "点卡 & co",
              "money": "12.65", "param": "", "sign": "ignored", "sign_type": "MD5"}
    # by hand: drop sign, sign_type and empty values; sort keys; join raw; append the key
    by_hand = ("money=12.65&name=点卡 & co&notify_url=http://a.test/n&out_trade_no=K20240101"
               "&pid=1001&type=alipay" + "secret-key")
    expected = hashlib.md5(by_hand.encode("utf-8")).hexdigest()
    assert epay.signing_string(params) + "secret-key" == by_hand
    assert epay.sign(params, "secret-key") == expected
    assert expected == "11f709867f6f260376e0b0b1050ebb25"
    assert epay.verify_sign({**params, "sign": expected.upper()}, "secret-key")
    assert not epay.verify_sign({**params, "sign": expected}, "other-key")
    assert not epay.verify_sign({**params, "sign": ""}, "secret-key")


def test_name_is_cut_to_127_bytes_on_a_character_boundary():
    cut = epay.truncate_utf8("点" * 50)   # 3 bytes each
    assert len(cut.encode("utf-8")) == 126 and cut == "点" * 42
    assert epay.truncate_utf8("a" * 200) == "a" * 127
    assert epay.truncate_utf8("短") == "短"


@pytest.mark.parametrize("text,fen", [("12.65", 1265), ("0.05", 5), ("7", 700), ("7.5", 750)])
def test_money_parses_exactly(text, fen):
    assert epay.parse_money(text) == fen


@pytest.mark.parametrize("text", ["12.655", "1e3", "-1.00", "12,65", "", "abc", " 1.0.0"])
def test_malformed_money_is_refused(text):
    with pytest.raises(ValueError):
        epay.parse_money(text)


# ----- starting a payment ------------------------------------------------------

@pytest.mark.both
def test_start_gives_a_signed_form_the_gateway_accepts(app, tree, epay_gateway):
    configure(tree.star, epay_gateway)
    order_no, start = submit(tree.star, epay_gateway, amount=5, name="点" * 50,
                             channel="wxpay")
    assert start.kind == "form" and start.url == epay_gateway.apiurl + "submit.php"
    fields = dict(start.fields)
    assert fields["money"] == "0.05" and fields["type"] == "wxpay"
    assert fields["sign_type"] == "MD5" and fields["pid"] == epay_gateway.pid
    assert fields["notify_url"] == f"http://star.localhost/pay/epay/notify/{order_no}"
    assert len(fields["name"].encode()) <= 127
    order = epay_gateway.orders[order_no]
    assert order.money == "0.05" and order.type == "wxpay"
    assert start.redirect_url.startswith(epay_gateway.apiurl + "submit.php?")


@pytest.mark.both
def test_start_refuses_what_epay_cannot_take(app, tree, epay_gateway):
    configure(tree.star, epay_gateway, types=("alipay",))
    provider = get_provider(tree.star, "epay")
    base = dict(order_no="K1", amount=100, currency="CNY", description="x",
                notify_url="http://star.localhost/pay/epay/notify/K1")
    with pytest.raises(InvalidInput, match="CNY"):
        provider.start(PaymentRequest(**{**base, "currency": "USD"}))
    with pytest.raises(InvalidInput, match="channel"):
        provider.start(PaymentRequest(**base, channel="qqpay"))
    with pytest.raises(InvalidInput, match="positive"):
        provider.start(PaymentRequest(**{**base, "amount": 0}))
    assert provider.start(PaymentRequest(**base)).fields["type"] == "alipay"


def test_gateway_refuses_a_form_signed_with_another_key(app, tree, epay_gateway):
    configure(tree.star, epay_gateway)
    start = get_provider(tree.star, "epay").start(PaymentRequest(
        order_no="K2", amount=100, currency="CNY", description="x",
        notify_url="http://star.localhost/pay/epay/notify/K2"))
    tampered = {**start.fields, "money": "0.01"}
    assert requests.post(start.url, data=tampered, timeout=10).status_code == 400
    assert epay_gateway.refusals == ["签名校验失败"] and "K2" not in epay_gateway.orders


# ----- the notify -------------------------------------------------------------------

@pytest.mark.both
def test_a_genuine_notify_reaches_the_handler_and_answers_success(app, tree, epay_gateway,
                                                                   handler, client_for):
    order_no = submitted(tree.star, epay_gateway)
    params = epay_gateway.notify_params(order_no)
    resp = notify(client_for, "star.localhost", order_no, params)
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "success"
    assert resp.mimetype == "text/plain"
    [(tenant_id, notice, scope)] = handler.calls
    assert tenant_id == tree.star.id and scope == tree.star.id
    assert notice.order_no == order_no and notice.amount == 1265 and notice.currency == "CNY"
    assert notice.paid and notice.status == "paid" and notice.provider == "epay"
    assert notice.provider_ref == epay_gateway.orders[order_no].trade_no
    assert notice.channel == "alipay" and notice.matches(1265, "CNY")


@pytest.mark.both
def test_a_posted_notify_is_verified_the_same_way(app, tree, epay_gateway, handler, client_for):
    order_no = submitted(tree.star, epay_gateway)
    resp = notify(client_for, "star.localhost", order_no,
                  epay_gateway.notify_params(order_no), method="post")
    assert resp.get_data(as_text=True) == "success" and len(handler.calls) == 1


REFUSED = {
    "bad signature": {"bad_sign": True},
    "another merchant's key": {"key": "not-our-key"},
    "wrong pid": {"pid": "9999"},
    "trade not finished": {"trade_status": "WAIT_BUYER_PAY"},
    "another order's notify": {"as_out_trade_no": "KOTHER"},
    "malformed money": {"money": "12.655"},
}


@pytest.mark.both
@pytest.mark.parametrize("tamper", REFUSED.values(), ids=REFUSED.keys())
def test_a_tampered_notify_is_refused_and_never_reaches_the_handler(
        app, tree, epay_gateway, handler, client_for, tamper):
    order_no = submitted(tree.star, epay_gateway)
    resp = notify(client_for, "star.localhost", order_no,
                  epay_gateway.notify_params(order_no, **tamper))
    assert resp.status_code == 400 and resp.get_data(as_text=True) == "fail"
    assert handler.calls == []


def test_one_orders_notify_cannot_be_replayed_onto_another(app, tree, epay_gateway, handler,
                                                           client_for):
    configure(tree.star, epay_gateway)
    cheap, _ = submit(tree.star, epay_gateway, amount=1)
    dear, _ = submit(tree.star, epay_gateway, amount=99900)
    genuine_for_cheap = epay_gateway.notify_params(cheap)
    resp = notify(client_for, "star.localhost", dear, genuine_for_cheap)
    assert resp.get_data(as_text=True) == "fail" and handler.calls == []


@pytest.mark.both
def test_wrong_amount_is_refused(app, tree, epay_gateway, handler, client_for):
    """The provider refuses it when told the amount; the handler refuses it at the endpoint."""
    configure(tree.star, epay_gateway)
    order_no, _ = submit(tree.star, epay_gateway, amount=1265)
    params = epay_gateway.notify_params(order_no, money="0.01")
    provider = get_provider(tree.star, "epay")
    req = NotificationRequest(args=params)
    with pytest.raises(InvalidNotification, match="differs"):
        provider.parse_notification(req, url_order_no=order_no, expected_amount=1265)
    assert provider.parse_notification(req, url_order_no=order_no).amount == 1

    orders = {order_no: (1265, "CNY")}      # what the orders work would compare against
    handler.answer = lambda tenant, notice: notice.matches(*orders[notice.order_no])
    resp = notify(client_for, "star.localhost", order_no, params)
    assert resp.status_code == 400 and resp.get_data(as_text=True) == "fail"
    good = notify(client_for, "star.localhost", order_no, epay_gateway.notify_params(order_no))
    assert good.get_data(as_text=True) == "success"


@pytest.mark.both
def test_repeated_notifies_give_the_same_notice_each_time(app, tree, epay_gateway, handler,
                                                          client_for):
    order_no = submitted(tree.star, epay_gateway)
    params = epay_gateway.notify_params(order_no)
    bodies = [notify(client_for, "star.localhost", order_no, params).get_data(as_text=True)
              for _ in range(5)]
    assert bodies == ["success"] * 5
    assert len(handler.notices) == 5 and len(set(handler.notices)) == 1


@pytest.mark.both
def test_no_handler_means_503_so_the_gateway_retries(app, tree, epay_gateway, client_for,
                                                    without_handler):
    order_no = submitted(tree.star, epay_gateway)
    resp = notify(client_for, "star.localhost", order_no, epay_gateway.notify_params(order_no))
    assert resp.status_code == 503 and resp.get_data(as_text=True) == "fail"


@pytest.mark.both
def test_a_refused_notice_is_not_acknowledged(app, tree, epay_gateway, handler, client_for):
    handler.answer = False
    order_no = submitted(tree.star, epay_gateway)
    resp = notify(client_for, "star.localhost", order_no, epay_gateway.notify_params(order_no))
    assert resp.status_code == 400 and resp.get_data(as_text=True) == "fail"


@pytest.mark.both
def test_a_notify_on_another_shops_host_is_refused(app, tree, epay_gateway, handler,
                                                   client_for):
    order_no = submitted(tree.star, epay_gateway)
    params = epay_gateway.notify_params(order_no)
    # rocket takes no epay …
    assert notify(client_for, "rocket.localhost", order_no, params).status_code == 400
    # … or has its own merchant account
    services.save_provider_config(tree.rocket, "epay", enabled=True, settings={
        "apiurl": epay_gateway.apiurl, "pid": "2002", "types": ["alipay"]},
        secrets={"key": "rocket-key"})
    assert notify(client_for, "rocket.localhost", order_no, params).status_code == 400
    assert handler.calls == []


def test_a_disabled_method_still_verifies_late_notifies(app, tree, epay_gateway, handler,
                                                        client_for):
    order_no = submitted(tree.star, epay_gateway)
    services.save_provider_config(tree.star, "epay", enabled=False, settings={
        "apiurl": epay_gateway.apiurl, "pid": epay_gateway.pid, "types": ["alipay"]})
    resp = notify(client_for, "star.localhost", order_no, epay_gateway.notify_params(order_no))
    assert resp.get_data(as_text=True) == "success"


# ----- over real HTTP: the gateway calls our server -----------------------------------

def test_end_to_end_the_gateway_notifies_our_server(app, tree, epay_gateway, handler):
    configure(tree.star, epay_gateway)
    star_id = tree.star.id
    server = live_server(app)
    try:
        app.config["SERVER_PORT"] = server.port
        order_no, start = submit(tree.star, epay_gateway)
        assert start.fields["notify_url"] == \
            f"http://star.localhost:{server.port}/pay/epay/notify/{order_no}"
        db.session.commit()
        # the buyer presses "pay" on the cashier page
        trade_no = epay_gateway.orders[order_no].trade_no
        resp = requests.post(epay_gateway.apiurl + "pay.php", data={"trade_no": trade_no},
                             allow_redirects=False, timeout=10)
        assert epay_gateway.orders[order_no].notifies == [(200, "success")]
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith(
            f"http://star.localhost/orders/{order_no}?")
        [(tenant_id, notice, _)] = handler.calls
        assert tenant_id == star_id and notice.order_no == order_no and notice.amount == 1265

        # repeats and other orders' notifies, shuffled: each answered, each seen
        other, _ = submit(tree.star, epay_gateway, amount=300)
        epay_gateway.pay(other, notify=False)
        db.session.commit()
        results = epay_gateway.replay([order_no, other], times=3, seed=4)
        assert [r.body for _, r in results] == ["success"] * 6
        assert sorted(n.order_no for n in handler.notices[1:]) == sorted([order_no, other] * 3)
        # a tampered one over HTTP too
        [bad] = epay_gateway.notify(other, pid="9999")
        assert (bad.status, bad.body) == (400, "fail")
        # the real-HTTP helper reaches the shop by its *.localhost name
        assert loopback_get(f"http://star.localhost:{server.port}/healthz").status_code == 200
    finally:
        server.close()


# ----- 补单 ---------------------------------------------------------------------------

@pytest.mark.both
def test_query_finds_a_payment_whose_notify_was_lost(app, tree, epay_gateway, handler):
    order_no = submitted(tree.star, epay_gateway)
    provider = get_provider(tree.star, "epay")
    unpaid = provider.query(order_no)
    assert unpaid is not None and not unpaid.paid and unpaid.status == "pending"
    assert services.reconcile(tree.star, "epay", order_no).paid is False
    assert handler.calls == []

    epay_gateway.pay(order_no, notify=False)
    notice = provider.query(order_no)
    assert notice.paid and notice.amount == 1265 and notice.currency == "CNY"
    assert notice.provider_ref == epay_gateway.orders[order_no].trade_no
    assert services.reconcile(tree.star, "epay", order_no) == notice
    [(tenant_id, seen, scope)] = handler.calls
    assert seen == notice and tenant_id == scope == tree.star.id

    assert provider.query("KNOSUCHORDER") is None


def test_refund_says_to_refund_manually(app, tree, epay_gateway):
    configure(tree.star, epay_gateway)
    with pytest.raises(RefundUnsupported, match="manually"):
        get_provider(tree.star, "epay").refund("2024…", 100, "refund-1")
