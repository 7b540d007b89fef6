from __future__ import annotations

import pytest
from sqlalchemy import text

from kameng.core.extensions import db


@pytest.fixture
def no_alembic_version(app):
    """The fixture builds the schema from the models; a test that records a revision
    must not leave it to the next test on the shared PostgreSQL database."""
    _drop_version()
    yield
    _drop_version()


def _drop_version():
    db.session.rollback()
    db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.session.commit()
