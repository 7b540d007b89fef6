"""Errors a service raises for bad input or a refused operation.

Views turn them into a form message or a JSON problem detail, the CLI into one
line on stderr and a non-zero exit. A service raises before it writes, or its
transaction is rolled back, so nothing is half-written.

A message is usually a lazy string (``lazy_gettext`` with named placeholders):
it is translated when shown, so a page or a problem detail speaks the request's
locale and the CLI the default locale, whichever context raised it.
"""
from __future__ import annotations


class ServiceError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, message, *, code: str | None = None, status: int | None = None,
                 field: str | None = None):
        super().__init__(message)
        self.text = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.field = field

    @property
    def message(self) -> str:
        """The message in the current locale (a plain ``str``, rendered now)."""
        return str(self.text)

    def __str__(self) -> str:
        return self.message


class NotFound(ServiceError):
    code, status = "not_found", 404


class Conflict(ServiceError):
    code, status = "conflict", 409


class InvalidInput(ServiceError):
    code, status = "invalid_field", 422


def found(row, message):
    """``row`` (a look-up's answer), or ``NotFound(message)`` when there is none."""
    if row is None:
        raise NotFound(message)
    return row
