"""Knowledge-base benchmarks: search latency, HNSW recall and ingestion throughput, in one run.

    .venv/bin/python bench/run.py [--sizes 10000,100000] [--queries 200] [--json-out bench/results/kb.json]

What it does (docs/benchmarks.md explains the choices):

1. Starts a separate embedded Postgres under --data-dir (default /tmp/supportbot-bench, wiped first), so the
   development data is never touched, and migrates it.
2. Times the embedding of a query on its own (the local ONNX model, as `kb.search` does it).
3. For each size (ascending, growing the same database): bulk-loads synthetic chunks up to that size
   (support-style text + clustered unit vectors, see bench/synth.py), rebuilds the HNSW and GIN indexes from
   the migration's own definitions, then measures
   - HNSW recall@10 against exact search for held-out query vectors (plus an hnsw.ef_search sweep),
   - `kb.search(query, k=5, mode=...)` latency for hybrid, vector and keyword modes, end to end (the query
     embedding included, as in production) and database-only (embedding precomputed).
4. At the largest size: EXPLAIN ANALYZE of the hybrid query (the statement kb.search sends, captured), how
   many chunks share a word with each question, what a search on a brand-new DB connection costs.
5. Ingestion throughput through the real service (`job_create` + `job_run`, 3 jobs of 100 generated Markdown
   pages) into the knowledge base as it stands (HNSW/GIN inserts against the full-size index), with the
   time per stage and an embedding batch-size sweep.
6. Prints a table with the targets and PASS/FAIL, and writes the results as JSON (machine, versions, code
   hashes of the app files measured).

The machine may be shared: timings are taken in groups, and a group during which other processes used more
than --quiet-threshold of the CPUs is thrown away and measured again once quiet (QuietGate, bounded by
--quiet-budget seconds). Every phase records how much CPU other processes took.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from synth import Corpus, VectorSpace  # noqa: E402

TARGETS = {
    "hybrid_p95_ms": 25.0,  # at the largest size (100k chunks), end to end, query embedding included
    "recall_at_10": 0.95,  # at the largest size, HNSW vs exact, the app's ef_search
    "ingest_chunks_per_s": 50.0,  # real ingestion service, local model, end to end
}
MODES = ("hybrid", "vector", "keyword")
CHUNKS_PER_DOC = 10
EF_SWEEP = (40, 100, 200, 400)
INDEXES = ("kb_chunk_embedding_hnsw", "kb_chunk_search_vector_gin")
GROUP = 10  # queries per timed group (see QuietGate)
# calibrated: pairwise similarities like MiniLM's on the bundled help pages (bench/synth.py's defaults).
# islands: well separated topics with nothing in common (no shared direction) — a harder case for HNSW.
VECTOR_PROFILES = {
    "calibrated": {},
    "islands": {"global_weight": 0.0, "shared_weight": 0.0, "doc_spread": 0.7, "chunk_spread": 0.5, "iso_noise": 0.3},
}


# --- small helpers ----------------------------------------------------------------------------------------
def log(message: str = "") -> None:
    print(message, flush=True)


def stats_ms(samples: list[float]) -> dict:
    """Latency summary in milliseconds (samples are in seconds)."""
    ms = np.array(samples) * 1000.0
    return {
        "n": int(ms.size),
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
        "mean": round(float(ms.mean()), 2),
        "max": round(float(ms.max()), 2),
    }


def fmt_stats(s: dict) -> str:
    return f"p50 {s['p50']:7.2f}  p95 {s['p95']:7.2f}  p99 {s['p99']:7.2f}  mean {s['mean']:7.2f} ms"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="total chunk counts to measure at, ascending")
    parser.add_argument("--queries", type=int, default=200, help="text queries and query vectors per size")
    parser.add_argument("--json-out", default="bench/results/kb.json")
    parser.add_argument("--data-dir", default="/tmp/supportbot-bench", help="wiped at start; never the dev data")
    parser.add_argument("--ingest-docs", type=int, default=300, help="Markdown documents for the ingestion run")
    parser.add_argument("--warmup", type=int, default=30, help="untimed queries per mode before timing")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--vector-profile",
        choices=sorted(VECTOR_PROFILES),
        default="calibrated",
        help="synthetic vector distribution (see bench/synth.py and docs/benchmarks.md)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.15,
        help="re-measure a group of timings when other processes used more than this share of the CPUs",
    )
    parser.add_argument("--quiet-budget", type=float, default=300, help="total seconds the re-measuring may wait")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="first wait up to N s until other processes use at most 10%% of the CPUs",
    )
    args = parser.parse_args()
    args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    return args


def prepare_environment(args: argparse.Namespace) -> Path:
    data_dir = Path(args.data_dir).expanduser().resolve()
    if data_dir == (ROOT / ".data").resolve() or data_dir in (ROOT, Path("/"), Path.home()):
        sys.exit(f"refusing to use {data_dir} as the benchmark data directory (it is wiped)")
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, 0)
            sys.exit(f"a Postgres (pid {pid}) is still running on {data_dir}; stop it or pick another --data-dir")
        except ProcessLookupError:
            pass
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    # The benchmark always runs on its own embedded server: never on a DATABASE_URL (that may be real data).
    for name in ("DATABASE_URL", "REDIS_URL"):
        if os.environ.pop(name, None):
            log(f"note: {name} is set; ignored, the benchmark uses its own embedded Postgres")
    os.environ["SUPPORTBOT_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "supportbot.settings"
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    return data_dir


# --- machine and configuration ----------------------------------------------------------------------------
def code_fingerprint() -> dict:
    """Which version of the app code the numbers belong to (short hashes of the files that matter)."""
    import hashlib

    files = ["kb/retrieval.py", "kb/services.py", "kb/embeddings.py", "kb/models.py", "supportbot/settings.py"]
    files += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kb" / "migrations").glob("0*.py"))
    return {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest()[:12] for f in files if (ROOT / f).exists()}


class CpuMeter:
    """CPU time used by other processes than the benchmark and its Postgres server, per phase.

    On a 2-core machine anything else running (tests, another benchmark) shows up directly in the latencies;
    each phase records the share of the machine others took, so disturbed numbers can be recognised.
    """

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, data_dir: Path):
        self.marker = str(data_dir)
        self.ncpu = os.cpu_count() or 1

    @staticmethod
    def _busy() -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / CpuMeter.TICK

    def _ours(self) -> float:
        total = 0.0
        me = str(os.getpid())
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if proc.name != me and self.marker not in cmdline and "postgres: " not in cmdline:
                    continue
                if "postgres: " in cmdline and not self._is_our_server_child(proc):
                    continue
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in stat[11:15]) / self.TICK  # utime stime cutime cstime
            except (OSError, IndexError, ValueError):
                continue
        return total

    def _is_our_server_child(self, proc: Path) -> bool:
        try:
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            parent = (Path("/proc") / ppid / "cmdline").read_bytes().decode(errors="replace")
            return self.marker in parent
        except OSError:
            return False

    def snapshot(self) -> tuple[float, float, float]:
        return time.perf_counter(), self._busy(), self._ours()

    def others_share(self, start: tuple[float, float, float]) -> float:
        """Share (0..1) of the machine's CPU capacity used by other processes since `start`."""
        now = self.snapshot()
        wall = now[0] - start[0]
        others = (now[1] - start[1]) - (now[2] - start[2])
        return round(max(0.0, others) / max(wall * self.ncpu, 1e-9), 3)


