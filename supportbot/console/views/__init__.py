"""The console's pages, one module per area: sign-in, inbox and conversations, knowledge base, feedback review,
analytics, widgets."""
