"""Product images uploaded in the back office: checked by content, re-encoded, thumbnailed.

An upload is never stored as it came: Pillow must open it as a JPEG, PNG, WebP or GIF
(the first frame), within ``KAMENG_MAX_IMAGE_BYTES`` and ``MAX_PIXELS``; the picture is
re-encoded as WebP (which drops every metadata block: EXIF, GPS, comments) at most
``MAX_SIDE`` pixels wide or high, with a ``THUMB_SIDE`` thumbnail beside it. Files live
under ``KAMENG_MEDIA_DIR`` (default: the instance folder's ``media``), in a folder per
owning shop, named by 128 random bits: ``<media>/<tenant id>/<32 hex>.webp`` and
``<32 hex>_t.webp``. The catalog keeps the image as the URL ``/media/<name>``, which
the media route serves on the owner's hosts and its sub-shops' (they sell its catalog).
"""
from __future__ import annotations

import io
import os
import re
import secrets
import warnings
from pathlib import Path

from flask import current_app

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_PIXELS = 40_000_000          # a decompression bomb is refused before it is decoded
MAX_SIDE = 1600
THUMB_SIDE = 400
MEDIA_PREFIX = "/media/"
# what the media route accepts: nothing else can name a file, so no path can escape
NAME_RE = re.compile(r"^[0-9a-f]{32}(_t)?\.webp$")


def media_root(app=None) -> Path:
    app = app or current_app
    configured = app.config.get("MEDIA_DIR")
    return Path(configured) if configured else Path(app.config["INSTANCE_PATH"]) / "media"


def max_image_bytes(app=None) -> int:
    return int((app or current_app).config.get("MAX_IMAGE_BYTES") or 5 * 1024 * 1024)


def max_image_megabytes(app=None) -> str:
    return _megabytes(max_image_bytes(app))


def thumb_url(url: str | None) -> str | None:
    """The thumbnail of an uploaded image's URL; any other URL as it is."""
    if url and url.startswith(MEDIA_PREFIX) and NAME_RE.match(url[len(MEDIA_PREFIX):]) \
            and not url.endswith("_t.webp"):
        return url[:-len(".webp")] + "_t.webp"
    return url


def _encode(image, side: int) -> bytes:
    from PIL import Image

    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "WEBP", quality=85, method=4)   # no exif=, no icc_profile=: none kept
    return out.getvalue()


def _decode(data: bytes):
    from PIL import Image, UnidentifiedImageError

    bad = InvalidInput(_l("the file is not a JPEG, PNG, WebP or GIF image"), field="upload")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as image:
                if image.format not in ALLOWED_FORMATS:
                    raise bad
                width, height = image.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise InvalidInput(_l("the image is too large (at most %(n)s million "
                                          "pixels)", n=MAX_PIXELS // 1_000_000), field="upload")
                image.seek(0)          # a GIF or animated WebP: its first frame
                image.load()
                has_alpha = image.mode in ("RGBA", "LA", "PA") or \
                    (image.mode == "P" and "transparency" in image.info)
                return image.convert("RGBA" if has_alpha else "RGB")
        except InvalidInput:
            raise
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
                Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise bad from None


def read_upload(upload, limit: int) -> bytes:
    """The upload's bytes, refusing more than ``limit`` without reading them all."""
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(_l("the image is larger than %(mb)s MB",
                              mb=_megabytes(limit)), field="upload")
    if not data:
        raise InvalidInput(_l("the file is empty"), field="upload")
    return data


def _megabytes(limit: int) -> str:
    value = limit / (1024 * 1024)
    return f"{value:.1f}".rstrip("0").rstrip(".")


def store_image(upload, owner_id: int) -> str:
    """Check, re-encode and store an uploaded image for shop ``owner_id``; its URL."""
    image = _decode(read_upload(upload, max_image_bytes()))
    full, thumb = _encode(image, MAX_SIDE), _encode(image, THUMB_SIDE)
    folder = media_root() / str(int(owner_id))
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    for suffix, data in (("_t.webp", thumb), (".webp", full)):
        target = folder / f"{name}{suffix}"
        partial = folder / f".{name}{suffix}.part"
        partial.write_bytes(data)
        os.replace(partial, target)     # readers never see half a file
    return f"{MEDIA_PREFIX}{name}.webp"


def find_image(name: str, tenant_ids: list[int]) -> Path | None:
    """The stored file ``name`` of the first of ``tenant_ids`` that has it, or None.

    ``name`` must match ``NAME_RE`` (hex and a fixed suffix): no separator, no dot-dot."""
    if not NAME_RE.match(name or ""):
        return None
    root = media_root()
    for tenant_id in tenant_ids:
        path = root / str(int(tenant_id)) / name
        if path.is_file():
            return path
    return None


def remove_image(url: str, owner_id: int) -> None:
    """Delete a stored image and its thumbnail (an upload whose form was then refused)."""
    name = (url or "")[len(MEDIA_PREFIX):] if (url or "").startswith(MEDIA_PREFIX) else ""
    if not NAME_RE.match(name) or name.endswith("_t.webp"):
        return
    folder = media_root() / str(int(owner_id))
    for file_name in (name, name[:-len(".webp")] + "_t.webp"):
        try:
            (folder / file_name).unlink()
        except FileNotFoundError:
            pass