class QuietGate:
    """Runs a timed group of calls again when other processes took the CPU meanwhile.

    The machine is shared (tests, other benchmarks); a group of timings taken while something else used more
    than `threshold` of the CPUs is thrown away, the gate waits for quiet and measures the group again. The
    total waiting is bounded by `budget_s`; after that groups are kept as measured, and the shares recorded.
    """

    def __init__(self, meter: CpuMeter, *, threshold: float = 0.15, budget_s: float = 300.0):
        self.meter, self.threshold, self.budget = meter, threshold, budget_s
        self.reruns, self.waited, self.kept_shares = 0, 0.0, []

    def run(self, fn):
        while True:
            start = self.meter.snapshot()
            value = fn()
            share = self.meter.others_share(start)
            if share <= self.threshold or self.budget <= 0:
                self.kept_shares.append(share)
                return value
            self.reruns += 1
            self._wait_for_quiet()

    def _wait_for_quiet(self) -> None:
        while self.budget > 0:
            start = self.meter.snapshot()
            time.sleep(2)
            self.budget -= 2
            self.waited += 2
            if self.meter.others_share(start) <= self.threshold:
                return

    def summary(self) -> dict:
        kept = self.kept_shares or [0.0]
        return {
            "threshold": self.threshold,
            "groups": len(self.kept_shares),
            "reruns": self.reruns,
            "waited_s": round(self.waited, 1),
            "budget_left_s": round(max(self.budget, 0), 1),
            "kept_groups_disturbed": sum(s > self.threshold for s in kept),
            "kept_share_mean": round(statistics.mean(kept), 3),
            "kept_share_max": round(max(kept), 3),
        }


def wait_for_idle(meter: CpuMeter, max_wait: float, threshold: float = 0.10) -> float:
    """Timings on a 2-core machine mean little while something else runs: wait (bounded) for quiet."""
    waited, share = 0.0, 1.0
    while True:
        start = meter.snapshot()
        time.sleep(5)
        share = meter.others_share(start)
        if share <= threshold or waited >= max_wait:
            break
        if waited == 0:
            log(f"other processes use {share:.0%} of the CPUs; waiting up to {max_wait:.0f} s for quiet ...")
        waited += 5
    if share > threshold:
        log(f"WARNING: other processes use {share:.0%} of the CPUs: timings will be disturbed")
    return share


def machine_info() -> dict:
    import django
    import onnxruntime
    from django.conf import settings
    from django.db import connection

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        pgvector_version = cursor.fetchone()[0]
        pg_settings = {}
        for name in (
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "max_parallel_workers_per_gather",
            "jit",
            "hnsw.ef_search",
            "hnsw.iterative_scan",
        ):
            cursor.execute(f"SHOW {name}")
            pg_settings[name] = cursor.fetchone()[0]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "code_sha256": code_fingerprint(),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgres": pg_version,
        "pgvector": pgvector_version,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "postgres_settings": pg_settings,
        "app_settings": {
            name: getattr(settings, name)
            for name in (
                "KB_EMBEDDING_BACKEND",
                "KB_EMBEDDING_MODEL",
                "KB_EMBEDDING_DIMENSIONS",
                "KB_EMBEDDING_BATCH_SIZE",
                "KB_EMBEDDING_THREADS",
                "KB_CHUNK_TOKENS",
                "KB_CHUNK_OVERLAP_TOKENS",
                "KB_TEXT_SEARCH_CONFIG",
                "KB_SEARCH_CANDIDATES",
                "KB_RRF_K",
                "KB_HNSW_EF_SEARCH",
            )
        },
    }


