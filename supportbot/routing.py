"""Websocket routes. The console (/ws/console/) registers here too."""

from __future__ import annotations

from django.urls import path

from supportbot.chat.consumers import ChatConsumer
from supportbot.console.consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
