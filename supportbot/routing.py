"""Websocket routes. The console (/ws/console/) registers here too."""

from __future__ import annotations

from django.urls import path

from supportbot.chat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
]
