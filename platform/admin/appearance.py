"""Back office: the theme studio (装修), owner only.

Pick a theme from its preview picture, edit the settings its ``theme.json`` declares
(colours, logo and banner uploads, a scheduled announcement, footer text, featured
products), write custom CSS; every save is the shop's draft. "Preview" opens the
storefront with the draft (for the owner only), "Publish" makes it live, "Roll back"
publishes again the version before the live one. The history lists what went live.
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, owner_required
from kameng.core.errors import InvalidInput, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.shop.catalog.images import max_image_megabytes
from kameng.shop.storefront.branding import (
    featured_choices,
    forget_brand_images,
    store_brand_image,
)
from kameng.tenants import appearance as versions
from kameng.tenants.custom_css import CSS_LIMIT, check_css
from kameng.tenants.i18n import current_locale
from kameng.tenants.shop_settings import contacts_of, time_zone_of
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
    "Logo": _l("Logo"),
    "Banner picture": _l("Banner picture"),
    "Banner text": _l("Banner text"),
    "Announcement": _l("Announcement"),
    "Announcement shown from": _l("Announcement shown from"),
    "Announcement shown until": _l("Announcement shown until"),
    "Footer text": _l("Footer text"),
    "Featured products": _l("Featured products"),
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
    "logo_url": _l("A JPEG, PNG, WebP or GIF picture; without one the shop's initial is shown."),
    "banner_image": _l("A picture at the top of the home page."),
    "banner_text": _l("The big line on the home page; empty shows the shop name."),
    "announcement": _l("Shown at the top of every page, e.g. opening hours or news."),
    "footer_text": _l("A line at the bottom of every page, e.g. your business hours."),
    "featured_products": _l("Shown first on the home page, in every theme."),
    "show_stock_count": _l("Otherwise visitors only see in stock, low or sold out."),
}
ACTIONS = ("save", "preview", "publish")
CONTACT_LABELS = {"qq": _l("QQ"), "wechat": _l("WeChat"), "telegram": _l("Telegram"),
                  "email": _l("E-mail"), "url": _l("Link")}


def _message(spec: dict, err: InvalidInput) -> str:
    kind = spec.get("type", "text")
    if kind == "color":
        return _("Use a colour like #1a2b3c.")
    if kind == "url":
        return _("Use an http(s) address or a /path.")
    if kind == "datetime":
        return _("Use a date and time, e.g. 2026-12-31 18:00.")
    if kind in ("text", "textarea"):
        limit = int(spec.get("max_length", 500 if kind == "textarea" else 120))
        return _("At most %(n)d characters.", n=limit)
    return err.message


def _upload_name(key: str, spec: dict) -> str:
    return spec.get("upload") or key


def _submitted(schema: dict) -> tuple[dict, dict]:
    """(setting values, {setting key: file upload}) from the form. A picture field
    left empty keeps the current picture; its "remove" box clears it."""
    values, uploads = {}, {}
    for key, spec in schema.items():
        kind = spec.get("type")
        if kind == "boolean":
            values[key] = request.form.get(key) in ("on", "1", "true", "yes")
        elif kind == "products":
            values[key] = request.form.getlist(key)
        elif kind == "image":
            upload = request.files.get(_upload_name(key, spec))
            if request.form.get(f"{key}_remove"):
                values[key] = ""
            elif upload is not None and upload.filename:
                uploads[key] = upload
        else:
            values[key] = request.form.get(key, "")
    return values, uploads


def _field_errors(theme: str, schema: dict, values: dict, choices: set[int]) -> dict[str, str]:
    """Every bad field at once (the service stops at the first)."""
    errors = {}
    for key, value in values.items():
        try:
            validate_settings(theme, {key: value})
        except InvalidInput as err:
            errors[key] = _message(schema[key], err)
    try:
        validate_settings(theme, {k: v for k, v in values.items() if k not in errors})
    except InvalidInput as err:          # the announcement's end before its start
        errors.setdefault(err.field or "theme", err.message)
    for key, spec in schema.items():
        if spec.get("type") == "products" and key not in errors:
            if any(int(v) not in choices for v in values.get(key) or [] if str(v).isdigit()):
                errors[key] = _("Pick products this shop sells.")
    return errors


def _store_uploads(uploads: dict, schema: dict, errors: dict) -> dict[str, str]:
    """Store each uploaded picture; on any refusal, the ones stored are deleted again."""
    stored: dict[str, str] = {}
    for key, upload in uploads.items():
        try:
            stored[key] = store_brand_image(upload, g.tenant.id, _upload_name(key, schema[key]))
        except InvalidInput as err:
            errors[key] = err.message
    if errors:
        forget_brand_images(stored.values(), g.tenant.id)
        return {}
    return stored


def _save(chosen: str, schema: dict, choices: set[int]):
    """The POST of the studio's form: (draft, None) or (None, (errors, values, css))."""
    values, uploads = _submitted(schema)
    css = request.form.get("custom_css", "")
    errors = _field_errors(chosen, schema, values, choices)
    try:
        check_css(css)
    except InvalidInput as err:
        errors["custom_css"] = err.message
    stored = {} if errors else _store_uploads(uploads, schema, errors)
    if errors:
        return None, (errors, values, css)
    try:
        draft = versions.save_draft(g.tenant, chosen, {**values, **stored}, css,
                                    author=current_user)
    except Exception as err:
        # whatever stopped the draft, the pictures stored for it go too
        db.session.rollback()
        forget_brand_images(stored.values(), g.tenant.id)
        if not isinstance(err, InvalidInput):
            raise
        return None, ({err.field or "theme": err.message}, values, css)
    return draft, None


