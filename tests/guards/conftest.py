# The chat fixtures (a widget, a small knowledge base, the local fake LLM) serve the guard tests too.
from tests.chat.conftest import fake_llm, knowledge, llm, no_llm, widget  # noqa: F401