# --- bulk loading of synthetic chunks ---------------------------------------------------------------------
def raw_connection():
    """A psycopg connection of our own for COPY and DDL (Django's connection stays untouched)."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    return psycopg.connect(**params, autocommit=True)


def _vector_binary(v: np.ndarray) -> bytes:
    # pgvector's binary wire format: int16 dimensions, int16 unused, float4 values, all big-endian.
    return struct.pack(">HH", v.shape[0], 0) + v.astype(">f4").tobytes()


def _defaults_for(model, known: set[str]) -> dict:
    """Column values for the fields the bulk load does not set itself: the model's defaults.

    The schema grows while the app is developed; a column the loader does not know about gets what a
    `Model.objects.create()` would give it (its default, "" for blank text, NULL when nullable).
    """
    out = {}
    for field in model._meta.concrete_fields:
        if field.column in known or field.primary_key:
            continue
        if field.has_default():
            out[field.column] = field.get_default()
        elif field.null:
            out[field.column] = None
        elif field.blank and field.get_internal_type() in ("CharField", "TextField"):
            out[field.column] = ""
        else:
            raise RuntimeError(f"bench/run.py does not know how to fill {model.__name__}.{field.name}")
    return out


def document_extras() -> dict:
    from kb import models

    known = {"id", "uri", "title", "url", "content_hash", "chunk_count", "format", "language", "text",
             "created_at", "updated_at"}  # fmt: skip
    extras = _defaults_for(models.Document, known)
    if "chunking" in extras and hasattr(models, "chunking_signature"):
        extras["chunking"] = models.chunking_signature()  # as if ingested with the current settings
    return extras


def chunk_extras() -> dict:
    from kb.models import Chunk

    known = {"id", "document_id", "position", "text", "heading_path", "anchor", "token_count", "embedding",
             "search_vector"}  # fmt: skip
    return _defaults_for(Chunk, known)


def search_vector_expression() -> tuple[str | None, dict]:
    """The SQL expression (and its parameters) kb.services._index_keywords computes search_vector with.

    Captured from the UPDATE it sends for a document that does not exist, so the bulk load follows the app
    when the expression changes (it did while this benchmark was written). Aliases: c = chunk, d = document.
    """
    from django.db import connection

    from kb import services

    captured: list = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        services._index_keywords(-1)
    for sql, params in captured:
        match = re.search(r"SET\s+search_vector\s*=\s*(.*?)\s+FROM\s+kb_document\s+AS\s+d\s+WHERE", sql, re.S | re.I)
        if match and isinstance(params, dict):
            return match.group(1), {k: v for k, v in params.items() if f"%({k})s" in match.group(1)}
    log("  note: could not read the search_vector expression; indexing document by document instead")
    return None, {}


def chunk_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kb_chunk")
        return cursor.fetchone()[0]


def load_synthetic(target_total: int, corpus: Corpus, space: VectorSpace, seed: int, *, total_docs_before: int) -> dict:
    """Add synthetic documents and chunks until kb_chunk holds `target_total` rows; rebuild the indexes."""
    from django.conf import settings

    current = chunk_count()
    need = target_total - current
    if need <= 0:
        return {"added_chunks": 0}
    rng = np.random.default_rng(seed + current)
    n_docs = math.ceil(need / CHUNKS_PER_DOC)
    per_doc = np.full(n_docs, CHUNKS_PER_DOC)
    per_doc[-1] = need - CHUNKS_PER_DOC * (n_docs - 1)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    doc_topics = rng.integers(corpus.n_topics, size=n_docs)
    chunk_topics = np.repeat(doc_topics, per_doc)
    chunk_doc = np.repeat(np.arange(n_docs), per_doc)
    vectors = space.chunks(space.doc_centres(doc_topics, rng)[chunk_doc], chunk_topics, rng)
    bodies = corpus.bodies(chunk_topics, rng)
    timings["generate_s"] = time.perf_counter() - started

    # Read before the bulk-load transaction takes its locks (it runs an UPDATE on kb_chunk through Django).
    expression, expression_params = search_vector_expression()
    with raw_connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT coalesce(max(id), 0) FROM kb_document")
        doc_base = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM kb_chunk")
        chunk_base = cur.fetchone()[0]
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'kb_chunk' AND indexname = ANY(%s)",
            [list(INDEXES)],
        )
        index_defs = dict(cur.fetchall())
        if set(index_defs) != set(INDEXES):
            raise RuntimeError(f"expected indexes {INDEXES} on kb_chunk, found {sorted(index_defs)}")

        started = time.perf_counter()
        with conn.transaction():
            for name in INDEXES:
                cur.execute(f"DROP INDEX {name}")
            now = dt.datetime.now(dt.UTC)
            titles = []
            fixed = {"format": "markdown", "language": "en", "text": "(synthetic benchmark document)",
                     "created_at": now, "updated_at": now, **document_extras()}  # fmt: skip
            per_row = ["id", "uri", "title", "url", "content_hash", "chunk_count"]
            columns = per_row + list(fixed)
            with cur.copy(f"COPY kb_document ({', '.join(columns)}) FROM STDIN") as copy:
                for i in range(n_docs):
                    doc_id = doc_base + 1 + i
                    title = corpus.doc_title(int(doc_topics[i]), total_docs_before + i)
                    titles.append(title)
                    row = (doc_id, f"synthetic://bench/{doc_id}", title, f"/help/synthetic-{doc_id}/",
                           f"{doc_id:064x}", int(per_doc[i]))  # fmt: skip
                    copy.write_row(row + tuple(fixed.values()))
            cur.execute(
                "CREATE TEMP TABLE bench_stage (id bigint, document_id bigint, position int, text text, "
                "heading_path text[], anchor text, token_count int, embedding vector) ON COMMIT DROP"
            )
            with cur.copy("COPY bench_stage FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "int4", "text", "text[]", "text", "int4", "bytea"])
                position = 0
                for j in range(need):
                    d = int(chunk_doc[j])
                    position = 0 if j == 0 or chunk_doc[j - 1] != d else position + 1
                    heading = corpus.section_heading(int(chunk_topics[j]), position)
                    copy.write_row(
                        (chunk_base + 1 + j, doc_base + 1 + d, position, bodies[j], [titles[d], heading],
                         heading.lower().replace(" ", "-"), int(len(bodies[j].split()) * 1.3),
                         _vector_binary(vectors[j]))
                    )  # fmt: skip
            timings["copy_s"] = time.perf_counter() - started
            started = time.perf_counter()
            # search_vector: the expression kb.services._index_keywords uses, read from the statement it sends.
            extras = chunk_extras()
            cur.execute(
                """
                INSERT INTO kb_chunk (id, document_id, position, text, heading_path, anchor, token_count,
                                      embedding, search_vector {extra_columns})
                SELECT c.id, c.document_id, c.position, c.text, c.heading_path::varchar(500)[], c.anchor,
                       c.token_count, c.embedding::vector({dim}), {expression} {extra_values}
                  FROM bench_stage AS c JOIN kb_document AS d ON d.id = c.document_id
                """.replace("{dim}", str(int(settings.KB_EMBEDDING_DIMENSIONS)))
                .replace("{expression}", expression or "NULL")
                .replace("{extra_columns}", "".join(f", {c}" for c in extras))
                .replace("{extra_values}", "".join(f", %(extra_{c})s" for c in extras)),
                {**expression_params, **{f"extra_{c}": v for c, v in extras.items()}},
            )
            if expression is None:  # could not read it: let the app index each new document itself
                from kb import services

                for doc_id in range(doc_base + 1, doc_base + n_docs + 1):
                    services._index_keywords(doc_id)
            timings["insert_tsvector_s"] = time.perf_counter() - started
        for table in ("kb_document", "kb_chunk"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")

        # Index builds: the migration's own definitions, with room to build the HNSW graph in memory.
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 1) - 1)}")
        for name in INDEXES:
            started = time.perf_counter()
            cur.execute(index_defs[name])
            timings[f"build_{name}_s"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute("VACUUM (ANALYZE) kb_document")
        cur.execute("VACUUM (ANALYZE) kb_chunk")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
    # Derived data the ingestion service keeps up to date (BM25 lexeme statistics, the KB version): refreshed
    # with the app's own functions, so keyword search sees the bulk-loaded chunks as if they were ingested.
    from kb import services

    started = time.perf_counter()
    services.kb_state()
    for name in ("keyword_stats_refresh",):
        if hasattr(services, name):
            getattr(services, name)()
            timings[f"{name}_s"] = time.perf_counter() - started
    services.kb_version_bump()
    return {
        "added_documents": n_docs,
        "added_chunks": need,
        **{k: round(v, 2) for k, v in timings.items()},
    }


def relation_sizes() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT relname, pg_size_pretty(pg_total_relation_size(oid)), pg_total_relation_size(oid)
              FROM pg_class WHERE relname IN ('kb_chunk', 'kb_document', %s, %s)
            """,
            list(INDEXES),
        )
        return {name: {"pretty": pretty, "bytes": size} for name, pretty, size in cursor.fetchall()}


