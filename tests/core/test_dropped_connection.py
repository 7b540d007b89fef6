"""A pooled connection the server closed is replaced, not handed to a request."""
from sqlalchemy import create_engine, text

from kameng.core.extensions import db


def _request(app) -> int:
    """What a request does with the database: one statement, then the session's end."""
    with app.test_request_context("/"):
        try:
            return db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        finally:
            db.session.remove()


def test_the_request_after_the_server_ends_its_connection_succeeds(app, pg):
    first = _request(app)
    assert _request(app) == first          # pooled: the same server process
    admin = create_engine(pg.url, poolclass=None)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                            {"pid": first}).scalar_one()
        conn.commit()
    admin.dispose()
    # the very next request gets a fresh connection, no error
    second = _request(app)
    assert second != first
    assert _request(app) == second
