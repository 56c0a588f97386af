"""Offline evaluation of answers: the answering pipeline run over an eval set, its answers scored, runs stored
and compared, and an HTML report. Retrieval metrics come from kb/evaluation.py; `manage.py evaluate` runs both."""