# --- recall -----------------------------------------------------------------------------------------------
_KNN_SQL = "SELECT id FROM kb_chunk ORDER BY embedding <=> %s::vector LIMIT 10"


def knn_ids(vector_text: str, *, exact: bool = False, ef_search: int | None = None) -> tuple[list[int], float]:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            # The same query with the index disabled: a (parallel) sequential scan computing every distance.
            cursor.execute("SET LOCAL enable_indexscan = off")
        if ef_search is not None:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute(_KNN_SQL, [vector_text])
        ids = [row[0] for row in cursor.fetchall()]
    return ids, time.perf_counter() - started


def knn_plan_uses_hnsw(vector_text: str, *, exact: bool, ef_search: int | None = None) -> bool:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            cursor.execute("SET LOCAL enable_indexscan = off")
        if ef_search is not None:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute("EXPLAIN " + _KNN_SQL, [vector_text])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return "kb_chunk_embedding_hnsw" in plan


def measure_recall(query_vectors: list[str]) -> dict:
    from django.db import connection

    if not knn_plan_uses_hnsw(query_vectors[0], exact=False):
        log("  WARNING: the k-NN query does not use the HNSW index")
    if knn_plan_uses_hnsw(query_vectors[0], exact=True):
        raise RuntimeError("the exact query still uses the HNSW index")
    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        app_ef = int(cursor.fetchone()[0])
    for v in query_vectors[:20]:  # warm-up
        knn_ids(v)
    exact, exact_times = [], []
    for v in query_vectors:
        ids, took = knn_ids(v, exact=True)
        exact.append(set(ids))
        exact_times.append(took)
    out: dict = {"app_ef_search": app_ef, "exact_latency_ms": stats_ms(exact_times), "by_ef_search": {}}
    for ef in sorted({app_ef, *EF_SWEEP}):
        hits, times, per_query = 0, [], []
        for v, truth in zip(query_vectors, exact, strict=True):
            # The app's own setting comes from the connection options; others are SET LOCAL.
            ids, took = knn_ids(v, ef_search=None if ef == app_ef else ef)
            found = len(truth & set(ids))
            hits += found
            per_query.append(found / 10)
            times.append(took)
        out["by_ef_search"][str(ef)] = {
            "index_used": knn_plan_uses_hnsw(query_vectors[0], exact=False, ef_search=None if ef == app_ef else ef),
            "recall_at_10": round(hits / (10 * len(query_vectors)), 4),
            "min_query_recall": round(min(per_query), 2),
            "queries_below_0.9": sum(r < 0.9 for r in per_query),
            "latency_ms": stats_ms(times),
        }
    out["recall_at_10"] = out["by_ef_search"][str(app_ef)]["recall_at_10"]
    return out


# --- search latency ---------------------------------------------------------------------------------------
def measure_latency(queries: list[str], query_vectors: dict, warmup: int, gate: QuietGate) -> dict:
    import kb
    import kb.retrieval as retrieval
    from kb.embeddings import embed_query

    groups = [queries[i : i + GROUP] for i in range(0, len(queries), GROUP)]
    for q in queries[:warmup]:
        for mode in MODES:
            kb.search(q, k=5, mode=mode)

    def e2e_group(offset: int, group: list[str]) -> tuple[dict, dict]:
        samples: dict[str, list[float]] = {m: [] for m in MODES}
        empty: dict[str, int] = {m: 0 for m in MODES}
        for i, q in enumerate(group, start=offset):
            for mode in MODES[i % 3 :] + MODES[: i % 3]:  # rotate the order so no mode always goes first
                started = time.perf_counter()
                results = kb.search(q, k=5, mode=mode)
                samples[mode].append(time.perf_counter() - started)
                empty[mode] += not results
        return samples, empty

    samples: dict[str, list[float]] = {m: [] for m in MODES}
    empty: dict[str, int] = {m: 0 for m in MODES}
    for n, group in enumerate(groups):
        group_samples, group_empty = gate.run(lambda n=n, group=group: e2e_group(n * GROUP, group))
        for m in MODES:
            samples[m] += group_samples[m]
            empty[m] += group_empty[m]
    out = {f"{m}_e2e": stats_ms(samples[m]) for m in MODES}

    # Database only: the same calls with the query embedding looked up instead of computed.
    def db_group(offset: int, group: list[str]) -> dict:
        times: dict[str, list[float]] = {"hybrid": [], "vector": []}
        for i, q in enumerate(group, start=offset):
            for mode in ("hybrid", "vector") if i % 2 else ("vector", "hybrid"):
                started = time.perf_counter()
                kb.search(q, k=5, mode=mode)
                times[mode].append(time.perf_counter() - started)
        return times

    db_samples: dict[str, list[float]] = {"hybrid": [], "vector": []}
    original = retrieval.embed_query
    retrieval.embed_query = query_vectors.__getitem__
    try:
        for q in queries[:warmup]:
            kb.search(q, k=5, mode="hybrid")
        for n, group in enumerate(groups):
            group_times = gate.run(lambda n=n, group=group: db_group(n * GROUP, group))
            for m in db_samples:
                db_samples[m] += group_times[m]
    finally:
        retrieval.embed_query = original
    out["hybrid_db"] = stats_ms(db_samples["hybrid"])
    out["vector_db"] = stats_ms(db_samples["vector"])
    out["keyword_db"] = out["keyword_e2e"]
    out["embed_query"] = stats_ms(time_embeddings(queries, embed_query, gate))
    out["empty_results"] = empty
    out["_raw_hybrid_e2e_ms"] = [round(s * 1000, 3) for s in samples["hybrid"]]
    out["_raw_keyword_ms"] = [round(s * 1000, 3) for s in samples["keyword"]]
    return out


