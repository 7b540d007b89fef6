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
        value = (raw or "").strip() if isinstance(raw, str) else raw
        kind = spec.get("type", "text")
        if value in ("", None):
            continue
        if kind == "color" and not COLOR_RE.match(value):
            raise InvalidInput(_l("%(key)s must be a colour like #1a2b3c", key=key), field=key)
        if kind == "url" and not URL_RE.match(value):
            raise InvalidInput(_l("%(key)s must be an http(s) address or a /path",
                                  key=key), field=key)
        if kind in ("text", "textarea"):
            limit = int(spec.get("max_length", 500 if kind == "textarea" else 120))
            if len(value) > limit:
                raise InvalidInput(_l("%(key)s is longer than %(limit)s characters",
                                      key=key, limit=limit), field=key)
        if kind == "boolean":
            value = bool(value)
        clean[key] = value
    return clean


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


def current_theme() -> str:
    tenant = g.get("tenant")
    return tenant.theme if tenant is not None else DEFAULT_THEME


def render(name: str, **context) -> str:
    """Render a storefront template through the current tenant's theme."""
    return render_template(f"@{current_theme()}/{name}", **context)
