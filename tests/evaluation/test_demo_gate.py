"""The demo knowledge base's eval set as a regression gate (offline answerer), and its HTML report in Chromium.

One evaluation serves every test here: ingesting the demo help centre and answering takes most of a minute.
It runs with the database unblocked for the module, so what it writes is committed, and flushed at the end.
"""

from __future__ import annotations

import json
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from playwright.sync_api import sync_playwright

from kb import services as kb_services
from supportbot.chat.models import CachedAnswer, Conversation
from supportbot.evaluation.models import EvalRun
from tests.evaluation.conftest import DEMO

ANSWERED = 10  # of the 70 questions, spread through the file; plus the 12 unanswerable ones
# Floors the offline pipeline meets with margin (measured on the full set: hit@5 0.957, groundedness 1.0,
# cited the right page 0.829, escalation accuracy 0.667; see docs/evaluation.md).
GATE = {
    "hybrid.hit@5": 0.9,
    "answers.groundedness": 0.8,
    # Issue #18: declined answerable questions now count as not citing their page. Full set: 0.729 (15 of 70
    # declined, 51 of the 55 answered cite the right page); these 10 questions: 0.5. Raise it with the reranker.
    "answers.cited_source_rate": 0.5,
    "unanswerable.escalation_accuracy": 0.9,
    # Issue #18: unanswerable questions declined, and the confidence shown separating them from answerable ones.
    "answerability.unanswerable_declined_rate": 0.9,
    "answerability.auroc": 0.9,
}
# The product's default (supportbot/settings.py), fitted on this demo set; tests/conftest.py lowers it for the
# five-page fixture help centre the other tests use.
PRODUCT_ANSWERABLE_THRESHOLD = 0.5
# Every test here is marked alike, so pytest-django keeps them together and the module's evaluation runs once.
pytestmark = pytest.mark.django_db
PLOTS = ("ranks", "document-hits", "groundedness", "citation-precision", "confidence", "reliability", "latency")


@pytest.fixture(scope="module")
def demo_run(django_db_setup, django_db_blocker, tmp_path_factory):
    report = tmp_path_factory.mktemp("evaluation") / "report.html"
    floors = [arg for name, floor in GATE.items() for arg in ("--fail-under", f"{name}={floor}")]
    out, failure = StringIO(), None
    with (
        django_db_blocker.unblock(),
        override_settings(
            OPENAI_API_KEY="", OPENAI_BASE_URL=None, CHAT_ANSWERABLE_THRESHOLD=PRODUCT_ANSWERABLE_THRESHOLD
        ),
    ):
        job = kb_services.job_run(job_id=kb_services.job_create(targets=[str(DEMO / "docs")]).pk)
        assert job.status == "succeeded", job.errors
        try:
            call_command(
                "evaluate",
                str(DEMO / "eval.jsonl"),
                *("--unanswerable", str(DEMO / "unanswerable.jsonl"), "--answers", "all"),
                *("--limit", str(ANSWERED), "--json", "--html", str(report), *floors),
                stdout=out,
                stderr=StringIO(),
            )
        except CommandError as exc:
            failure = str(exc)
        yield {"report": json.loads(out.getvalue()), "failure": failure, "html": report}
        call_command("flush", interactive=False, verbosity=0)


def test_the_demo_eval_set_passes_its_gate(demo_run):
    # given / when: the evaluation above, with its floors
    report = demo_run["report"]
    # then
    assert demo_run["failure"] is None
    assert report["n"] == 70 and report["k"] == 5
    assert report["modes"]["hybrid"]["hit@5"] >= GATE["hybrid.hit@5"]
    assert len(report["documents"]) == 20 and all(d["hybrid"]["hit@5"] >= 0 for d in report["documents"].values())
    answers = report["answers"]
    assert answers["n"] == ANSWERED and answers["errors"] == 0
    assert answers["groundedness"] >= GATE["answers.groundedness"]
    assert answers["judge_faithfulness"] is None and "no LLM configured" in answers["judge_note"]
    assert report["unanswerable"]["n"] == 12
    assert report["unanswerable"]["escalation_accuracy"] >= GATE["unanswerable.escalation_accuracy"]
    answerability = report["answerability"]
    assert (answerability["n_answerable"], answerability["n_unanswerable"]) == (ANSWERED, 12)
    assert answerability["auroc"] >= GATE["answerability.auroc"]
    assert answerability["unanswerable_declined_rate"] >= GATE["answerability.unanswerable_declined_rate"]
    assert set(report["latency"]) == {"retrieve_ms", "generate_ms", "total_ms"}
    assert report["calibration"]["n"] == ANSWERED + 12 and len(report["calibration"]["bins"]) == 10


def test_the_run_is_stored_and_leaves_no_conversation_behind(demo_run):
    # when
    run = EvalRun.objects.get(pk=demo_run["report"]["run_id"])
    # then: what the numbers depend on is kept with them
    snapshot = run.settings_snapshot
    assert snapshot["llm_model"] == "offline" and snapshot["embedding"]["model"] == "all-MiniLM-L6-v2"
    assert snapshot["k"] == 5 and snapshot["search"]["rrf_k"] and snapshot["judge_prompts"]
    assert run.document_count == 20 and run.kb_version >= 1
    assert run.source.endswith("eval.jsonl + " + str(DEMO / "unanswerable.jsonl"))
    assert len(run.cases) == 82 and sum(1 for c in run.cases if c["answer"]) == ANSWERED + 12
    assert all(c["retrieval"] for c in run.cases if not c["unanswerable"])
    # and the evaluation widget keeps no conversation and no cached answer
    assert not Conversation.objects.filter(widget__key="eval").exists()
    assert not CachedAnswer.objects.filter(widget__key="eval").exists()


def test_the_html_report_renders_its_plots_in_chromium(demo_run, browser_type_launch_args, artifacts):
    # given: the report file, and a browser that may fetch nothing
    shutil.copy(demo_run["html"], artifacts / "evaluation-report.html")
    fetched = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**browser_type_launch_args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: fetched.append(request.url))
        # when
        page.goto(demo_run["html"].as_uri())
        # then: every plot is drawn, with data on its marks
        for name in PLOTS:
            plot = page.locator(f'svg.plot[data-plot="{name}"]')
            assert plot.count() == 1, name
            assert plot.locator("[data-value]").count() >= 1, name
            assert plot.bounding_box()["width"] > 200, name
        bars = page.locator('svg[data-plot="document-hits"] rect[data-value]')
        assert bars.count() == 40  # hit@1 and hit@5 for each of the 20 documents
        assert page.locator(".card").first.inner_text().strip()
        # and the worst cases list the chunks retrieved for them
        worst = page.locator("article.worst-retrieval")
        assert worst.count() >= 1 and worst.first.locator(".chunks li").count() == 5
        page.set_viewport_size({"width": 1280, "height": 1500})
        page.screenshot(path=artifacts / "evaluation-report.png")
        browser.close()
    assert fetched == [demo_run["html"].as_uri()]
