"""A shop's own settings kept in ``Tenant.settings``: its customer-service contacts
(QQ, WeChat, Telegram, e-mail, a link) and its time zone.

Times are stored in UTC everywhere; pages show them in the shop's zone through the
``shoptime`` template filter (``format_shop_time``). Each shop's settings are its
own: a sub-shop's contacts or zone never change its parent's or its siblings'.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from kameng.core.addresses import clean_address
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.tenants.models import Tenant

CONTACT_KEYS = ("qq", "wechat", "telegram", "email", "url")
DEFAULT_TIME_ZONE = "Asia/Shanghai"
TIME_FORMAT = "%Y-%m-%d %H:%M"
URL_LIMIT = 300

_QQ = re.compile(r"[1-9][0-9]{4,11}")
# a WeChat ID (a letter, then 5–19 letters, digits, - or _) or the phone number it is bound to
_WECHAT = re.compile(r"[A-Za-z][-_A-Za-z0-9]{5,19}|\+?[0-9]{5,15}")
_TELEGRAM = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


# ----- contacts ---------------------------------------------------------------------------

def contacts_of(tenant: Tenant | None) -> dict[str, str]:
    """The shop's contacts that are set, in ``CONTACT_KEYS`` order."""
    saved = ((tenant.settings or {}).get("contacts") or {}) if tenant is not None else {}
    return {key: saved[key] for key in CONTACT_KEYS if saved.get(key)}


def clean_contact(key: str, value) -> str:
    """One contact, normalised ('' when empty); ``InvalidInput`` names the field."""
    text = (value or "").strip()
    if not text:
        return ""
    if key == "qq":
        if not _QQ.fullmatch(text):
            raise InvalidInput(_l("a QQ number is 5 to 12 digits"), field=key)
    elif key == "wechat":
        if not _WECHAT.fullmatch(text):
            raise InvalidInput(_l("a WeChat ID is 6 to 20 letters, digits, - or _ starting "
                                  "with a letter, or a phone number"), field=key)
    elif key == "telegram":
        text = text.removeprefix("https://t.me/").removeprefix("@")
        if not _TELEGRAM.fullmatch(text):
            raise InvalidInput(_l("a Telegram username is 5 to 32 letters, digits or _ "
                                  "starting with a letter"), field=key)
    elif key == "email":
        text = clean_address(text, field=key)
    elif key == "url":
        text = clean_link(text)
    else:
        raise InvalidInput(_l("unknown contact %(key)r", key=key), field=key)
    return text


def clean_link(text: str) -> str:
    """An http(s) address with a host, at most ``URL_LIMIT`` characters, no spaces."""
    parts = urlsplit(text)
    if (len(text) > URL_LIMIT or parts.scheme.lower() not in ("http", "https")
            or not parts.hostname or any(c.isspace() or ord(c) < 32 for c in text)):
        raise InvalidInput(_l("the link must be an http:// or https:// address of at most "
                              "%(limit)s characters", limit=URL_LIMIT), field="url")
    return text


def contact_errors(values: dict) -> dict[str, str]:
    """Every bad contact at once: field → message (the service stops at the first)."""
    errors = {}
    for key in CONTACT_KEYS:
        try:
            clean_contact(key, values.get(key))
        except InvalidInput as err:
            errors[key] = err.message
    return errors


# ----- time zone --------------------------------------------------------------------------

@cache
def time_zones() -> tuple[str, ...]:
    """Every zone name ``zoneinfo`` knows, sorted (read from disk once)."""
    return tuple(sorted(_zone_names()))


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def time_zone_of(tenant: Tenant | None) -> str:
    name = (tenant.settings or {}).get("time_zone") if tenant is not None else None
    return name if name in _zone_names() else DEFAULT_TIME_ZONE


def clean_time_zone(name) -> str:
    text = (name or "").strip()
    if text not in _zone_names():
        raise InvalidInput(_l("unknown time zone %(name)r (e.g. Asia/Shanghai)", name=text),
                           field="time_zone")
    return text


def to_shop_time(value: datetime, tenant: Tenant | None) -> datetime:
    """A stored (UTC) time in the shop's zone; a naive one is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(_zone(time_zone_of(tenant)))


def format_shop_time(value, tenant: Tenant | None, fmt: str = TIME_FORMAT) -> str:
    """``value`` formatted in the shop's zone ('' for None; a date is formatted as is)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_shop_time(value, tenant)
    elif not isinstance(value, date):
        return str(value)
    return value.strftime(fmt)


# ----- saving -----------------------------------------------------------------------------

def update_shop_settings(tenant: Tenant, *, contacts: dict | None = None,
                         time_zone: str | None = None) -> Tenant:
    """Set the shop's contacts (every key; empty removes one) and/or its time zone.
    Everything is validated before anything is written; commits."""
    settings = dict(tenant.settings or {})
    if contacts is not None:
        unknown = set(contacts) - set(CONTACT_KEYS)
        if unknown:
            raise InvalidInput(_l("unknown contact %(key)r", key=sorted(unknown)[0]))
        clean = {key: clean_contact(key, contacts.get(key)) for key in CONTACT_KEYS}
        settings["contacts"] = {k: v for k, v in clean.items() if v}
    if time_zone is not None:
        settings["time_zone"] = clean_time_zone(time_zone)
    tenant.settings = settings  # a new dict: the JSON column sees the change
    db.session.commit()
    return tenant
