"""(d) Redis restarts under a live conversation and a running worker: both recover, nothing acknowledged is lost."""

from __future__ import annotations

import time

from tests.scaleout.clients import Console, help_articles
from tests.scaleout.conversation import conversation_start, in_own_loop


@in_own_loop
async def test_after_a_redis_restart_messages_flow_between_a_and_b_and_the_worker_takes_jobs(cluster):
    # given a live conversation: visitor on A, agent on B
    live = await conversation_start(cluster.a.ws, cluster.b.ws, session_key=cluster.session_key, visitor="visitor-d-1")
    await live.visitor_says("Before the restart.", "d-1")

    # when Redis stops, a message is sent while it is down, and Redis comes back on the same port
    cluster.redis.stop()
    await live.visitor.send({"type": "message", "text": "During the outage.", "client_id": "d-2"})
    # (the visitor hears about it: an acknowledgement, or an error frame — never silence)
    outage_reply = await live.visitor.expect_any(("received", "error"))
    cluster.redis.start()

    # then new messages flow both ways again, and the widget's resend of the outage message (same client id) lands
    await live.agent_says("After the restart, from B.")
    await live.visitor_says("After the restart, from A.", "d-3")
    await live.visitor.send({"type": "message", "text": "During the outage.", "client_id": "d-2"})
    await live.visitor.expect("received", client_id="d-2")
    await live.close()
    # and every acknowledged message is stored, once
    stored = cluster.app.sql(
        "SELECT client_id, text FROM chat_message WHERE conversation_id = %s AND role = 'visitor' ORDER BY id",
        (live.conversation_id,),
    )
    client_ids = [client_id for client_id, _ in stored]
    assert sorted(client_ids) == sorted(["visitor-d-1-ask", "d-1", "d-2", "d-3"])  # each once
    if outage_reply["type"] == "received":
        assert ("d-2", "During the outage.") in stored
    else:
        assert outage_reply["code"]  # a clear, coded error
    agent_texts = cluster.app.sql(
        "SELECT text FROM chat_message WHERE conversation_id = %s AND role = 'agent'", (live.conversation_id,)
    )
    assert agent_texts == [("After the restart, from B.",)]

    # and the worker, reconnected, still runs jobs queued through the servers
    console = Console(cluster.a.http, session_key=cluster.session_key)
    job_id = console.upload({f"d-{name}": text for name, text in help_articles(3).items()})
    deadline = time.monotonic() + 60
    while not console.job(job_id)["finished"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert console.job(job_id)["status"] == "succeeded"
