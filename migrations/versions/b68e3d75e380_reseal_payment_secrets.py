"""re-seal payment secrets on the code key ring

Payment-provider secrets were sealed under a key derived from SECRET_KEY
(``v1:base64(nonce + ct)``), so rotating the session key lost them. They now
use the CODE_KEYS ring like every stored secret (``kid:base64(nonce + ct)``),
with the same associated data. A token that does not open with the old key
(SECRET_KEY already changed, or already re-sealed) is left as it is.

The old sealing is written out here rather than imported: the code no longer has it.

Revision ID: b68e3d75e380
Revises: 02f2032b2059
Create Date: 2026-11-29 10:30:00.000000

"""
import base64
import os

from alembic import op
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from kameng.core import crypto


# revision identifiers, used by Alembic.
revision = 'b68e3d75e380'
down_revision = '02f2032b2059'
branch_labels = None
depends_on = None

PURPOSE = "kameng:payment-secret:v1"
OLD_VERSION = "v1"

configs = sa.table(
    "payment_method_configs",
    sa.column("id", sa.BigInteger),
    sa.column("tenant_id", sa.BigInteger),
    sa.column("provider", sa.String),
    sa.column("secrets", sa.JSON),
)


def _aad(tenant_id, provider, name):
    return f"{PURPOSE}|{int(tenant_id)}|{provider}|{name}".encode()


def _old_aead():
    secret = current_app.config.get("SECRET_KEY")
    if not secret:
        return None
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=PURPOSE.encode()).derive(str(secret).encode()))


def _old_open(aead, token, aad):
    version, _, b64 = (token or "").partition(":")
    if aead is None or version != OLD_VERSION or not b64:
        return None
    try:
        blob = base64.urlsafe_b64decode(b64)
        return aead.decrypt(blob[:12], blob[12:], aad).decode()
    except (InvalidTag, ValueError):
        return None


def _old_seal(aead, plaintext, aad):
    nonce = os.urandom(12)
    blob = nonce + aead.encrypt(nonce, plaintext.encode(), aad)
    return f"{OLD_VERSION}:{base64.urlsafe_b64encode(blob).decode()}"


def _rewrite(convert):
    conn = op.get_bind()
    rows = conn.execute(sa.select(configs.c.id, configs.c.tenant_id, configs.c.provider,
                                  configs.c.secrets)).all()
    for row in rows:
        stored = dict(row.secrets or {})
        changed = {}
        for name, token in stored.items():
            new = convert(token, _aad(row.tenant_id, row.provider, name))
            if new is not None:
                changed[name] = new
        if changed:
            conn.execute(configs.update().where(configs.c.id == row.id)
                         .values(secrets={**stored, **changed}))


def upgrade():
    aead = _old_aead()

    def reseal(token, aad):
        plain = _old_open(aead, token, aad)
        return None if plain is None else crypto.seal(plain, aad)

    _rewrite(reseal)


def downgrade():
    aead = _old_aead()
    if aead is None:
        return

    def back(token, aad):
        try:
            plain = crypto.unseal(token, aad)
        except crypto.CryptoError:
            return None
        return _old_seal(aead, plain, aad)

    _rewrite(back)
