"""Themes: ``themes/<name>/`` with ``theme.json``, ``templates/`` and ``static/``.

A template is looked up in the tenant's theme, then its parent theme, and so on
down to ``default``, so a theme may override a single template. Theme templates
are addressed as ``@<theme>/<name>``; the theme is part of the template name, so
Jinja's template cache is keyed by theme and never serves one shop's theme to
another. A relative ``{% extends %}``/``{% include %}`` inside a theme template
stays in that theme's chain.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path

from flask import g, render_template
from flask.templating import Environment
from jinja2 import BaseLoader, TemplateNotFound

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l

DEFAULT_THEME = "default"
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
URL_RE = re.compile(r"^(https?://[^\s\"'<>]+|/[^\s\"'<>]*)$")
# an uploaded picture (``/media/<32 hex>.webp``, see shop.catalog.images) or an https address
IMAGE_RE = re.compile(r"^(/media/[0-9a-f]{32}\.webp|https://[^\s\"'<>()\\]+)$")
LOCAL_TIME_FORMAT = "%Y-%m-%dT%H:%M"   # an <input type="datetime-local">, in the shop's zone
MAX_FEATURED = 12


@dataclass(frozen=True)
class Theme:
    name: str
    title: str
    parent: str | None
    path: Path
    settings: dict = field(default_factory=dict)  # key -> {type, default, label, ...}
    description: str = ""


def themes_root() -> Path:
    return Path(str(files("kameng.themes")))


@cache
def _load_themes(root: str) -> dict[str, Theme]:
    found = {}
    for entry in sorted(Path(root).iterdir()):
        meta = entry / "theme.json"
        if not meta.is_file():
            continue
        data = json.loads(meta.read_text("utf-8"))
        found[entry.name] = Theme(
            name=entry.name, title=data.get("name", entry.name),
            parent=data.get("parent") or (None if entry.name == DEFAULT_THEME else DEFAULT_THEME),
            path=entry, settings=data.get("settings", {}),
            description=data.get("description", ""),
        )
    return found


def available_themes() -> dict[str, Theme]:
    return _load_themes(str(themes_root()))


def theme_chain(name: str) -> list[Theme]:
    themes = available_themes()
    chain, seen = [], set()
    current = name if name in themes else DEFAULT_THEME
    while current and current not in seen:
        seen.add(current)
        chain.append(themes[current])
        current = themes[current].parent
    if chain[-1].name != DEFAULT_THEME:
        chain.append(themes[DEFAULT_THEME])
    return chain


def settings_schema(name: str) -> dict:
    """The theme's settings, parents' first so a child may redefine a default."""
    merged: dict = {}
    for theme in reversed(theme_chain(name)):
        merged.update(theme.settings)
    return merged


def effective_settings(theme: str, values: dict | None) -> dict:
    schema = settings_schema(theme)
    values = values or {}
    return {key: values.get(key, spec.get("default", "")) for key, spec in schema.items()}


def validate_settings(theme: str, values: dict) -> dict:
    """Clean owner-supplied settings against the theme's schema."""
    schema = settings_schema(theme)
    clean = {}
    for key, raw in values.items():
        spec = schema.get(key)
        if spec is None:
            raise InvalidInput(_l("theme %(theme)r has no setting %(key)r",
                                  theme=theme, key=key), field=key)
        value = _clean_value(key, spec, raw)
        if value is not None:
            clean[key] = value
    check_schedule(clean)
    return clean


def check_schedule(settings: dict) -> None:
    """An announcement's end, when both are set, comes after its start."""
    starts, ends = settings.get("announcement_starts"), settings.get("announcement_ends")
    if starts and ends and str(ends) <= str(starts):   # one fixed format: text order is time order
        raise InvalidInput(_l("the announcement must end after it starts"),
                           field="announcement_ends")


