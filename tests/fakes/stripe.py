"""localstripe (a stateful fake Stripe server) for tests, driven through the real ``stripe`` client.

Fixtures (import them into a conftest):

- ``localstripe`` (session): starts ``localstripe --port N --from-scratch`` on a
  free port, waits for it, stops it at the end;
- ``stripe_fake`` (function): the same server with its data emptied
  (``DELETE /_config/data``) and every webhook this object registered switched
  off, so tests do not see each other's objects or events.

Helpers: ``LocalStripe.register_webhook(url, secret)`` (``POST /_config/webhooks/<id>``
with JSON), ``LocalStripe.client()`` (a ``stripe.StripeClient`` pointed at it),
``LocalStripe.js_url`` (its stand-in Stripe.js, ``/js.stripe.com/v3/``),
``sign_payload``/``signed_event`` (the real Stripe-Signature scheme,
``t=…,v1=HMAC-SHA256(secret, "t.payload")``) for negative tests.

In the app, point the platform at it with ``app.config["STRIPE_API_BASE"] = ls.url``
plus ``STRIPE_SECRET_KEY``/``STRIPE_PUBLISHABLE_KEY``/``STRIPE_WEBHOOK_SECRET``
(``ls.app_config(...)`` gives them).

localstripe sends each event about a second after the call that caused it, to
every registered webhook; it emits ``payment_intent.succeeded`` and
``payment_intent.payment_failed`` (not ``charge.refunded``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

TEST_SECRET_KEY = "sk_test_kameng"
TEST_PUBLISHABLE_KEY = "pk_test_kameng"
TEST_WEBHOOK_SECRET = "whsec_kameng_test"
TEST_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _localstripe_command() -> str:
    beside = Path(sys.executable).parent / "localstripe"
    found = str(beside) if beside.exists() else shutil.which("localstripe")
    if not found:
        pytest.skip("localstripe is not installed (pip install localstripe)")
    return found


class LocalStripe:
    def __init__(self, workdir: Path, port: int | None = None):
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(workdir) / "localstripe.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in close())
        self._webhook_ids: set[str] = set()
        self.proc = subprocess.Popen(
            [_localstripe_command(), "--port", str(self.port), "--from-scratch"],
            cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._wait_ready()

    @property
    def js_url(self) -> str:
        return f"{self.url}/js.stripe.com/v3/"

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"localstripe exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.js_url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.close()
        raise RuntimeError("localstripe did not start in time")

    def reset(self) -> None:
        """Forget every object, and stop sending events to the webhooks registered so far."""
        for webhook_id in self._webhook_ids:
            # localstripe cannot delete a webhook: an empty event list mutes it
            self._config_webhook(webhook_id, "http://127.0.0.1:9/", "whsec_muted", events=[])
        requests.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    def register_webhook(self, url: str, secret: str = TEST_WEBHOOK_SECRET,
                         webhook_id: str = "kameng", events: list[str] | None = None) -> None:
        self._config_webhook(webhook_id, url, secret, events)
        self._webhook_ids.add(webhook_id)

    def _config_webhook(self, webhook_id, url, secret, events=None) -> None:
        body = {"url": url, "secret": secret}
        if events is not None:
            body["events"] = events
        requests.post(f"{self.url}/_config/webhooks/{webhook_id}", json=body,
                      timeout=5).raise_for_status()

    def app_config(self, **overrides) -> dict:
        return {"STRIPE_SECRET_KEY": TEST_SECRET_KEY,
                "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
                "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
                "STRIPE_API_BASE": self.url, "STRIPE_JS_URL": self.js_url, **overrides}

    def client(self, api_key: str = TEST_SECRET_KEY):
        import stripe

        return stripe.StripeClient(api_key, base_addresses={"api": self.url},
                                   max_network_retries=0)

    def card_payment_method(self, card: dict | None = None) -> str:
        pm = self.client().v1.payment_methods.create(
            params={"type": "card", "card": card or TEST_CARD})
        return pm.id

    def pay_with_card(self, pi_id: str):
        """What Stripe.js does in the buyer's browser: attach a card to the PaymentIntent
        and confirm it. Gives the confirmed intent."""
        intents = self.client().v1.payment_intents
        intents.update(pi_id, params={"payment_method": self.card_payment_method()})
        return intents.confirm(pi_id)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def sign_payload(payload: bytes | str, secret: str = TEST_WEBHOOK_SECRET,
                 timestamp: int | None = None) -> str:
    """A Stripe-Signature header value for ``payload`` (the real scheme)."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def make_event(event_type: str, obj: dict, event_id: str | None = None,
               created: int | None = None) -> dict:
    return {"id": event_id or f"evt_{secrets.token_hex(8)}", "object": "event",
            "type": event_type, "created": created or int(time.time()),
            "api_version": "2020-08-27", "livemode": False, "data": {"object": obj}}


def signed_event(event: dict, secret: str = TEST_WEBHOOK_SECRET,
                 timestamp: int | None = None) -> tuple[bytes, dict]:
    """(raw body, headers) of a webhook delivery of ``event``."""
    body = json.dumps(event).encode()
    return body, {"Stripe-Signature": sign_payload(body, secret, timestamp),
                  "Content-Type": "application/json"}


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    server = LocalStripe(tmp_path_factory.mktemp("localstripe"))
    yield server
    server.close()


@pytest.fixture
def stripe_fake(localstripe):
    localstripe.reset()
    yield localstripe
    localstripe.reset()
