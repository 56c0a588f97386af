"""Evaluation runs: retrieval and answers measured on an eval set, stored as an EvalRun to compare later."""

from __future__ import annotations

import secrets
from pathlib import Path

from asgiref.sync import async_to_sync
from django.conf import settings

from kb.embeddings import embedder
from kb.models import Document
from kb.services import kb_state
from supportbot.answering.prompts import PROMPT_VERSION
from supportbot.evaluation.answers import Progress, answers_collect
from supportbot.evaluation.cases import EvalCase, EvalFileError
from supportbot.evaluation.judge import judge_prompts_version
from supportbot.evaluation.models import EvalRun
from supportbot.evaluation.retrieval import retrieval_cases_evaluate
from supportbot.evaluation.summary import answers_summarize
from supportbot.llm import llm_configured

ANSWER_CHOICES = ("auto", "all", "none")


class EvalRunNotFound(LookupError):
    pass


def answers_select(cases: list[EvalCase], *, answers: str, limit: int | None) -> list[tuple[int, EvalCase]]:
    """The (index, case) pairs to answer: "auto" answers questions with a reference, "all" every question,
    "none" none; unanswerable questions are answered unless "none". `limit` keeps that many answerable
    questions, spread evenly through the file so every part of it is represented."""
    if answers not in ANSWER_CHOICES:
        raise ValueError(f"answers must be one of {', '.join(ANSWER_CHOICES)}")
    if answers == "none":
        return []
    chosen = [(i, c) for i, c in enumerate(cases) if not c.unanswerable and (answers == "all" or c.reference)]
    if limit is not None and limit < len(chosen):
        chosen = [chosen[j * len(chosen) // limit] for j in range(limit)]
    return sorted(chosen + [(i, c) for i, c in enumerate(cases) if c.unanswerable], key=lambda pair: pair[0])


def settings_snapshot(*, k: int, **options) -> dict:
    """What the numbers of a run depend on, stored with it."""
    return {
        "k": k,
        "embedding": {
            "backend": settings.KB_EMBEDDING_BACKEND,
            "model": embedder().model_name,
            "dimensions": settings.KB_EMBEDDING_DIMENSIONS,
        },
        "llm_model": settings.LLM_MODEL if llm_configured() else "offline",
        "search": {
            "candidates": settings.KB_SEARCH_CANDIDATES,
            "rrf_k": settings.KB_RRF_K,
            "keyword_rescore": settings.KB_KEYWORD_RESCORE,
            "hnsw_ef_search": settings.KB_HNSW_EF_SEARCH,
            "text_search_config": settings.KB_TEXT_SEARCH_CONFIG,
        },
        "chunking": {"tokens": settings.KB_CHUNK_TOKENS, "overlap": settings.KB_CHUNK_OVERLAP_TOKENS},
        "chat": {
            "context_chunks": settings.CHAT_CONTEXT_CHUNKS,
            "answerable_threshold": settings.CHAT_ANSWERABLE_THRESHOLD,
            "confidence_high": settings.CHAT_CONFIDENCE_HIGH,
            "confidence_low": settings.CHAT_CONFIDENCE_LOW,
        },
        "prompt_version": PROMPT_VERSION,
        "judge_prompts": judge_prompts_version(),
        **options,
    }


def evaluation_run(
    *,
    cases: list[EvalCase],
    source: str,
    k: int = 5,
    answers: str = "auto",
    limit: int | None = None,
    judge_samples: int = 1,
    on_progress: Progress | None = None,
) -> EvalRun:
    """Measure retrieval on every question with a source_doc and answers on those `answers_select` picks, and
    store the run. Answers go through the whole chat pipeline, on the evaluation widget."""
    if not cases:
        raise EvalFileError("the eval file has no questions")
    snapshot = settings_snapshot(k=k, answers=answers, limit=limit, judge_samples=judge_samples)
    version, documents = kb_state().version, Document.objects.count()
    metrics: dict = {"n": 0, "k": k, "modes": {}, "documents": {}}
    retrieval: list[dict] = []
    if any(not case.unanswerable for case in cases):
        metrics, retrieval = retrieval_cases_evaluate(cases, k=k)
    selected = answers_select(cases, answers=answers, limit=limit)
    records = []
    if selected:
        run_tag = f"eval-{secrets.token_hex(4)}"
        collect = async_to_sync(answers_collect)
        records = collect(cases=selected, run_tag=run_tag, judge_samples=judge_samples, on_progress=on_progress)
    metrics |= answers_summarize(records, judged=judge_samples > 0)
    return EvalRun.objects.create(
        source=source,
        settings_snapshot=snapshot,
        kb_version=version,
        document_count=documents,
        metrics=metrics,
        cases=_case_results(cases, retrieval, records),
    )


def _case_results(cases: list[EvalCase], retrieval: list[dict], records: list[dict]) -> list[dict]:
    answerable = [i for i, case in enumerate(cases) if not case.unanswerable]
    # The question, page and section are kept once per case, not again in its retrieval and answer records.
    by_index = {
        i: _without(record, "question", "source_doc", "section")
        for i, record in zip(answerable, retrieval, strict=True)
    }
    answered = {record["index"]: _without(record, "index") for record in records}
    return [
        {
            "index": i,
            "question": case.question,
            "source_doc": case.source_doc,
            "section": case.section,
            "reference": case.reference,
            "unanswerable": case.unanswerable,
            "retrieval": by_index.get(i),
            "answer": answered.get(i),
        }
        for i, case in enumerate(cases)
    ]


def _without(record: dict, *keys: str) -> dict:
    return {key: value for key, value in record.items() if key not in keys}


def eval_run_find(reference: str) -> EvalRun:
    """A stored run by id, or "last" for the latest one."""
    runs = EvalRun.objects.order_by("-created_at", "-pk")
    run = (
        runs.first() if reference == "last" else runs.filter(pk=int(reference)).first() if reference.isdigit() else None
    )
    if run is None:
        raise EvalRunNotFound(f"no stored evaluation run {reference!r} (give a run id, or last)")
    return run


def report_write(
    *, run: EvalRun, path: Path, comparison: list[dict] | None = None, baseline: EvalRun | None = None
) -> None:
    """The run's HTML report, one self-contained file."""
    from supportbot.evaluation.report import report_render

    path.write_text(report_render(run=run, comparison=comparison, baseline=baseline), encoding="utf-8")
