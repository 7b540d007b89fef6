"""Outbound HTTP to shop-supplied URLs (core.outbound): loopback, private, link-local and
metadata addresses are refused after DNS resolution, on every redirect, at save time
and at call time — unless ``KAMENG_OUTBOUND_ALLOW`` lists the host.

The test app allows 127.0.0.1 (its fake gateways and suppliers live there); the tests
of the refusal run with the setting empty, as a deployment starts."""
from __future__ import annotations

import ipaddress
import socket

import pytest
from werkzeug.wrappers import Request, Response

from kameng.billing.payments import services as payment_services
from kameng.billing.payments.base import PaymentError
from kameng.billing.payments.registry import get_provider
from kameng.core import outbound
from kameng.core.errors import InvalidInput
from kameng.shop.suppliers import services as supplier_services
from kameng.shop.suppliers.adapters import UNKNOWN, SupplierError, standalone_adapter
from tests.fakes.epay_gateway import LoopbackServer, epay_gateway  # noqa: F401  (fixture)
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)
from tests.helpers import login

STRICT = pytest.mark.app_config(OUTBOUND_ALLOW="")
TIMEOUT = (2, 5)


class Listener:
    """A local HTTP server that counts what reaches it: ``/ok``, ``/go?to=URL`` (a 302)."""

    def __init__(self):
        self.hits: list[str] = []
        self.server = LoopbackServer(self.wsgi)
        self.port = self.server.port
        self.url = self.server.url

    def wsgi(self, environ, start_response):
        req = Request(environ)
        self.hits.append(req.path)
        if req.path == "/go":
            resp = Response("", status=302, headers={"Location": req.args["to"]})
        else:
            resp = Response("ok")
        return resp(environ, start_response)


@pytest.fixture
def listener():
    one = Listener()
    yield one
    one.server.close()


@pytest.fixture
def second():
    one = Listener()
    yield one
    one.server.close()


def _allow(app, value: str) -> None:
    app.config["OUTBOUND_ALLOW"] = value


# ----- which addresses ---------------------------------------------------------------

@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "0.0.0.0", "224.0.0.1",
    "240.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "::", "fe80::1", "fc00::1",
    "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "2002:7f00:1::1", "64:ff9b::a9fe:a9fe"])
def test_loopback_private_link_local_metadata_and_reserved_are_refused(address):
    assert outbound.refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"])
def test_public_addresses_pass(address):
    assert not outbound.refused_address(ipaddress.ip_address(address))


def test_the_allow_setting_takes_hosts_and_host_ports():
    assert outbound.parse_allow(" Pay.Example.com., 127.0.0.1:8080, [::1]:81, ::1,") == {
        ("pay.example.com", None), ("127.0.0.1", 8080), ("::1", 81), ("::1", None)}
    for bad in ("127.0.0.1:http", "host:0", ":80"):
        with pytest.raises(ValueError, match="KAMENG_OUTBOUND_ALLOW"):
            outbound.parse_allow(bad)


# ----- at call time ---------------------------------------------------------------------

@STRICT
def test_a_loopback_listener_is_refused_by_default_and_never_reached(app, listener):
    for url in (f"{listener.url}/ok", f"http://localhost:{listener.port}/ok",
                f"http://[::1]:{listener.port}/ok"):
        with pytest.raises(outbound.OutboundRefused, match="loopback, private"):
            outbound.request("GET", url, timeout=TIMEOUT)
    assert listener.hits == []


def test_a_host_listed_in_the_setting_is_allowed(app, listener, second):
    _allow(app, f"127.0.0.1:{listener.port}")
    assert outbound.request("GET", f"{listener.url}/ok", timeout=TIMEOUT).text == "ok"
    # by name too: localhost resolves to the allowed address
    assert outbound.request("GET", f"http://localhost:{listener.port}/ok",
                            timeout=TIMEOUT).status_code == 200
    # the entry names a port: the same host on another port is still refused
    with pytest.raises(outbound.OutboundRefused):
        outbound.request("GET", f"{second.url}/ok", timeout=TIMEOUT)
    assert listener.hits == ["/ok", "/ok"] and second.hits == []
    _allow(app, "127.0.0.1")            # a host without a port: every port
    assert outbound.request("GET", f"{second.url}/ok", timeout=TIMEOUT).text == "ok"


