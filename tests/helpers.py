"""Test data built through the real services."""
from __future__ import annotations

from types import SimpleNamespace

from kameng.tenants import services

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
