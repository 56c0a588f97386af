"""(a) A visitor on server A and an agent on server B talk live through the Redis channel layer."""

from __future__ import annotations

from tests.scaleout.conversation import ASK_FOR_HUMAN, conversation_start, in_own_loop


@in_own_loop
async def test_agent_on_b_takes_over_a_visitor_on_a_and_both_directions_flow(cluster):
    # given a visitor whose widget is connected to A, and an agent whose console is connected to B
    live = await conversation_start(cluster.a.ws, cluster.b.ws, session_key=cluster.session_key, visitor="visitor-a-1")

    # when they write to each other
    await live.agent_says("Hi, this is support, answering from server B.")
    await live.visitor_says("Thanks! I am on server A.", "a-1")
    await live.agent_says("Glad to help.")
    await live.visitor_says("Bye.", "a-2")
    await live.close()

    # then everything arrived live (checked above) and is stored, in order
    rows = cluster.app.sql(
        "SELECT role, text, client_id FROM chat_message WHERE conversation_id = %s ORDER BY id", (live.conversation_id,)
    )
    said = [(role, text) for role, text, _ in rows if role in ("visitor", "agent")]
    assert said == [
        ("visitor", ASK_FOR_HUMAN),
        ("agent", "Hi, this is support, answering from server B."),
        ("visitor", "Thanks! I am on server A."),
        ("agent", "Glad to help."),
        ("visitor", "Bye."),
    ]
    assert any(role == "system" and "joined" in text for role, text, _ in rows)
    assert [client_id for role, _, client_id in rows if role == "visitor"] == ["visitor-a-1-ask", "a-1", "a-2"]
    status, agent = cluster.app.sql(
        "SELECT c.status, u.username FROM chat_conversation c JOIN auth_user u ON u.id = c.assigned_agent_id "
        "WHERE c.id = %s",
        (live.conversation_id,),
    )[0]
    assert (status, agent) == ("escalated", "agent")
