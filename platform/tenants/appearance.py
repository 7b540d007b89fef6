"""The theme studio's versions (装修): draft → preview → publish → roll back.

Editing writes the shop's one draft (a ``ThemeVersion`` without a number). Its owner
can look at the storefront rendered with it (``?preview=<draft id>``); buyers never
see it. Publishing numbers the draft and copies it onto the shop (``Tenant.theme``,
``settings["theme"]``, ``settings["appearance"]``); that change of the shop bumps the
host cache's generation, which is part of every key of the anonymous page cache, so
buyers see the new look on their next page. A roll-back publishes a copy of the
version published before the live one.
"""
from __future__ import annotations

from sqlalchemy import func, select

from kameng.core.errors import InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.txn import in_own_txn
from kameng.tenants.custom_css import check_css
from kameng.tenants.models import Tenant, ThemeVersion, User
from kameng.tenants.themes import (
    available_themes,
    check_schedule,
    settings_schema,
    validate_settings,
)

HISTORY_LIMIT = 30


def _rows(tenant: Tenant):
    return select(ThemeVersion).where(ThemeVersion.tenant_id == tenant.id)


def draft_of(tenant: Tenant) -> ThemeVersion | None:
    """The shop's unpublished draft, if it has one."""
    return db.session.scalars(_rows(tenant).where(ThemeVersion.published.is_(False))
                              .order_by(ThemeVersion.id.desc()).limit(1)).first()


def live_version(tenant: Tenant) -> ThemeVersion | None:
    """The version buyers see (None for a shop that never published one)."""
    return db.session.scalars(_rows(tenant).where(ThemeVersion.published.is_(True))
                              .order_by(ThemeVersion.number.desc()).limit(1)).first()


def history(tenant: Tenant, limit: int = HISTORY_LIMIT) -> list[ThemeVersion]:
    """Published versions, newest first."""
    return list(db.session.scalars(_rows(tenant).where(ThemeVersion.published.is_(True))
                                   .order_by(ThemeVersion.number.desc()).limit(limit)))


def authors_of(versions) -> dict[int, str]:
    """User id → e-mail of the people who saved or published these versions."""
    ids = {v.author_id for v in versions if v.author_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())


def previous_version(tenant: Tenant) -> ThemeVersion | None:
    """The version published before the live one: what "Roll back" brings back."""
    rows = history(tenant, limit=2)
    return rows[1] if len(rows) == 2 else None


