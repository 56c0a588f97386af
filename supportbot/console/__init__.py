"""The agent console: live inbox and human takeover, knowledge-base management, feedback review, analytics."""
