"""The ``http_topup`` adapter: a generic JSON top-up API.

Protocol (what a supplier has to implement; signing in ``signing.py``):

``POST {base}/orders``
    ``{"idempotency_key", "sku", "quantity", "account", "amount"}`` (``amount`` only
    for open-amount products). Answers ``{"id", "idempotency_key", "status",
    "codes", "message"}`` with ``status`` one of ``success | failed | pending``.
    The same ``idempotency_key`` again answers the original order and never tops
    up twice. A 4xx other than 401/403/408/409/429 means "refused, nothing done".
``GET {base}/orders/<idempotency_key>``
    The order as above; 404 if the supplier never got it.
``GET {base}/balance``
    ``{"balance": <minor units>, "currency"}``.
``GET {base}/products``
    ``{"products": [{"sku", "name", "currency", "face_value", "min_amount",
    "max_amount", "price", "account_regex", "available"}]}``.
Webhook (supplier → us)
    ``POST`` of an order object (as above) to the URL we gave the supplier, signed.

Idempotency keys are 1-128 characters of ``A-Z a-z 0-9 . _ : -`` (no URL
quoting, so the signed path is exactly the path the supplier sees).

How answers map: a timeout, a connection error, a 5xx, a 3xx, a 401/403/408/409/429
or a garbled body is UNKNOWN (the order may have been processed; ask again by
the same key). Only an explicit ``failed`` or a plain refusal (other 4xx) is
FAILED.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from kameng.core import outbound
from kameng.core.i18n import lazy_gettext as _l
from kameng.shop.suppliers import signing
from kameng.shop.suppliers.adapters import (
    FAILED,
    PENDING,
    SUCCESS,
    UNKNOWN,
    Adapter,
    InvalidSignature,
    OrderResult,
    SupplierError,
    SupplierProduct,
    check_against,
)

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
_STATUSES = {"success": SUCCESS, "succeeded": SUCCESS, "failed": FAILED,
             "pending": PENDING, "processing": PENDING}
# answers that do not prove the order was refused: ask again by key
_UNSURE_4XX = {401, 403, 408, 409, 425, 429}
_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class HttpTopupAdapter(Adapter):
    name = "http_topup"

    def __init__(self, supplier, secret: str | None = None):
        super().__init__(supplier)
        cfg = dict(supplier.config or {})
        self.base_url = (cfg.get("base_url") or "").rstrip("/")
        self.key_id = cfg.get("key_id") or ""
        self.timeout = (float(cfg.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT),
                        float(cfg.get("read_timeout") or DEFAULT_READ_TIMEOUT))
        self._secret = secret
        self._catalog: dict[str, SupplierProduct] | None = None
        if not self.base_url:
            raise SupplierError(_l("supplier %(supplier_name)r has no base URL",
                                   supplier_name=supplier.name))

    # ----- plumbing ---------------------------------------------------------

    def _get_secret(self) -> str:
        if self._secret is None:
            from kameng.shop.suppliers.secretbox import SecretBoxError, unseal

            if not self.supplier.secret_ciphertext:
                raise SupplierError(_l("supplier %(supplier_name)r has no API secret",
                                       supplier_name=self.supplier.name))
            try:
                self._secret = unseal(self.supplier.secret_ciphertext)
            except SecretBoxError as err:
                raise SupplierError(str(err)) from None
        return self._secret

    def _request(self, method: str, path: str, payload: dict | None = None) -> requests.Response:
        """Send one signed request; requests' exceptions propagate to the caller, a
        refused address is a ``SupplierError``."""
        url = self.base_url + path
        body = b"" if payload is None else json.dumps(
            payload, separators=(",", ":"), sort_keys=True).encode()
        parts = urlsplit(url)
        signed_path = parts.path + (f"?{parts.query}" if parts.query else "")
        stamp = str(int(time.time()))
        headers = {
            "X-Key-Id": self.key_id,
            "X-Timestamp": stamp,
            "X-Signature": signing.request_signature(self._get_secret(), stamp, method,
                                                     signed_path, body),
            "Accept": "application/json",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:  # the shop's own address: guarded against loopback, private and metadata
            return outbound.request(method, url, data=body or None, headers=headers,
                                    timeout=self.timeout, allow_redirects=False)
        except outbound.OutboundRefused as err:  # nothing was sent
            raise SupplierError(err.text) from None

    def _json(self, response: requests.Response):
        try:
            return response.json()
        except ValueError:
            return None

    def _result(self, data, key: str) -> OrderResult:
        if not isinstance(data, Mapping):
            return OrderResult(UNKNOWN, key, message="unreadable answer from the supplier")
        if data.get("idempotency_key") not in (None, key):
            return OrderResult(UNKNOWN, key, message="the supplier answered for another order")
        status = _STATUSES.get(str(data.get("status", "")).lower(), UNKNOWN)
        codes = data.get("codes") or []
        if not isinstance(codes, list):
            return OrderResult(UNKNOWN, key, message="unreadable codes from the supplier")
        return OrderResult(status, key, reference=_str_or_none(data.get("id")),
                           codes=[str(c) for c in codes],
                           message=str(data.get("message") or ""))

    def _http_error(self, response: requests.Response, key: str,
                    not_found_is_unknown: bool = False) -> OrderResult:
        data = self._json(response)
        detail = data.get("message") if isinstance(data, Mapping) else None
        code = response.status_code
        if not 400 <= code < 500 or code in _UNSURE_4XX or (code == 404 and not_found_is_unknown):
            hint = {401: "the supplier refused our credentials (key id, secret, clock)",
                    403: "the supplier refused our credentials (key id, secret, clock)",
                    404: "the supplier has no order with this key yet"}.get(code)
            return OrderResult(UNKNOWN, key,
                               message=f"HTTP {code}: {hint or detail or 'no answer'}")
        return OrderResult(FAILED, key, message=f"HTTP {code}: {detail or 'refused'}")

    # ----- the interface ----------------------------------------------------

    def place_order(self, supplier_sku: str, quantity: int, account: str | None,
                    idempotency_key: str, amount: int | None = None) -> OrderResult:
        _check_key(idempotency_key)
        if int(quantity) < 1:
            raise ValueError("quantity must be at least 1")
        payload = {"idempotency_key": idempotency_key, "sku": supplier_sku,
                   "quantity": int(quantity), "account": account}
        if amount is not None:
            payload["amount"] = int(amount)
        result = self._call("POST", "/orders", payload, idempotency_key)
        log.info("supplier %s: order %s -> %s", self.supplier.name, idempotency_key,
                 result.status.value)
        return result

    def get_status(self, idempotency_key: str) -> OrderResult:
        _check_key(idempotency_key)
        path = "/orders/" + idempotency_key
        return self._call("GET", path, None, idempotency_key, not_found_is_unknown=True)

    def _call(self, method, path, payload, key, not_found_is_unknown=False) -> OrderResult:
        try:
            response = self._request(method, path, payload)
        except SupplierError as err:  # our settings are broken: nothing was sent
            return OrderResult(UNKNOWN, key, message=err.message)
        except requests.Timeout:
            return OrderResult(UNKNOWN, key, message="the supplier did not answer in time")
        except requests.RequestException as err:
            return OrderResult(UNKNOWN, key, message=f"could not reach the supplier: "
                                                     f"{type(err).__name__}")
        if not 200 <= response.status_code < 300:
            return self._http_error(response, key, not_found_is_unknown)
        return self._result(self._json(response), key)

    def parse_webhook(self, headers, raw_body: bytes) -> OrderResult:
        h = {str(k).lower(): v for k, v in headers.items()}
        key_id, stamp, given = h.get("x-key-id"), h.get("x-timestamp"), h.get("x-signature")
        if not key_id or not stamp or not given:
            raise InvalidSignature(_l("webhook is not signed"))
        if not signing.same(self.key_id, key_id):
            raise InvalidSignature(_l("webhook signed with another key id"))
        try:
            ts = int(stamp)
        except ValueError:
            raise InvalidSignature(_l("webhook timestamp is not a number")) from None
        if not signing.fresh(ts, time.time()):
            raise InvalidSignature(_l("webhook timestamp is too old or in the future"))
        expected = signing.webhook_signature(self._get_secret(), stamp, raw_body or b"")
        if not signing.same(expected, given):
            raise InvalidSignature(_l("webhook signature does not match"))
        try:
            data = json.loads(raw_body)
        except ValueError:
            raise SupplierError(_l("webhook body is not JSON"), status=400) from None
        key = data.get("idempotency_key") if isinstance(data, Mapping) else None
        if not key:
            raise SupplierError(_l("webhook names no order (idempotency_key)"), status=400)
        return self._result(data, str(key))

    def balance(self) -> int:
        data = self._fetch("/balance")
        value = data.get("balance") if isinstance(data, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise SupplierError(_l("the supplier's balance answer has no integer 'balance'"))
        return value

    def sync_catalog(self) -> list[SupplierProduct]:
        data = self._fetch("/products")
        rows = data.get("products") if isinstance(data, Mapping) else None
        if not isinstance(rows, list):
            raise SupplierError(_l("the supplier's product list has no 'products' array"))
        products = []
        for row in rows:
            if not isinstance(row, Mapping) or not row.get("sku"):
                continue
            products.append(SupplierProduct(
                sku=str(row["sku"])[:128], name=str(row.get("name") or "")[:200],
                currency=str(row.get("currency") or "CNY")[:3].upper(),
                face_value=_int_or_none(row.get("face_value")),
                min_amount=_int_or_none(row.get("min_amount")),
                max_amount=_int_or_none(row.get("max_amount")),
                price=_int_or_none(row.get("price")),
                account_regex=_str_or_none(row.get("account_regex")),
                available=bool(row.get("available", True))))
        self._catalog = {p.sku: p for p in products}
        return products

    def _fetch(self, path: str):
        try:
            response = self._request("GET", path)
        except requests.Timeout:
            raise SupplierError(_l("the supplier did not answer %(path)s in time",
                                   path=path)) from None
        except requests.RequestException as err:
            raise SupplierError(_l("could not reach the supplier at %(base_url)s: "
                                   "%(error)s",
                                   base_url=self.base_url, error=type(err).__name__)) from None
        if response.status_code != 200:
            data = self._json(response)
            detail = data.get("message") if isinstance(data, Mapping) else None
            if detail:
                raise SupplierError(_l("the supplier answered %(path)s with HTTP %(status)s: "
                                       "%(detail)s", path=path, status=response.status_code,
                                       detail=detail))
            raise SupplierError(_l("the supplier answered %(path)s with HTTP %(status)s",
                                   path=path, status=response.status_code))
        data = self._json(response)
        if data is None:
            raise SupplierError(_l("the supplier's answer to %(path)s is not JSON", path=path))
        return data

    def validate_order(self, supplier_sku: str, amount: int | None, account: str | None) -> None:
        check_against(self._product(supplier_sku), amount, account)

    def _product(self, sku: str) -> SupplierProduct:
        """What the last sync said about ``sku``; asks upstream if we never synced it."""
        from kameng.core.errors import InvalidInput

        stored = self._stored_product(sku)
        if stored is not None:
            return stored
        if self._catalog is None:
            self.sync_catalog()
        if sku not in self._catalog:
            raise InvalidInput(_l("supplier %(supplier_name)r has no product %(sku)r",
                                  supplier_name=self.supplier.name, sku=sku),
                               field="sku")
        return self._catalog[sku]

    def _stored_product(self, sku: str) -> SupplierProduct | None:
        if getattr(self.supplier, "id", None) is None:
            return None
        from sqlalchemy import select

        from kameng.core.extensions import db
        from kameng.shop.suppliers.models import UpstreamProduct

        row = db.session.scalar(select(UpstreamProduct).where(
            UpstreamProduct.supplier_id == self.supplier.id, UpstreamProduct.sku == sku))
        if row is None:
            return None
        return SupplierProduct(sku=row.sku, name=row.name, currency=row.currency,
                               face_value=row.face_value, min_amount=row.min_amount,
                               max_amount=row.max_amount, price=row.price,
                               account_regex=row.account_regex, available=row.available)


def _check_key(key: str) -> None:
    # a plain key needs no URL quoting, so the signed path is the path the supplier sees
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError("an idempotency key is 1-128 letters, digits or . _ : -")


def _int_or_none(value) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _str_or_none(value) -> str | None:
    return None if value in (None, "") else str(value)
