"""Fixtures for the payment tests: the fake gateways, a recording payment handler."""
from __future__ import annotations

import threading

import pytest

from kameng.billing.payments import services
from kameng.core.scoping import current_scope
from tests.fakes.epay_gateway import epay_gateway  # noqa: F401  (fixture)
from tests.fakes.stripe import localstripe, stripe_fake  # noqa: F401  (fixtures)


class RecordingHandler:
    """Stands in for the orders work: records every notice it is given."""

    def __init__(self, answer=True):
        self.answer = answer
        self.calls: list[tuple[int, object, object]] = []   # (tenant id, notice, scope)
        self._cond = threading.Condition()

    def __call__(self, tenant, notice):
        with self._cond:
            self.calls.append((tenant.id, notice, current_scope()))
            self._cond.notify_all()
        return self.answer(tenant, notice) if callable(self.answer) else self.answer

    @property
    def notices(self):
        return [n for _, n, _ in self.calls]

    def wait_for(self, count: int = 1, timeout: float = 20) -> list:
        with self._cond:
            self._cond.wait_for(lambda: len(self.calls) >= count, timeout=timeout)
            return list(self.notices)


@pytest.fixture
def handler(app):
    recorder = RecordingHandler()
    app.extensions[services.HANDLER_KEY] = recorder
    yield recorder
    app.extensions.pop(services.HANDLER_KEY, None)


@pytest.fixture
def without_handler(app):
    """As if the orders work had registered no payment handler."""
    saved = app.extensions.pop(services.HANDLER_KEY, None)
    yield
    if saved is not None:
        app.extensions[services.HANDLER_KEY] = saved