@bp.route("/appearance", methods=["GET", "POST"])
@owner_required
def appearance():
    tenant = g.tenant
    themes = available_themes()
    draft = versions.draft_of(tenant)
    chosen = request.values.get("theme") or (draft.theme if draft else tenant.theme)
    if chosen not in themes:
        chosen = tenant.theme if tenant.theme in themes else DEFAULT_THEME
    schema = settings_schema(chosen)
    stored = draft.settings if draft is not None else tenant.theme_settings
    values = effective_settings(chosen, stored)
    css = draft.custom_css if draft is not None else versions.custom_css_of(tenant)
    catalog = featured_choices(tenant, current_locale())
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "save")
        if action not in ACTIONS:
            abort(400)
        saved, refused = _save(chosen, schema, {item.id for item in catalog})
        if saved is not None:
            return _after_save(saved, action)
        errors, submitted, css = refused
        values = {**values, **{k: v for k, v in submitted.items()
                               if schema.get(k, {}).get("type") != "image"}}
        status = 422
    return render_template("admin/appearance.html", **_page(
        chosen, schema, values, errors, css, draft, catalog)), status


def _after_save(draft, action: str):
    if action == "preview":
        return redirect(url_for("shop.index", preview=draft.id))
    if action == "publish":
        try:
            version = versions.publish(g.tenant, draft.id, author=current_user)
        except ServiceError as err:          # the draft stays saved; say why it is not live
            db.session.rollback()
            flash(err.message, "error")
        else:
            flash(_("Version %(n)s is live.", n=version.number), "success")
    else:
        flash(_("Draft saved. Preview it, then publish it when it looks right."), "success")
    return redirect(url_for("admin.appearance"))


def _page(chosen, schema, values, errors, css, draft, catalog) -> dict:
    fields = [{
        "key": key, "type": spec.get("type", "text"),
        "label": str(LABELS.get(spec.get("label", ""), spec.get("label") or key)),
        "help": str(HELP.get(key, "")), "value": values.get(key),
        "default": spec.get("default", ""), "error": errors.get(key),
        "max_length": spec.get("max_length"), "upload": _upload_name(key, spec),
    } for key, spec in schema.items()]
    themes = available_themes()
    cards = [{"name": t.name, "title": str(THEME_TEXT.get(t.name, (t.title,))[0]),
              "description": str(THEME_TEXT[t.name][1]) if t.name in THEME_TEXT
              else t.description, "parent": t.parent,
              "preview": (t.path / "static" / "preview.png").is_file(),
              "colors": [s.get("default") for s in settings_schema(t.name).values()
                         if s.get("type") == "color"]}
             for t in themes.values()]
    history = versions.history(g.tenant)
    featured = set(values.get("featured_products") or [])
    return {
        "themes": cards, "chosen": chosen, "fields": fields, "errors": errors,
        "custom_css": css, "css_limit": CSS_LIMIT, "draft": draft, "history": history,
        "authors": versions.authors_of([*history, *([draft] if draft else [])]),
        "previous": history[1] if len(history) > 1 else None,
        "catalog": catalog,
        "featured": {int(v) for v in featured if str(v).isdigit()},
        "contacts": contacts_of(g.tenant),
        "contact_labels": {k: str(v) for k, v in CONTACT_LABELS.items()}, "time_zone": time_zone_of(g.tenant),
        "max_image_mb": max_image_megabytes(), "form": CsrfForm(),
    }


@bp.route("/appearance/rollback", methods=["POST"])
@owner_required
def appearance_rollback():
    return _version_action(lambda: versions.rollback(g.tenant, author=current_user))


@bp.route("/appearance/discard", methods=["POST"])
@owner_required
def appearance_discard():
    def discard():
        versions.discard_draft(g.tenant)
        return None
    return _version_action(discard)


def _version_action(action):
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        version = action()
    except ServiceError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash(_("Version %(n)s is live.", n=version.number) if version is not None
              else _("Draft discarded."), "success")
    return redirect(url_for("admin.appearance"))
