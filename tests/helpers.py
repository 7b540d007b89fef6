"""Test data built through the real services."""
from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

from sqlalchemy import text

from kameng.core.extensions import db
from kameng.tenants import services
from tests.fakes.epay_gateway import live_server
from tests.fakes.stripe import TEST_WEBHOOK_SECRET

PASSWORD = "correct-horse"


def make_tree(themes=("default", "classic", "midnight")) -> SimpleNamespace:
    master = services.create_tenant("master", "Master Shop", theme=themes[0])
    star = services.create_tenant("star", "Star Cards", "master", theme=themes[1])
    rocket = services.create_tenant("rocket", "Rocket Topups", "star", theme=themes[2])
    ns = SimpleNamespace(master=master, star=star, rocket=rocket)
    for t in (master, star, rocket):
        setattr(ns, f"{t.slug}_owner",
                services.create_user(t, f"owner@{t.slug}.test", "owner", PASSWORD))
        setattr(ns, f"{t.slug}_customer",
                services.create_user(t, f"buyer@{t.slug}.test", "customer", PASSWORD))
    return ns


def login(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def open_transactions_per_dns_query(dns_server) -> list[int]:
    """From now on, at each question ``dns_server`` gets, count the other connections of
    this database idle inside an open transaction (a look-up must find none); returns
    the list the counts go into."""
    engine = db.engine  # the DNS server's thread has no app context
    seen: list[int] = []

    def probe(_name):
        with engine.connect() as conn:
            seen.append(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"))
                .scalar())

    dns_server.zone.on_query = probe
    return seen


@contextmanager
def stripe_webhook_server(app, stripe_fake):
    """The app on loopback, with ``stripe_fake`` sending its events to the platform's
    webhook. Stripe calls it on the master's host, reached by IP here."""
    services.add_domain("master", "127.0.0.1", verified=True)
    server = live_server(app)
    try:
        stripe_fake.register_webhook(f"{server.url}/pay/stripe/webhook", TEST_WEBHOOK_SECRET)
        yield server
    finally:
        server.close()
        db.session.commit()