def _clean_value(key: str, spec: dict, raw):
    """One setting's clean value, or None for "blank: the theme's default"."""
    kind = spec.get("type", "text")
    if kind == "products":
        return _clean_products(key, spec, raw)
    value = (raw or "").strip() if isinstance(raw, str) else raw
    if value in ("", None):
        return None
    if kind == "color" and not COLOR_RE.match(value):
        raise InvalidInput(_l("%(key)s must be a colour like #1a2b3c", key=key), field=key)
    if kind == "url" and not URL_RE.match(value):
        raise InvalidInput(_l("%(key)s must be an http(s) address or a /path",
                              key=key), field=key)
    if kind == "image" and not (isinstance(value, str) and IMAGE_RE.match(value)):
        raise InvalidInput(_l("%(key)s must be an uploaded picture or an https:// address",
                              key=key), field=key)
    if kind == "datetime":
        try:
            value = datetime.strptime(str(value), LOCAL_TIME_FORMAT).strftime(LOCAL_TIME_FORMAT)
        except ValueError:
            raise InvalidInput(_l("%(key)s must be a date and time like 2026-12-31T18:00",
                                  key=key), field=key) from None
    if kind in ("text", "textarea"):
        value = str(value)
        limit = int(spec.get("max_length", 500 if kind == "textarea" else 120))
        if len(value) > limit:
            raise InvalidInput(_l("%(key)s is longer than %(limit)s characters",
                                  key=key, limit=limit), field=key)
    if kind == "boolean":
        value = bool(value)
    return value


def _clean_products(key: str, spec: dict, raw) -> list[int] | None:
    """Product ids, in the owner's order, without repeats (whether the shop sells them
    is the storefront's business: it shows only those it lists)."""
    if raw in ("", None):
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise InvalidInput(_l("%(key)s must be a list of products", key=key), field=key)
    ids: list[int] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput(_l("%(key)s must be a list of products", key=key), field=key)
        if int(text) not in ids:
            ids.append(int(text))
    limit = int(spec.get("max_items", MAX_FEATURED))
    if len(ids) > limit:
        raise InvalidInput(_l("at most %(n)s featured products", n=limit), field=key)
    return ids or None


def announcement_shown(settings: dict, now_local: datetime) -> bool:
    """Whether the announcement is on at ``now_local`` (naive, the shop's wall clock):
    set, and between its start and end when they are set."""
    if not settings.get("announcement"):
        return False
    starts, ends = settings.get("announcement_starts"), settings.get("announcement_ends")
    try:
        if starts and now_local < datetime.strptime(starts, LOCAL_TIME_FORMAT):
            return False
        if ends and now_local >= datetime.strptime(ends, LOCAL_TIME_FORMAT):
            return False
    except ValueError:
        return False   # a stored value we cannot read: better hidden than always on
    return True


def find_static(theme: str, filename: str) -> Path | None:
    for t in theme_chain(theme):
        static = (t.path / "static").resolve()
        candidate = (static / filename).resolve()
        if candidate.is_relative_to(static) and candidate.is_file():
            return candidate
    return None


class ThemeLoader(BaseLoader):
    """Loads ``@theme/name`` through the theme chain."""

    def get_source(self, environment, template):
        if not template.startswith("@") or "/" not in template:
            raise TemplateNotFound(template)
        theme, name = template[1:].split("/", 1)
        if theme not in available_themes():
            raise TemplateNotFound(template)
        for t in theme_chain(theme):
            path = t.path / "templates" / name
            if path.is_file():
                mtime = os.path.getmtime(path)
                source = path.read_text("utf-8")
                return source, str(path), lambda p=path, m=mtime: os.path.getmtime(p) == m
        raise TemplateNotFound(template)


class ThemedEnvironment(Environment):
    def join_path(self, template, parent):
        if template.startswith("@") or not parent.startswith("@"):
            return template
        return parent.split("/", 1)[0] + "/" + template


def current_appearance() -> tuple[str, dict]:
    """The theme and stored settings this request shows: the draft its owner is
    previewing (``g.appearance_preview``, set by the storefront), else the shop's
    published ones."""
    preview = g.get("appearance_preview")
    if preview is not None:
        return preview.theme, dict(preview.settings or {})
    tenant = g.get("tenant")
    if tenant is None:
        return DEFAULT_THEME, {}
    return tenant.theme, tenant.theme_settings


def current_theme() -> str:
    return current_appearance()[0]


def shown_settings() -> dict:
    """The settings the theme templates see: every key of the schema, defaults filled
    in, and the announcement blanked outside its schedule (in the shop's time zone)."""
    from kameng.tenants.shop_settings import to_shop_time

    theme, stored = current_appearance()
    values = effective_settings(theme, stored)
    now_local = to_shop_time(datetime.now(UTC), g.get("tenant")).replace(tzinfo=None)
    if not announcement_shown(values, now_local):
        values["announcement"] = ""
    return values


def render(name: str, **context) -> str:
    """Render a storefront template through the current tenant's theme."""
    return render_template(f"@{current_theme()}/{name}", **context)