def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(app, listener, second):
    _allow(app, f"127.0.0.1:{listener.port}")
    for target in (f"{second.url}/ok", f"http://localhost:{second.port}/ok",
                   "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(outbound.OutboundRefused):
            outbound.request("GET", f"{listener.url}/go", params={"to": target},
                             timeout=TIMEOUT)
    assert listener.hits == ["/go"] * 3 and second.hits == []
    # to an allowed place the redirect is followed
    _allow(app, f"127.0.0.1:{listener.port},127.0.0.1:{second.port}")
    resp = outbound.request("GET", f"{listener.url}/go", params={"to": f"{second.url}/ok"},
                            timeout=TIMEOUT)
    assert resp.text == "ok" and second.hits == ["/ok"]


@STRICT
def test_a_name_is_vetted_after_resolution_and_connected_to_the_vetted_address(
        app, listener, monkeypatch):
    real = socket.getaddrinfo
    asked: list[str] = []
    answers = {"metadata.test": ["169.254.169.254"], "private.test": ["10.1.2.3"],
               # rebinding: a public answer for the check would be followed by loopback
               "rebind.test": ["127.0.0.1", "8.8.8.8"]}

    def resolver(host, port, *args, **kwargs):
        if host in answers:
            asked.append(host)
            address = answers[host][min(asked.count(host), len(answers[host])) - 1]
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(outbound.OutboundRefused, match="169.254.169.254"):
        outbound.request("GET", "http://metadata.test/latest/meta-data/", timeout=TIMEOUT)
    with pytest.raises(outbound.OutboundRefused, match="10.1.2.3"):
        outbound.request("GET", f"http://private.test:{listener.port}/ok", timeout=TIMEOUT)
    # allowed by its address, the name is resolved once: the socket goes where the check
    # looked, whatever a second answer would say
    _allow(app, "127.0.0.1")
    resp = outbound.request("GET", f"http://rebind.test:{listener.port}/ok", timeout=TIMEOUT)
    assert resp.text == "ok" and asked.count("rebind.test") == 1
    assert listener.hits == ["/ok"]


def test_every_request_has_a_timeout_and_speaks_http_only(app):
    with pytest.raises(ValueError, match="timeout"):
        outbound.request("GET", "http://127.0.0.1/", timeout=None)
    with pytest.raises(outbound.OutboundRefused):
        outbound.request("GET", "file:///etc/passwd", timeout=TIMEOUT)


# ----- the shop's gateway and the supplier, at save time and at call time -----------------

@STRICT
def test_a_gateway_at_a_refused_address_cannot_be_saved(app, tree, epay_gateway):  # noqa: F811
    for apiurl in (epay_gateway.apiurl, "http://169.254.169.254/", "http://10.0.0.7/pay/",
                   "http://localhost/"):
        with pytest.raises(InvalidInput, match="loopback, private") as err:
            payment_services.save_provider_config(
                tree.star, "epay", enabled=True,
                settings={"apiurl": apiurl, "pid": epay_gateway.pid, "types": ["alipay"]},
                secrets={"key": epay_gateway.key})
        assert err.value.field == "apiurl"
    assert payment_services.provider_settings(tree.star)["epay"]["enabled"] is False


@STRICT
def test_the_payment_form_says_why_the_gateway_is_refused(app, tree, client_for):
    client = client_for("star.localhost")
    login(client, "owner@star.test")
    client.get("/lang/en")
    resp = client.post("/admin/payments/epay", data={
        "epay-enabled": "y", "epay-apiurl": "http://169.254.169.254/", "epay-pid": "1001",
        "epay-key": "merchant-secret-9", "epay-types": ["alipay"]})
    assert resp.status_code == 422
    assert "169.254.169.254, a loopback, private" in resp.get_data(as_text=True)
    assert payment_services.provider_settings(tree.star)["epay"]["enabled"] is False


def test_a_gateway_refused_after_saving_is_not_queried(app, tree, epay_gateway):  # noqa: F811
    payment_services.save_provider_config(
        tree.star, "epay", enabled=True,
        settings={"apiurl": epay_gateway.apiurl, "pid": epay_gateway.pid, "types": ["alipay"]},
        secrets={"key": epay_gateway.key})
    assert get_provider(tree.star, "epay").query("KNOSUCHORDER") is None   # allowed: asked
    _allow(app, "")                    # the operator withdraws the permission
    with pytest.raises(PaymentError, match="loopback, private"):
        get_provider(tree.star, "epay").query("KNOSUCHORDER")


@STRICT
def test_a_supplier_at_a_refused_address_cannot_be_saved(app, cli, fake_supplier):  # noqa: F811
    with pytest.raises(InvalidInput, match="loopback, private") as err:
        fake_supplier.create_supplier()
    assert err.value.field == "base_url"
    result = cli("suppliers", "create", "--name", "Inner", "--base-url", "http://10.0.0.7/api",
                 "--key-id", "k", input="s3cret\n")
    assert result.exit_code != 0
    assert "10.0.0.7, a loopback, private" in result.output + str(result.stderr)
    assert supplier_services.list_suppliers() == []
    assert fake_supplier.log == []


def test_a_supplier_refused_after_saving_is_not_called(app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    _allow(app, "")
    with pytest.raises(SupplierError, match="loopback, private"):
        supplier_services.check_balance(supplier.id)
    result = standalone_adapter(supplier).place_order("CMCC-50", 1, "13800138000", "key-1")
    assert result.status == UNKNOWN and "loopback, private" in result.message
    assert fake_supplier.log == [] and fake_supplier.total_topups == 0
    # saving it again is refused too, with the reason on the field
    with pytest.raises(InvalidInput, match="loopback, private"):
        supplier_services.update_supplier(supplier.id, name="Renamed")


@STRICT
def test_the_supplier_form_says_why_the_address_is_refused(app, tree, client_for,
                                                           fake_supplier):  # noqa: F811
    client = client_for("master.localhost")
    login(client, "owner@master.test")
    client.get("/lang/en")
    page = client.post("/admin/suppliers/new", data={
        "name": "Fake Topup", "adapter": "http_topup", "base_url": fake_supplier.url,
        "key_id": fake_supplier.key_id, "secret": fake_supplier.secret, "enabled": "y"})
    assert page.status_code == 200   # the form again, with the reason at the field
    assert "127.0.0.1, a loopback, private" in page.get_data(as_text=True)
    assert supplier_services.list_suppliers() == [] and fake_supplier.log == []