def time_embeddings(queries: list[str], embed_query, gate: QuietGate) -> list[float]:
    def group_times(group: list[str]) -> list[float]:
        times = []
        for q in group:
            started = time.perf_counter()
            embed_query(q)
            times.append(time.perf_counter() - started)
        return times

    out: list[float] = []
    for i in range(0, len(queries), 5 * GROUP):
        out += gate.run(lambda i=i: group_times(queries[i : i + 5 * GROUP]))
    return out


# --- diagnostics at the largest size ----------------------------------------------------------------------
def captured_search_sql(query: str, mode: str = "hybrid") -> tuple[str, object]:
    """The exact statement and parameters `kb.search` sends to Postgres (captured with an execute wrapper)."""
    from django.db import connection

    import kb

    captured: list = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        kb.search(query, k=5, mode=mode)
    return captured[-1]


def _walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def explain_hybrid(query: str) -> dict:
    from django.db import connection

    sql, params = captured_search_sql(query, "hybrid")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        doc = cursor.fetchone()[0]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        text = "\n".join(row[0] for row in cursor.fetchall())
    # The 384 numbers of the query vector would drown the plan: shorten every vector literal.
    text = re.sub(r"'\[[-+0-9.e,]+\]'::vector", "'[…query vector…]'::vector", text)
    plan = doc[0]
    nodes = list(_walk(plan["Plan"]))
    hnsw = [n for n in nodes if n.get("Index Name") == "kb_chunk_embedding_hnsw"]
    keyword_scans = [
        n for n in nodes if n.get("Relation Name") == "kb_chunk" and "search_vector" in str(n.get("Recheck Cond", ""))
    ] or [n for n in nodes if "search_vector" in str(n.get("Filter", "")) + str(n.get("Index Cond", ""))]
    # The node just above the keyword scan computes ts_rank for every match and sorts (top-N) them.
    keyword_top = [n for n in nodes if any(c in keyword_scans for c in n.get("Plans", []))]
    return {
        "query": query,
        "planning_ms": round(plan.get("Planning Time", 0.0), 2),
        "execution_ms": round(plan.get("Execution Time", 0.0), 2),
        "hnsw_index_used": bool(hnsw),
        "hnsw_scan_ms": round(hnsw[0]["Actual Total Time"], 2) if hnsw else None,
        "keyword_matches": int(keyword_scans[0]["Actual Rows"]) if keyword_scans else None,
        "keyword_scan_ms": round(keyword_scans[0]["Actual Total Time"], 2) if keyword_scans else None,
        "keyword_rank_and_sort_ms": round(keyword_top[0]["Actual Total Time"], 2) if keyword_top else None,
        "text": text,
    }


def keyword_match_counts(queries: list[str]) -> list[int]:
    """Per question, how many chunks share at least one lexeme with it (what an OR of all its words matches)."""
    from django.conf import settings
    from django.db import connection

    import kb.retrieval as r

    expression = getattr(
        r, "_KEYWORD_QUERY", "replace(plainto_tsquery(%(cfg)s::regconfig, %(query)s)::text, '&', '|')::tsquery"
    )
    counts = []
    with connection.cursor() as cursor:
        for q in queries:
            cursor.execute(
                f"SELECT count(*) FROM kb_chunk AS c, (SELECT {expression} AS query) AS q "
                "WHERE c.search_vector @@ q.query",
                {"query": q, "cfg": settings.KB_TEXT_SEARCH_CONFIG},
            )
            counts.append(cursor.fetchone()[0])
    return counts


def fresh_connection_cost(queries: list[str], n: int = 20) -> dict:
    """A search on a brand-new connection: what each request pays with CONN_MAX_AGE = 0."""
    from django.db import connection

    import kb

    warm, cold = [], []
    for q in queries[:n]:
        connection.close()
        started = time.perf_counter()
        kb.search(q, k=5, mode="hybrid")
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        kb.search(q, k=5, mode="hybrid")
        warm.append(time.perf_counter() - started)
    return {"hybrid_on_new_connection": stats_ms(cold), "hybrid_same_query_reused_connection": stats_ms(warm)}


# --- ingestion --------------------------------------------------------------------------------------------
def write_markdown_docs(folder: Path, corpus: Corpus, n_docs: int, seed: int, *, first: int = 0) -> int:
    """`n_docs` help pages (4-7 sections each) in sub-folders of `folder`; returns the bytes written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for n in range(first, first + n_docs):
        topic = int(rng.integers(corpus.n_topics))
        text = corpus.markdown_document(topic, n, rng, sections=int(rng.integers(4, 8)))
        sub = folder / f"area-{n % 12:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"help-page-{n:04d}.md").write_text(text, encoding="utf-8")
        total += len(text.encode())
    return total


class StageTimer:
    """Wraps functions the ingestion service calls to attribute its wall time to stages."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.embedded_texts: list[str] = []
        self._restore: list = []

    def wrap(self, owner, name: str, stage: str, *, keep_texts: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
                self.calls[stage] = self.calls.get(stage, 0) + 1
                if keep_texts and args:
                    self.embedded_texts.extend(args[0])

        setattr(owner, name, timed)
        self._restore.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)


