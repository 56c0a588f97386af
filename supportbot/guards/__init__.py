"""Guardrails on every turn: the visitor's message and the bot's answer pass through guardrails-ai Guards.

input_guard.py checks a message before it is stored or sent to a model; output_guard.py checks an answer
sentence by sentence as it streams, so the visitor never sees text that failed. The validators themselves are
in validators.py (registered with guardrails' validator API) and lean on deterministic detectors
(injection.py, markup.py, grounding.py, supportbot/pii.py) that run offline in well under a millisecond each.
"""
