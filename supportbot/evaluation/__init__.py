"""Offline evaluation of answers: the answering pipeline run over an eval set, its answers scored, runs stored
and compared, and an HTML report. The eval set's cases come from cases.py, retrieval metrics from retrieval.py;
`manage.py evaluate` (management/commands/evaluate.py) runs both."""