def version_for_preview(tenant: Tenant, version_id) -> ThemeVersion | None:
    """This shop's version ``version_id`` (a draft or an earlier one), else None."""
    try:
        wanted = int(version_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalars(_rows(tenant).where(ThemeVersion.id == wanted)).first()


def live_number(tenant: Tenant) -> int | None:
    """The live version's number, from the shop row (no query: the page cache's key)."""
    return ((tenant.settings or {}).get("appearance") or {}).get("version")


def has_custom_css(tenant: Tenant) -> bool:
    return bool(((tenant.settings or {}).get("appearance") or {}).get("css"))


def custom_css_of(tenant: Tenant) -> str:
    """The custom CSS of the shop's live version."""
    row = live_version(tenant)
    return row.custom_css if row is not None else ""


def _clean(tenant: Tenant, theme: str, values: dict, base: dict) -> dict:
    if theme not in available_themes():
        raise InvalidInput(_l("unknown theme %(theme)r", theme=theme), field="theme")
    values = dict(values or {})
    clean = validate_settings(theme, values)
    schema = settings_schema(theme)
    kept = {k: v for k, v in (base or {}).items() if k in schema and k not in values}
    merged = {**kept, **clean}
    # a kept start and a new end must still agree; other kept values are not checked
    # again (a logo address saved under older, looser rules stays usable)
    check_schedule(merged)
    return merged


def save_draft_in_txn(tenant: Tenant, theme: str, values: dict, custom_css: str = "",
                      author=None) -> ThemeVersion:
    """Write the shop's draft: ``values`` as for ``update_appearance`` (a blank resets a
    setting, a key left out keeps the draft's or the live value)."""
    draft = draft_of(tenant)
    base = draft.settings if draft is not None else tenant.theme_settings
    settings = _clean(tenant, theme, values, base)
    css = check_css(custom_css)
    if draft is None:
        draft = ThemeVersion(tenant_id=tenant.id, published=False)
        db.session.add(draft)
    draft.theme, draft.settings, draft.custom_css = theme, settings, css
    draft.author_id = getattr(author, "id", None)
    db.session.flush()
    return draft


def save_draft(tenant: Tenant, theme: str, values: dict, custom_css: str = "",
               author=None) -> ThemeVersion:
    return in_own_txn(save_draft_in_txn, tenant, theme, values, custom_css, author)


def _next_number(tenant: Tenant) -> int:
    top = db.session.scalar(select(func.max(ThemeVersion.number))
                            .where(ThemeVersion.tenant_id == tenant.id))
    return (top or 0) + 1


def _go_live(tenant: Tenant, version: ThemeVersion, author) -> ThemeVersion:
    version.number = _next_number(tenant)
    version.published = True
    version.published_at = utcnow()
    version.author_id = getattr(author, "id", None) or version.author_id
    settings = dict(tenant.settings or {})
    settings["theme"] = dict(version.settings or {})
    settings["appearance"] = {"version": version.number, "css": bool(version.custom_css)}
    tenant.theme = version.theme
    tenant.settings = settings   # a new dict: the JSON column sees the change
    db.session.flush()
    return version


def publish_in_txn(tenant: Tenant, version_id: int, author=None) -> ThemeVersion:
    """Make the shop's draft ``version_id`` live."""
    draft = draft_of(tenant)
    if draft is None or draft.id != int(version_id):
        raise NotFound(_l("there is no such draft"))
    # a theme removed since the draft was saved: refuse rather than show a broken shop
    _clean(tenant, draft.theme, {}, draft.settings)
    return _go_live(tenant, draft, author)


def publish(tenant: Tenant, version_id: int, author=None) -> ThemeVersion:
    return in_own_txn(publish_in_txn, tenant, version_id, author)


def restore_in_txn(tenant: Tenant, number: int, author=None) -> ThemeVersion:
    """Publish again a copy of the shop's published version ``number``."""
    old = db.session.scalars(_rows(tenant).where(ThemeVersion.published.is_(True),
                                                 ThemeVersion.number == int(number))).first()
    if old is None:
        raise NotFound(_l("there is no such version"))
    _clean(tenant, old.theme, {}, old.settings)
    copy = ThemeVersion(tenant_id=tenant.id, theme=old.theme, settings=dict(old.settings or {}),
                        custom_css=old.custom_css, restored_from=old.number)
    db.session.add(copy)
    return _go_live(tenant, copy, author)


def rollback_in_txn(tenant: Tenant, author=None) -> ThemeVersion:
    previous = previous_version(tenant)
    if previous is None:
        raise InvalidInput(_l("there is no earlier version to roll back to"), field="version")
    return restore_in_txn(tenant, previous.number, author)


def rollback(tenant: Tenant, author=None) -> ThemeVersion:
    return in_own_txn(rollback_in_txn, tenant, author)


def restore(tenant: Tenant, number: int, author=None) -> ThemeVersion:
    return in_own_txn(restore_in_txn, tenant, number, author)


def discard_draft_in_txn(tenant: Tenant) -> None:
    draft = draft_of(tenant)
    if draft is not None:
        db.session.delete(draft)
        db.session.flush()


def discard_draft(tenant: Tenant) -> None:
    in_own_txn(discard_draft_in_txn, tenant)


def publish_values_in_txn(tenant: Tenant, theme: str, values: dict, author=None,
                          custom_css: str | None = None) -> ThemeVersion:
    """Save and publish at once (the CLI, the demo, tests): the live values are the base,
    the live custom CSS is kept unless given; a pending draft is left alone."""
    settings = _clean(tenant, theme, values, tenant.theme_settings)
    css = check_css(custom_css) if custom_css is not None else custom_css_of(tenant)
    version = ThemeVersion(tenant_id=tenant.id, theme=theme, settings=settings,
                           custom_css=css)
    db.session.add(version)
    return _go_live(tenant, version, author)
