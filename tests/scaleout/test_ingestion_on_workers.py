"""(b) Ingestion started on server A runs on a Celery worker, and server B's console shows its progress.
(c) A worker killed with SIGKILL halfway: after a restart the job finishes, each document indexed exactly once."""

from __future__ import annotations

import time

from tests.scaleout.clients import Console, help_articles
from tests.scaleout.cluster import wait_for


def _stored(cluster, job_id: int) -> dict:
    (total, processed, created, updated, unchanged, failed, written, status) = cluster.app.sql(
        "SELECT total, processed, created, updated, unchanged, failed, chunks_written, status "
        "FROM kb_ingestionjob WHERE id = %s",
        (job_id,),
    )[0]
    return dict(total=total, processed=processed, created=created, updated=updated, unchanged=unchanged,
                failed=failed, chunks_written=written, status=status)  # fmt: skip


def _chunks_of(cluster, prefix: str) -> dict:
    docs, chunk_rows, distinct_positions, declared = cluster.app.sql(
        "SELECT count(DISTINCT d.id), count(c.id), count(DISTINCT (c.document_id, c.position)), "
        "(SELECT coalesce(sum(chunk_count), 0) FROM kb_document WHERE uri LIKE %s) "
        "FROM kb_document d JOIN kb_chunk c ON c.document_id = d.id WHERE d.uri LIKE %s",
        (f"%/{prefix}%", f"%/{prefix}%"),
    )[0]
    return dict(documents=docs, chunks=chunk_rows, distinct_positions=distinct_positions, declared=declared)


def test_a_job_started_on_a_runs_on_the_worker_and_its_progress_shows_on_b(cluster):
    # given the console of server A and of server B
    on_a = Console(cluster.a.http, session_key=cluster.session_key)
    on_b = Console(cluster.b.http, session_key=cluster.session_key)

    # when an admin uploads 30 documents on A
    job_id = on_a.upload({f"b-{name}": text for name, text in help_articles(30).items()})

    # then B's job list follows the job from queued or running to succeeded, with progress in between
    seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        row = on_b.job(job_id)
        seen.append((row["status"], row["processed"], row["total"]))
        if row["finished"]:
            break
        time.sleep(0.05)
    assert seen[-1] == ("succeeded", 30, 30), seen[-5:]
    assert any(status == "running" and 0 < done < 30 for status, done, _ in seen), sorted(set(seen))
    # and the worker did the work (the servers only queued it)
    assert "kb.tasks.ingestion_job_task[" in cluster.worker.output()
    assert _chunks_of(cluster, "b-scaleout")["documents"] == 30


def test_a_worker_killed_halfway_leaves_a_job_the_restarted_worker_finishes_exactly_once(cluster):
    # given a job of 40 documents running on the worker
    on_a = Console(cluster.a.http, session_key=cluster.session_key)
    job_id = on_a.upload({f"c-{name}": text for name, text in help_articles(40).items()})
    wait_for(lambda: _stored(cluster, job_id)["processed"] >= 5, timeout=60, what="the job to be under way")

    # when the worker is killed with SIGKILL halfway through
    cluster.worker.kill()
    halfway = _stored(cluster, job_id)
    assert halfway["status"] == "running" and 5 <= halfway["processed"] < 40, halfway

    # and a new worker starts (the task comes back once its visibility timeout has passed)
    worker = cluster.worker_restart()
    wait_for(lambda: _stored(cluster, job_id)["status"] != "running", timeout=90, what="the job to finish")

    # then the job finished, and counted every document once: none twice, none skipped
    done = _stored(cluster, job_id)
    assert done == {**done, "status": "succeeded", "total": 40, "processed": 40, "created": 40, "updated": 0,
                    "unchanged": 0, "failed": 0}  # fmt: skip
    assert "resuming ingestion job" in worker.output()
    # and every document is indexed once, with its chunks written once
    stored = _chunks_of(cluster, "c-scaleout")
    assert stored["documents"] == 40
    assert stored["chunks"] == stored["distinct_positions"] == stored["declared"] == done["chunks_written"]