def measure_ingestion(folder: Path, corpus: Corpus, n_docs: int, seed: int, gate: QuietGate, *, jobs: int = 3) -> dict:
    """Ingest `n_docs` generated Markdown pages with the real service, as `jobs` jobs of equal size.

    Each job is one `job_create` + `job_run` over its own folder. A job disturbed by other processes (see
    QuietGate) is run again over a fresh folder of new pages, so every kept job is a "created" run.
    """
    from kb import services
    from kb.embeddings import embedder

    emb = embedder()
    # Warm the model up on chunk-sized inputs (so far it has only seen short queries): steady-state throughput.
    emb.embed(corpus.bodies(np.arange(64) % corpus.n_topics, np.random.default_rng(seed), min_words=60, max_words=150))
    timer = StageTimer()
    timer.wrap(services, "extract", "extract_and_chunk")
    timer.wrap(emb, "embed", "embed", keep_texts=True)
    timer.wrap(services, "_store", "store")
    if hasattr(services, "keyword_stats_refresh"):
        timer.wrap(services, "keyword_stats_refresh", "keyword_stats_refresh")
    per_job = math.ceil(n_docs / jobs)
    attempts = 0

    def one_job(index: int) -> dict:
        nonlocal attempts
        attempts += 1
        job_folder = folder / f"job-{index}-attempt-{attempts}"
        size = write_markdown_docs(job_folder, corpus, per_job, seed + attempts, first=index * per_job)
        timer.seconds = {}
        texts_before = len(timer.embedded_texts)
        started = time.perf_counter()
        job = services.job_create(targets=[str(job_folder)])
        job = services.job_run(job_id=job.pk)
        wall = time.perf_counter() - started
        return {"wall": wall, "bytes": size, "job": job, "stages": dict(timer.seconds), "texts": texts_before}

    before = chunk_count()
    kept = []
    try:
        for index in range(jobs):
            kept.append(gate.run(lambda index=index: one_job(index)))
    finally:
        timer.restore()
    wall = sum(k["wall"] for k in kept)
    chunks = sum(k["job"].chunks_written for k in kept)
    stages: dict[str, float] = {}
    for k in kept:
        for name, seconds in k["stages"].items():
            stages[name] = stages.get(name, 0.0) + seconds
    stages = {name: round(v, 2) for name, v in stages.items()}
    stages["other"] = round(wall - sum(stages.values()), 2)
    token_counts = []
    if hasattr(emb, "tokenizer"):  # the local model: tokens the model saw per chunk (truncated at 256)
        token_counts = [int(np.sum(e.attention_mask)) for e in emb.tokenizer.encode_batch(timer.embedded_texts)]
    statuses = sorted({k["job"].status for k in kept})
    return {
        "documents": per_job * jobs,
        "jobs": jobs,
        "job_attempts": attempts,
        "bytes": sum(k["bytes"] for k in kept),
        "status": statuses[0] if len(statuses) == 1 else "/".join(statuses),
        "job_errors": [e for k in kept for e in k["job"].errors][:5],
        "documents_created": sum(k["job"].created for k in kept),
        "chunks_written": chunks,
        "chunks_added_to_table": chunk_count() - before,
        "wall_s": round(wall, 2),
        "per_job_chunks_per_s": [round(k["job"].chunks_written / k["wall"], 1) for k in kept],
        "chunks_per_s": round(chunks / wall, 1),
        "documents_per_s": round(per_job * jobs / wall, 1),
        "stage_seconds": stages,
        "embed_only_chunks_per_s": round(chunks / stages.get("embed", math.inf), 1),
        "mean_tokens_per_chunk_embedded": round(statistics.mean(token_counts), 1) if token_counts else None,
        "embed_batch_size_setting": getattr(emb, "batch_size", None),
        "_texts": timer.embedded_texts,
    }


def embedding_batch_sweep(texts: list[str], gate: QuietGate, sizes=(1, 4, 8, 32)) -> dict:
    """Embedding throughput of the same chunk texts at several batch sizes (diagnostic)."""
    from kb.embeddings import embedder

    emb = embedder()
    if not hasattr(emb, "batch_size"):
        return {}
    original = emb.batch_size
    out = {}

    def rate() -> float:
        def once() -> float:
            started = time.perf_counter()
            emb.embed(texts)
            return round(len(texts) / (time.perf_counter() - started), 1)

        return gate.run(once)

    try:
        emb.embed(texts[:16])
        for bs in sizes:
            emb.batch_size = bs
            out[f"batch {bs}"] = rate()
        # What-ifs for the ONNX Runtime session (not the app's configuration): one intra-op thread, and two
        # threads without spin-waiting. Spinning threads lose badly when Postgres or anything else wants a core.
        session = getattr(emb, "session", None)
        if session is not None:
            import onnxruntime

            model_path = session._model_path if hasattr(session, "_model_path") else None
            if model_path:
                emb.batch_size = 8
                for label, threads, spin in (("batch 8, 1 thread", 1, "1"), ("batch 8, no spinning", 0, "0")):
                    options = onnxruntime.SessionOptions()
                    if threads:
                        options.intra_op_num_threads = threads
                    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
                    emb.session = onnxruntime.InferenceSession(
                        model_path, sess_options=options, providers=["CPUExecutionProvider"]
                    )
                    emb.embed(texts[:16])
                    out[label] = rate()
                emb.session = session
    finally:
        emb.batch_size = original
        if getattr(emb, "session", None) is not session and session is not None:
            emb.session = session
    return out


