"""Websocket routes. The chat (/ws/chat/) and the console (/ws/console/) register here."""

from __future__ import annotations

websocket_urlpatterns: list = []
