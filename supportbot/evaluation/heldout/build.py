"""Rebuild the held-out corpora (en/docs, ko/docs) from pinned commits of public documentation repositories.

Not imported by the product: it documents exactly where every page came from and how it was normalised, so the
corpus can be rebuilt or extended. Each source is a bare git mirror (`git clone --mirror` or the session's fetch
tool) under MIRROR_ROOT/<owner>+<name>/repo; pages are read at the pinned commit with `git show`, never from a
work tree, so the corpus does not drift when a mirror is updated.

    python supportbot/evaluation/heldout/build.py --mirror-root /work/.mirror
    python supportbot/evaluation/heldout/build.py --split questions.jsonl en   # → en-dev.jsonl, en-test.jsonl

Normalisation keeps the text as written and only removes what would stop heading matching: the `{#id}` /
`{ #id }` attribute lists that MkDocs and VitePress put after headings (the chunker derives its own anchors).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Source:
    product: str
    repo: str  # owner/name on GitHub
    commit: str
    licence: str
    root: str  # folder inside the repository
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    language: str = "en"


SOURCES = (
    Source(
        "black",
        "psf/black",
        "8947c48ef2077c3a301b03c1e814dc2e3f78436e",
        "MIT",
        "docs/",
        ("*.md",),
        ("change_log.md", "authors.md", "license.md", "contributing/release_process.md"),
    ),
    Source(
        "httpx",
        "encode/httpx",
        "ae1b9f66238f75ced3ced5e4485408435de10768",
        "BSD-3-Clause",
        "docs/",
        ("*.md",),
        ("code_of_conduct.md", "api.md", "contributing.md"),
    ),
    Source(
        "poetry",
        "python-poetry/poetry",
        "f46702336862f30050d5c641d5ed6f7568ded793",
        "MIT",
        "docs/",
        ("*.md",),
        ("contributing.md", "community.md", "_index.md"),
    ),
    Source(
        "mkdocs",
        "mkdocs/mkdocs",
        "2862536793b3c67d9d83c33e0dd6d50a791928f8",
        "BSD-2-Clause",
        "docs/",
        ("*.md",),
        ("about/*", "dev-guide/api.md", "dev-guide/README.md", "user-guide/README.md"),
    ),
    Source(
        "uv",
        "astral-sh/uv",
        "26a9dd4b2125bc271b47855e1fa0c49af3365db5",
        "MIT OR Apache-2.0",
        "docs/",
        ("*.md",),
        ("reference/*", "*/index.md", "index.md"),
    ),
    Source(
        "ruff",
        "astral-sh/ruff",
        "fca5c7cf2cd2f8338f18b9485f936b8e9f07bd0b",
        "MIT",
        "docs/",
        ("*.md",),
        ("rules/*", "editors/index.md"),
    ),
    Source(
        "hatch",
        "pypa/hatch",
        "ed8e30bebf98f2fe4d70c18a32a50a8160c391cb",
        "MIT",
        "docs/",
        ("*.md",),
        ("history/*", "blog/*", "community/users.md", "cli/reference.md", "meta/authors.md", "*/reference.md"),
    ),
    Source(
        "vue",
        "vuejs-translations/docs-ko",
        "6e646acb5687510feda533281faa546b26ea243c",
        "CC-BY-4.0",
        "src/",
        (
            "about/faq.md",
            "guide/introduction.md",
            "guide/quick-start.md",
            "guide/best-practices/*.md",
            "guide/extras/composition-api-faq.md",
            "guide/extras/ways-of-using-vue.md",
            "guide/extras/web-components.md",
            "guide/scaling-up/*.md",
            "guide/typescript/overview.md",
            "guide/essentials/application.md",
            "guide/essentials/forms.md",
            "guide/essentials/lifecycle.md",
        ),
        language="ko",
    ),
)

HEADING_ATTRIBUTES = re.compile(r"^(#{1,6}\s.*?)\s*\{\s*:?\s*#[^}]*\}\s*$", re.MULTILINE)


def _git(mirror: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], check=True, capture_output=True, text=True).stdout


def _selected(source: Source, paths: list[str]) -> list[str]:
    chosen = []
    for path in paths:
        if not path.startswith(source.root):
            continue
        inner = path[len(source.root) :]
        if any(fnmatch.fnmatch(inner, p) for p in source.include) and not any(
            fnmatch.fnmatch(inner, p) for p in source.exclude
        ):
            chosen.append(inner)
    return chosen


def normalise(text: str) -> str:
    """The page as written, less heading attribute lists ("## Caching {#cache}" → "## Caching")."""
    return HEADING_ATTRIBUTES.sub(r"\1", text)


def source_build(source: Source, *, mirror_root: Path) -> int:
    """Write one product's pages to <language>/docs/<product>/, a page's folders joined by '-' in its name."""
    mirror = mirror_root / source.repo.replace("/", "+") / "repo"
    paths = _git(mirror, "ls-tree", "-r", "--name-only", source.commit).splitlines()
    target = HERE / source.language / "docs" / source.product
    target.mkdir(parents=True, exist_ok=True)
    pages = _selected(source, paths)
    for inner in pages:
        text = _git(mirror, "show", f"{source.commit}:{source.root}{inner}")
        (target / inner.replace("/", "-")).write_text(normalise(text), encoding="utf-8")
    return len(pages)


def question_key(question: str) -> str:
    """The SHA-256 of a question's text (stripped, UTF-8): its place in the split order."""
    return hashlib.sha256(question.strip().encode("utf-8")).hexdigest()


def splits_assign(rows: list[dict]) -> dict[str, list[dict]]:
    """The stable split rule: within each product (all unanswerable questions of a language are one group),
    order the questions by `question_key`; the 1st, 3rd, 5th … go to "dev", the 2nd, 4th … to "test". So every
    product is halved (an odd one out goes to dev), and the split depends on the words, never on file order."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.get("product", ""), []).append(row)
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    for group in groups.values():
        for position, row in enumerate(sorted(group, key=lambda r: question_key(r["question"]))):
            splits["dev" if position % 2 == 0 else "test"].append(row)
    return splits


def questions_split(source: Path, stem: str) -> dict[str, int]:
    """Write the questions of one JSONL file to <stem>-dev.jsonl and <stem>-test.jsonl next to this script."""
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts = {}
    for split, chosen in splits_assign(rows).items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in chosen)
        (HERE / f"{stem}-{split}.jsonl").write_text(text, encoding="utf-8")
        counts[split] = len(chosen)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror-root", type=Path)
    parser.add_argument("--split", nargs=2, metavar=("QUESTIONS", "STEM"))
    args = parser.parse_args()
    if args.split:
        print(questions_split(Path(args.split[0]), args.split[1]))
        return
    if not args.mirror_root:
        parser.error("--mirror-root or --split is needed")
    for source in SOURCES:
        print(f"{source.product}: {source_build(source, mirror_root=args.mirror_root)} pages")


if __name__ == "__main__":
    main()