# --- report -----------------------------------------------------------------------------------------------
def print_report(result: dict) -> None:
    m = result["machine"]
    log("\n" + "=" * 100)
    log(f"Supportbot knowledge-base benchmark — {m['date']}")
    log(f"{m['cpu_model']} · {m['nproc']} CPUs · {m['memory_gb']} GB · Python {m['python']} · "
        f"Postgres {m['postgres']} · pgvector {m['pgvector']} · onnxruntime {m['onnxruntime']}")  # fmt: skip
    log("=" * 100)
    emb = result["query_embedding"]
    log(f"Query embedding alone (local int8 MiniLM, 1 text): {fmt_stats(emb)}")
    log("")
    header = f"{'chunks':>8} | {'mode':<8} | {'e2e p50':>8} {'e2e p95':>8} | {'db p50':>7} {'db p95':>7} | notes"
    log("Search latency, kb.search(query, k=5, mode=...), ms (e2e = with query embedding; db = embedding precomputed)")
    log(header)
    log("-" * len(header))
    for size in result["sizes"]:
        lat = size["latency"]
        for mode in MODES:
            e2e, db = lat[f"{mode}_e2e"], lat[f"{mode}_db"]
            empty = lat.get("empty_results", {}).get(mode, 0)
            note = "no embedding" if mode == "keyword" else ""
            if empty:
                note = f"{note}{'; ' if note else ''}{empty}/{e2e['n']} queries returned nothing"
            log(f"{size['chunks']:>8} | {mode:<8} | {e2e['p50']:8.2f} {e2e['p95']:8.2f} | {db['p50']:7.2f} "
                f"{db['p95']:7.2f} | {note}")  # fmt: skip
    log("")
    log("HNSW recall@10 vs exact search (held-out query vectors; * = app setting, ! = planner chose a seq scan)")
    header = (
        f"{'chunks':>8} | {'ef_search':>9} | {'recall@10':>9} | {'min':>5} | {'<0.9':>5} | "
        f"{'k-NN p50 ms':>11} | {'p95 ms':>7}"
    )
    log(header)
    log("-" * len(header))
    for size in result["sizes"]:
        rec = size["recall"]
        for ef, row in rec["by_ef_search"].items():
            star = "*" if int(ef) == rec["app_ef_search"] else (" " if row["index_used"] else "!")
            lat = row["latency_ms"]
            log(f"{size['chunks']:>8} | {ef:>8}{star} | {row['recall_at_10']:9.4f} | {row['min_query_recall']:5.2f} | "
                f"{row['queries_below_0.9']:5d} | {lat['p50']:11.2f} | {lat['p95']:7.2f}")  # fmt: skip
        log(f"{'':>8} | {'exact':>9} | {'1.0000':>9} | {'':>5} | {'':>5} | "
            f"{rec['exact_latency_ms']['p50']:11.2f} | {rec['exact_latency_ms']['p95']:7.2f}")  # fmt: skip
    ing = result.get("ingestion")
    if ing:
        log("")
        log(f"Ingestion ({ing['jobs']} × job_create + job_run, {ing['documents']} Markdown docs, "
            f"{ing['bytes'] / 1e6:.1f} MB, into "
            f"{ing['kb_chunks_before']:,} existing chunks): {ing['chunks_written']} chunks in {ing['wall_s']} s "
            f"= {ing['chunks_per_s']} chunks/s ({ing['documents_per_s']} docs/s), status {ing['status']}")  # fmt: skip
        stages = ", ".join(f"{k} {v} s" for k, v in ing["stage_seconds"].items())
        log(f"  stages: {stages}; embedding alone {ing['embed_only_chunks_per_s']} chunks/s, "
            f"{ing['mean_tokens_per_chunk_embedded']} tokens/chunk on average")  # fmt: skip
        if ing.get("embed_batch_sweep"):
            sweep = ", ".join(f"{k}: {v}/s" for k, v in ing["embed_batch_sweep"].items())
            log(f"  embedding throughput, same {ing['sweep_texts']} chunk texts (KB_EMBEDDING_BATCH_SIZE="
                f"{ing['embed_batch_size_setting']}): {sweep}")  # fmt: skip
    diag = result.get("diagnostics")
    if diag:
        log("")
        log(f"Diagnostics at {result['sizes'][-1]['chunks']:,} chunks:")
        km = diag["keyword_matches"]
        log(f"  chunks sharing at least one lexeme with the question: median {km['median']:,}, p95 {km['p95']:,}, "
            f"max {km['max']:,} ({km['median_share']:.1%} of chunks at the median)")  # fmt: skip
        for label in ("explain_median_query", "explain_slowest_query"):
            e = diag[label]
            log(f"  EXPLAIN ANALYZE ({label.split('_', 1)[1].replace('_', ' ')}): execution {e['execution_ms']} ms, "
                f"planning {e['planning_ms']} ms, HNSW index used: {e['hnsw_index_used']} ({e['hnsw_scan_ms']} ms), "
                f"keyword: {e['keyword_matches']} matches, scan {e['keyword_scan_ms']} ms, "
                f"rank+top-N {e['keyword_rank_and_sort_ms']} ms")  # fmt: skip
        fc = diag["fresh_connection"]
        log(f"  hybrid search on a new DB connection: p50 {fc['hybrid_on_new_connection']['p50']} ms vs "
            f"{fc['hybrid_same_query_reused_connection']['p50']} ms reused")  # fmt: skip
        sizes = ", ".join(f"{k} {v['pretty']}" for k, v in diag["relation_sizes"].items())
        log(f"  sizes: {sizes}")
    g = result.get("quiet_gate")
    if g:
        log("")
        log(f"Shared machine: {g['reruns']} timing groups were re-measured because other processes used more "
            f"than {g['threshold']:.0%} of the CPUs ({g['waited_s']} s waited); kept groups: mean "
            f"{g['kept_share_mean']:.0%}, max {g['kept_share_max']:.0%} of the CPUs used by others")  # fmt: skip
    busy = {k: v for k, v in result.get("other_processes_cpu_share", {}).items() if v > 0.05}
    if busy:
        log("")
        log("Other processes' CPU share per phase (whole phase, including any waiting for quiet): "
            + ", ".join(f"{k} {v:.0%}" for k, v in busy.items()))  # fmt: skip
    log("")
    log("Targets")
    for t in result["targets"]:
        log(f"  {t['name']:<48} target {t['target']:<10} measured {t['measured']!s:<10} {t['verdict']}")
    log(f"\nRun time {result['run_seconds']:.0f} s, of which {result['measuring_seconds']:.0f} s measuring "
        f"(the rest waiting for the machine to be quiet)")  # fmt: skip


