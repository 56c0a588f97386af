"""Answering a visitor's question from the knowledge base: the pipeline and its parts.

Not a Django app (it has no models): it reads and writes the chat's Conversation, Message and CachedAnswer rows,
and knows nothing of websockets or visitors' sessions. `pipeline.answer_stream` is its entry point; the chat's
turn (supportbot/chat/turn.py) calls it and forwards what it yields.
"""
