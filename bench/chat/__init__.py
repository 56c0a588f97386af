"""Chat benchmarks: the answering pipeline's own overhead, and many concurrent websocket conversations, in one run.

    .venv/bin/python -m bench.chat [--chunks 10000] [--conversations 200] [--questions 5] \
        [--json-out bench/results/chat.json]
    .venv/bin/python -m bench.chat --quick     # a small run that checks it works (numbers mean nothing)

What it does (docs/benchmarks.md, "Chat pipeline and websocket load", explains the choices), one module per step:

1. setup: starts a separate embedded Postgres under --data-dir (default /tmp/supportbot-chatbench, wiped first;
   never the development data), migrates it, ingests the real demo help centre (kb/demo/docs) through the
   ingestion service, then bulk-loads synthetic chunks up to --chunks in total with bench/retrieval/load.py (the
   knowledge-base benchmark's loader: bench/synth.py text and vectors, full-text vectors as `kb.services` makes
   them, the migrations' own indexes rebuilt, keyword statistics refreshed).
2. pipeline: the answering pipeline in process, for --pipeline-questions distinct questions (the demo evaluation
   set, the demo's unanswerable questions, generated support questions), each conversation a first question
   and a follow-up, against the local fake LLM (fake_model) with zero latency. Per answer: total time, time to
   first token, the time spent waiting on the model (the openai SDK's stream, condensing included) and so
   "outside the model" = total - model, plus a per-stage breakdown. Semantic-cache hits are reported apart.
3. load: a real daphne server in a subprocess on the same benchmark database, its LLM the fake one in this
   process streaming at a realistic pace. --conversations websocket clients (the `websockets` package) connect,
   then after a random jitter each asks --questions questions in sequence (a think time between them). Records
   error frames, disconnects and timeouts; lost messages (every question must get exactly one "received" and
   one "answer", and be stored as a visitor message); client-side time to first token minus the model's own
   waiting time (= TTFT overhead: the fake's first-token delay, plus for a follow-up the condensing call before
   it); wall time and answers/s; CPU by process.
4. report: a table with the targets and PASS/FAIL; the results as JSON.
"""
