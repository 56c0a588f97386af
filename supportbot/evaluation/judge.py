"""LLM-as-judge in the G-Eval style (Liu et al., 2023): a rubric with evaluation steps for one criterion, a
form that ends with "Score: N" on a 1–5 scale, the score parsed from the reply and averaged.

The prompts are files beside this module (prompts/judge_<criterion>.md) so a change to them shows in review
and in every run's settings snapshot (their hash). The judge is the configured chat model, called through the
one LLM boundary (supportbot.llm); with no model configured the judge scores are None and the run says why.
G-Eval weighs each score by its token probability; OpenAI-compatible endpoints don't all return those, so
several samples (`samples`) are averaged instead.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from supportbot.llm import LLMError, chat_complete, llm_configured

PROMPTS = Path(__file__).parent / "prompts"
CRITERIA = ("faithfulness", "relevancy")
JUDGE_MAX_TOKENS = 300
NO_LLM_NOTE = "no LLM configured (OPENAI_API_KEY or OPENAI_BASE_URL): the judge metrics were not computed"
_SCORE = re.compile(r"score\s*(?:\(\s*1\s*[-–]\s*5\s*\))?\s*[*_]*\s*[:=]\s*[*_]*\s*([1-5])\b", re.IGNORECASE)


@functools.cache
def judge_prompt(criterion: str) -> str:
    return (PROMPTS / f"judge_{criterion}.md").read_text(encoding="utf-8")


def judge_prompts_version() -> str:
    """A short hash of the judge prompts, recorded with every run."""
    digest = hashlib.sha256("".join(judge_prompt(c) for c in CRITERIA).encode())
    return digest.hexdigest()[:12]


def judge_messages(criterion: str, *, question: str, answer: str, contexts: list[str]) -> list[dict]:
    passages = "\n\n".join(f"[{n}] {text}" for n, text in enumerate(contexts, start=1))
    prompt = judge_prompt(criterion).format(
        question=question, contexts=passages or "(no passages were found)", answer=answer
    )
    return [{"role": "user", "content": prompt}]


def judge_score_parse(reply: str) -> int | None:
    """The 1–5 score of a judge's reply: the last "Score: N", or a reply that is only the number."""
    found = _SCORE.findall(reply)
    if found:
        return int(found[-1])
    stripped = reply.strip().rstrip(".")
    return int(stripped) if stripped in {"1", "2", "3", "4", "5"} else None


async def answer_judge(*, question: str, answer: str, contexts: list[str], samples: int = 1) -> dict:
    """{"faithfulness": mean score or None, "relevancy": ..., "notes": [why a score is missing]}."""
    if not llm_configured():
        return {criterion: None for criterion in CRITERIA} | {"notes": [NO_LLM_NOTE]}
    verdict: dict = {"notes": []}
    for criterion in CRITERIA:
        messages = judge_messages(criterion, question=question, answer=answer, contexts=contexts)
        scores = []
        for _ in range(samples):
            try:
                score = judge_score_parse(await chat_complete(messages, max_tokens=JUDGE_MAX_TOKENS))
            except LLMError as exc:
                verdict["notes"].append(f"{criterion}: {exc.code}")
                continue
            if score is None:
                verdict["notes"].append(f"{criterion}: no score in the reply")
            else:
                scores.append(score)
        verdict[criterion] = round(sum(scores) / len(scores), 3) if scores else None
    return verdict
