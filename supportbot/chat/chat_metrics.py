"""What the chat counts for /metrics (the metric objects live in supportbot.metrics)."""

from __future__ import annotations

from supportbot.metrics import CHAT_MESSAGES, GUARD_TRIPS, WEBSOCKET_CONNECTIONS, WEBSOCKETS_OPEN

# Guard results with these outcomes changed or stopped something; "pass" did not.
_TRIPPED = {"fail", "fixed", "error"}


def guard_trips_count(guard_results: list) -> None:
    """Count the interventions recorded in a message's stored guard_results."""
    for result in guard_results or []:
        if isinstance(result, dict) and result.get("outcome") in _TRIPPED:
            guard, action = str(result.get("validator", "unknown")), str(result.get("action", ""))
            GUARD_TRIPS.labels(guard=guard, action=action).inc()


def message_count(role: str) -> None:
    CHAT_MESSAGES.labels(role=role).inc()


def socket_opened(route: str) -> None:
    WEBSOCKET_CONNECTIONS.labels(route=route, outcome="accepted").inc()
    WEBSOCKETS_OPEN.labels(route=route).inc()


def socket_refused(route: str, code: str) -> None:
    WEBSOCKET_CONNECTIONS.labels(route=route, outcome=code).inc()


def socket_closed(route: str) -> None:
    WEBSOCKETS_OPEN.labels(route=route).dec()
