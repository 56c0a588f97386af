"""Stored runs compared (`evaluate --compare`), and floors that fail the command (`--fail-under`)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from supportbot.evaluation.comparison import runs_compare
from supportbot.evaluation.models import EvalRun
from tests.evaluation.conftest import HYBRID_EVAL

pytestmark = pytest.mark.django_db


def _evaluate(*args: str, stdout: StringIO | None = None) -> dict:
    out = stdout or StringIO()
    call_command("evaluate", str(HYBRID_EVAL), "--answers", "none", *args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_compare_shows_a_regression_when_retrieval_is_weakened_and_the_gate_fails(knowledge, tmp_path):
    # given: a baseline run, with retrieval as configured, that meets its floor
    gate = ("--fail-under", "hybrid.mrr=0.93")
    baseline = _evaluate("--k", "5", "--json", *gate)
    # when: the same set with retrieval cut to its single best chunk, against the baseline
    out, report = StringIO(), tmp_path / "report.html"
    with pytest.raises(CommandError, match=r"below the floor: hybrid\.mrr = [\d.]+ is below its floor 0\.93"):
        _evaluate("--k", "1", "--json", "--html", str(report), "--compare", str(baseline["run_id"]), *gate, stdout=out)
    # then: the comparison was printed before the gate failed
    rows = {row["metric"]: row for row in json.loads(out.getvalue())["comparison"]}
    weakened = rows["hybrid.mrr"]
    assert weakened["change"] == "regression" and weakened["delta"] < 0
    assert weakened["before"] == baseline["modes"]["hybrid"]["mrr"]
    assert weakened["after"] == rows["hybrid.hit@1"]["after"]  # with one result, MRR is hit@1
    assert rows["hybrid.hit@1"]["change"] == ""  # the first result did not change
    assert rows["hybrid.hit@5"]["after"] is None and rows["hybrid.hit@5"]["change"] == "missing"
    # and the weakened run is stored, its report showing the regression
    assert EvalRun.objects.count() == 2
    html = report.read_text()
    assert f"Compared with run {baseline['run_id']}" in html
    assert '<tr class="regression"><td>hybrid.mrr</td>' in html


def test_compare_prints_a_readable_table_against_the_last_run(knowledge):
    # given
    _evaluate("--k", "5", "--json")
    out = StringIO()
    # when
    call_command("evaluate", str(HYBRID_EVAL), "--compare", "last", stdout=out, stderr=StringIO())
    # then: same settings, same knowledge base: nothing but timings may move
    lines = out.getvalue().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("metric"))
    assert lines[header].split() == ["metric", "before", "after", "delta", "change"]
    quality = [line for line in lines[header + 1 :] if "_ms" not in line]
    assert quality and not any(line.endswith(("regression", "improvement")) for line in quality)


@pytest.mark.parametrize(
    ("floor", "message"),
    [
        pytest.param("hybrid.hit@5=1.01", r"hybrid\.hit@5 = 1\.0 is below its floor 1\.01", id="below"),
        pytest.param("answers.groundedness=0.5", r"answers\.groundedness: no such metric", id="not-measured"),
        pytest.param("hybrid.hit@5", r"--fail-under takes METRIC=VALUE", id="malformed"),
        pytest.param("hybrid.hit@5=high", r"--fail-under takes METRIC=VALUE", id="not-a-number"),
    ],
)
def test_fail_under_exits_non_zero(knowledge, floor, message):
    with pytest.raises(CommandError, match=message):
        _evaluate("--fail-under", floor, "--json")


def test_a_run_that_meets_its_floors_passes(knowledge):
    report = _evaluate("--fail-under", "hybrid.hit@5=1.0", "--fail-under", "keyword.hit@1=0.1", "--json")
    assert report["modes"]["hybrid"]["hit@5"] == 1.0


def test_an_unknown_run_to_compare_with_is_refused(knowledge):
    with pytest.raises(CommandError, match="no stored evaluation run '999'"):
        _evaluate("--compare", "999")


@pytest.mark.parametrize(
    ("name", "before", "after", "change"),
    [
        pytest.param("hybrid.mrr", 0.9, 0.8, "regression", id="quality-down"),
        pytest.param("answers.groundedness", 0.8, 0.9, "improvement", id="quality-up"),
        pytest.param("hybrid.mrr", 0.9, 0.9004, "", id="rounding"),
        pytest.param("latency.total_ms.p95", 400.0, 900.0, "regression", id="slower"),
        pytest.param("hybrid.p50_ms", 40.0, 45.0, "", id="timing-noise"),
        pytest.param("calibration.ece", 0.2, 0.1, "improvement", id="lower-is-better"),
        pytest.param("answers.confidence", 0.7, 0.6, "", id="neutral"),
    ],
)
def test_changes_are_marked_in_the_direction_that_is_better(name, before, after, change):
    def metrics(value: float) -> dict:
        group, _, rest = name.partition(".")
        if group in ("hybrid",):
            return {"modes": {"hybrid": {rest: value}}}
        if group == "latency":
            stage, _, stat = rest.partition(".")
            return {"latency": {stage: {stat: value}}}
        if group == "calibration":
            return {"calibration": {"ece": value}}
        return {"answers": {rest: value}}

    rows = {row["metric"]: row for row in runs_compare(before=metrics(before), after=metrics(after))}
    assert rows[name]["change"] == change


def test_stored_runs_are_read_only_in_the_admin(knowledge, admin_client):
    # given
    run_id = _evaluate("--json")["run_id"]
    # when
    listing = admin_client.get("/admin/evaluation/evalrun/")
    detail = admin_client.get(f"/admin/evaluation/evalrun/{run_id}/change/")
    # then
    assert listing.status_code == 200 and str(HYBRID_EVAL) in listing.content.decode()
    assert detail.status_code == 200 and "hybrid" in detail.content.decode()
    assert admin_client.get("/admin/evaluation/evalrun/add/").status_code == 403