def main() -> None:
    args = parse_args()
    run_started = time.perf_counter()
    log("$ " + shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]))
    data_dir = prepare_environment(args)
    log(f"data directory: {data_dir} (separate embedded Postgres; wiped at start)")
    meter = CpuMeter(data_dir)
    gate = QuietGate(meter, threshold=args.quiet_threshold, budget_s=args.quiet_budget)
    waited = time.perf_counter()
    idle_share = wait_for_idle(meter, args.wait_idle)
    waited = time.perf_counter() - waited

    import django

    django.setup()
    from django.core.management import call_command

    # kb first: its first migration creates the pgvector extension other apps' vector columns need.
    call_command("migrate", "kb", verbosity=0)
    call_command("migrate", verbosity=0)
    import kb  # noqa: F401
    from kb.embeddings import embed_query, embedder

    result: dict = {"command": shlex.join(["bench/run.py", *sys.argv[1:]]), "machine": machine_info()}
    result["machine"]["other_processes_cpu_share_before_start"] = idle_share
    disturbance: dict[str, float] = {}
    result["other_processes_cpu_share"] = disturbance
    result["targets_definition"] = TARGETS
    corpus, space = Corpus(), VectorSpace(**VECTOR_PROFILES[args.vector_profile])
    result["vector_profile"] = {"name": args.vector_profile, **VECTOR_PROFILES[args.vector_profile]}
    rng = np.random.default_rng(args.seed)
    text_queries = [q for _, q in corpus.queries(args.queries, rng)]
    recall_vectors, _ = space.queries(args.queries, rng)
    from pgvector import Vector

    recall_texts = [Vector(v.tolist()).to_text() for v in recall_vectors]

    log("loading the embedding model and embedding the queries ...")
    started = time.perf_counter()
    embedder()
    embed_query("warm-up")
    result["model_load_s"] = round(time.perf_counter() - started, 2)
    for q in text_queries[:20]:
        embed_query(q)
    vectors = {q: embed_query(q) for q in text_queries}
    phase = meter.snapshot()
    result["query_embedding"] = stats_ms(time_embeddings(text_queries, embed_query, gate))
    disturbance["query_embedding"] = meter.others_share(phase)
    log(f"  query embedding: {fmt_stats(result['query_embedding'])}")

    result["sizes"] = []
    docs_so_far = 0
    for size in args.sizes:
        log(f"\n--- {size:,} chunks ---")
        started = time.perf_counter()
        load = load_synthetic(size, corpus, space, args.seed, total_docs_before=docs_so_far)
        docs_so_far += load.get("added_documents", 0)
        load["total_s"] = round(time.perf_counter() - started, 2)
        log(f"  bulk load: {load}")
        entry = {"chunks": chunk_count(), "load": load}
        log("  recall@10 (exact search for every query vector, then HNSW at several ef_search) ...")
        phase = meter.snapshot()
        entry["recall"] = measure_recall(recall_texts)
        disturbance[f"recall_{size}"] = meter.others_share(phase)
        log(f"  recall@10 at the app's ef_search={entry['recall']['app_ef_search']}: {entry['recall']['recall_at_10']}")
        log("  search latency ...")
        phase = meter.snapshot()
        entry["latency"] = measure_latency(text_queries, vectors, args.warmup, gate)
        disturbance[f"latency_{size}"] = entry["latency"]["other_processes_cpu_share"] = meter.others_share(phase)
        for mode in MODES:
            log(f"  {mode:<8} e2e {fmt_stats(entry['latency'][f'{mode}_e2e'])}")
        log(f"  hybrid   db  {fmt_stats(entry['latency']['hybrid_db'])}")
        result["sizes"].append(entry)

    largest = result["sizes"][-1]
    log(f"\n--- diagnostics at {largest['chunks']:,} chunks ---")
    raw = largest["latency"]["_raw_hybrid_e2e_ms"]
    order = np.argsort(raw)
    median_q, slowest_q = text_queries[int(order[len(order) // 2])], text_queries[int(order[-1])]
    counts = keyword_match_counts(text_queries)
    diag = {
        "keyword_matches": {
            "median": int(np.median(counts)),
            "p95": int(np.percentile(counts, 95)),
            "max": int(max(counts)),
            "median_share": float(np.median(counts)) / largest["chunks"],
            "corr_with_keyword_latency": round(
                float(np.corrcoef(counts, largest["latency"]["_raw_keyword_ms"])[0, 1]), 3
            ),
        },
        "explain_median_query": explain_hybrid(median_q),
        "explain_slowest_query": explain_hybrid(slowest_q),
        "fresh_connection": fresh_connection_cost(text_queries),
        "relation_sizes": relation_sizes(),
    }
    result["diagnostics"] = diag
    log(diag["explain_slowest_query"]["text"])

    log("\n--- ingestion ---")
    before = chunk_count()
    phase = meter.snapshot()
    # Under uploads/: ingestion refuses the rest of the data directory (kb.targets, issue #13).
    ingestion = measure_ingestion(data_dir / "uploads" / "ingest-docs", corpus, args.ingest_docs, args.seed + 1, gate)
    disturbance["ingestion"] = ingestion["other_processes_cpu_share"] = meter.others_share(phase)
    ingestion["kb_chunks_before"] = before
    texts = ingestion.pop("_texts")
    sweep_texts = texts[:: max(1, len(texts) // 128)][:128]
    log(f"  {ingestion['chunks_written']} chunks in {ingestion['wall_s']} s; embedding batch-size sweep ...")
    ingestion["embed_batch_sweep"] = embedding_batch_sweep(sweep_texts, gate)
    ingestion["sweep_texts"] = len(sweep_texts)
    result["ingestion"] = ingestion

    hybrid_p95 = largest["latency"]["hybrid_e2e"]["p95"]
    recall = largest["recall"]["recall_at_10"]
    at = f"at {largest['chunks']:,} chunks"
    full = largest["chunks"] >= 100_000
    result["targets"] = [
        {"name": f"hybrid search p95 (e2e, ms) {at}", "target": f"<= {TARGETS['hybrid_p95_ms']:g}",
         "measured": hybrid_p95, "verdict": verdict(hybrid_p95 <= TARGETS["hybrid_p95_ms"] if full else None)},
        {"name": f"HNSW recall@10 {at}", "target": f">= {TARGETS['recall_at_10']:g}", "measured": recall,
         "verdict": verdict(recall >= TARGETS["recall_at_10"] if full else None)},
        {"name": "ingestion throughput (chunks/s)", "target": f">= {TARGETS['ingest_chunks_per_s']:g}",
         "measured": ingestion["chunks_per_s"],
         "verdict": verdict(ingestion["chunks_per_s"] >= TARGETS["ingest_chunks_per_s"])},
    ]  # fmt: skip
    if not full:
        log("note: the latency and recall targets are defined at 100,000 chunks; reported as n/a below that")
    result["quiet_gate"] = gate.summary()
    result["run_seconds"] = round(time.perf_counter() - run_started - waited, 1)
    result["waited_for_idle_seconds"] = round(waited, 1)
    result["measuring_seconds"] = round(result["run_seconds"] - gate.waited, 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    out = Path(args.json_out)
    out = out if out.is_absolute() else ROOT / out
    out.parent.mkdir(parents=True, exist_ok=True)
    for entry in result["sizes"]:
        entry["latency"].pop("_raw_hybrid_e2e_ms", None)
        entry["latency"].pop("_raw_keyword_ms", None)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_report(result)
    log(f"JSON written to {out}")
    log(f"The benchmark database stays in {data_dir} (its server stops with this process; the next run wipes it).")


if __name__ == "__main__":
    main()
