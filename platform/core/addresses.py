"""E-mail addresses checked with ``email-validator`` (syntax only: no DNS look-up)."""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l


def _check(text: str) -> str:
    # test_environment: addresses under the reserved .test domain are accepted (staging
    # shops and the test suite use them); DNS is never asked
    return validate_email(text, check_deliverability=False, test_environment=True).normalized


def clean_address(text, field: str = "email") -> str:
    """The address, normalised and lower-cased; ``InvalidInput`` says what is wrong."""
    text = (text or "").strip()
    local, _, domain = text.rpartition("@")
    try:
        host = domain.lower()
        if local and (host == "localhost" or host.endswith(".localhost")):
            # a mailbox on this machine or a *.localhost shop (the demo's logins);
            # the rest of the address is checked like any other
            _check(f"{local}@{host}.test")
            return text.lower()
        return _check(text).lower()
    except EmailNotValidError as err:
        raise InvalidInput(_l("not a valid e-mail address: %(address)r (%(reason)s)",
                              address=text, reason=str(err)), field=field) from None


def is_address(text) -> bool:
    try:
        clean_address(text)
    except InvalidInput:
        return False
    return True
