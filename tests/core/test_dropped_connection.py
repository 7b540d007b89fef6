"""A pooled connection the server closed is replaced, not handed to a request."""
import time

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
        # the signal is sent, not yet obeyed: wait until the server process has ended
        # (and closed the socket), as it has when a real request comes later
        deadline = time.monotonic() + 10
        while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                           {"pid": first}).scalar_one() and time.monotonic() < deadline:
            conn.commit()
            time.sleep(0.02)
    admin.dispose()
    # the very next request gets a fresh connection, no error
    second = _request(app)
    assert second != first
    assert _request(app) == second
