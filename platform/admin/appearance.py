"""Back office: the shop's theme and its settings (owner only)."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required
from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.tenants.services import update_appearance
from kameng.tenants.themes import (
    DEFAULT_THEME,
    available_themes,
    effective_settings,
    settings_schema,
    validate_settings,
)

bp = Routes()

# theme.json labels are English; these are the ones our themes use, for the translators
LABELS = {
    "Primary colour": _l("Primary colour"),
    "Accent colour": _l("Accent colour"),
    "Logo URL": _l("Logo URL"),
    "Banner text": _l("Banner text"),
    "Announcement": _l("Announcement"),
    "Show exact stock counts": _l("Show exact stock counts"),
}
THEME_TEXT = {
    "default": (_l("Default (modern)"),
                _l("Clean and airy: product cards on a light background, large type.")),
    "classic": (_l("Classic 卡盟"),
                _l("Dense catalogue: category sidebar, compact product tables, red and orange.")),
    "midnight": (_l("Midnight"), _l("The default layout on a dark skin with a night banner.")),
}
HELP = {
    "logo_url": _l("An https:// address or a /path; leave empty to show the shop's initial."),
    "banner_text": _l("The big line on the home page; empty shows the shop name."),
    "announcement": _l("Shown at the top of every page, e.g. opening hours or news."),
    "show_stock_count": _l("Otherwise visitors only see in stock, low or sold out."),
}


def _message(spec: dict, key: str, err: InvalidInput) -> str:
    kind = spec.get("type", "text")
    if kind == "color":
        return _("Use a colour like #1a2b3c.")
    if kind == "url":
        return _("Use an http(s) address or a /path.")
    if kind in ("text", "textarea"):
        limit = int(spec.get("max_length", 500 if kind == "textarea" else 120))
        return _("At most %(n)d characters.", n=limit)
    return err.message


def _submitted(schema: dict) -> dict:
    values = {}
    for key, spec in schema.items():
        if spec.get("type") == "boolean":
            values[key] = request.form.get(key) in ("on", "1", "true", "yes")
        else:
            values[key] = request.form.get(key, "")
    return values


def _field_errors(theme: str, schema: dict, values: dict) -> dict[str, str]:
    """Every bad field at once (the service stops at the first)."""
    errors = {}
    for key, value in values.items():
        try:
            validate_settings(theme, {key: value})
        except InvalidInput as err:
            errors[key] = _message(schema[key], key, err)
    return errors


@bp.route("/appearance", methods=["GET", "POST"])
@owner_required
def appearance():
    tenant = g.tenant
    themes = available_themes()
    chosen = request.values.get("theme") or tenant.theme
    if chosen not in themes:
        chosen = tenant.theme if tenant.theme in themes else DEFAULT_THEME
    schema = settings_schema(chosen)
    values = effective_settings(chosen, tenant.theme_settings)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        submitted = _submitted(schema)
        errors = _field_errors(chosen, schema, submitted)
        if not errors:
            try:
                update_appearance(tenant, chosen, submitted)
            except InvalidInput as err:
                errors[err.field or "theme"] = err.message
            else:
                flash(_("Appearance saved."), "success")
                return redirect(url_for("admin.appearance"))
        values = {**values, **submitted}
        status = 422
    fields = [{
        "key": key, "type": spec.get("type", "text"),
        "label": str(LABELS.get(spec.get("label", ""), spec.get("label") or key)),
        "help": str(HELP.get(key, "")), "value": values.get(key),
        "default": spec.get("default", ""), "error": errors.get(key),
        "max_length": spec.get("max_length"),
    } for key, spec in schema.items()]
    cards = [{"name": t.name, "title": str(THEME_TEXT.get(t.name, (t.title,))[0]),
              "description": str(THEME_TEXT[t.name][1]) if t.name in THEME_TEXT
              else t.description, "parent": t.parent,
              "colors": [s.get("default") for s in settings_schema(t.name).values()
                         if s.get("type") == "color"]}
             for t in themes.values()]
    return render_template("admin/appearance.html", themes=cards,
                           chosen=chosen, fields=fields, errors=errors), status
