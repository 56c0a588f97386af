"""Synthetic knowledge-base content for the benchmarks: support-style text and clustered embedding vectors.

Nothing here touches Django; bench/retrieval/load.py loads what this makes. Everything is seeded, so two runs build
the same corpus.

Text. The background vocabulary and its word frequencies come from the bundled demo help pages
(kb/demo/docs), so common support words ("account", "widget", "settings", stop words) are as frequent as in
real help content. Each of the `n_topics` topics adds its own topic words (mid-frequency words from those pages
plus two invented product names) that make up about a fifth of a chunk's words. Keyword search therefore has
both selective terms (topic words, product names) and unselective ones (common words matching a large share
of the corpus) to work with, as it does on real content.

Vectors. Unit vectors with structure, not uniform noise: `n_topics` random topic centres; each topic has its
own low-dimensional subspace (`local_dim` directions with a decaying spectrum); a document's centre is its
topic centre moved within that subspace, and a chunk is its document centre moved again, plus a little
isotropic noise. Similarities land where MiniLM's do on real help content (same document ≈ 0.75, same topic
≈ 0.5, unrelated ≈ 0.0). Uniform or purely isotropic noise in 384-d would be a far harder (and unrealistic)
case for any approximate index: see docs/benchmarks.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

DEMO_DOCS = Path(__file__).resolve().parent.parent / "kb" / "demo" / "docs"

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its itself just me more most my no nor not now of off on once
    only or other our ours out over own same she should so some such than that the their them then there
    these they this those through to too under until up very was we were what when where which while who
    whom why will with you your yours also may must one two use used using every many much make makes like
    well way get gets""".split()  # noqa: SIM905
)

VERBS = [
    "configure",
    "change",
    "reset",
    "export",
    "delete",
    "enable",
    "disable",
    "connect",
    "upgrade",
    "share",
    "rename",
    "restore",
    "limit",
    "schedule",
    "import",
    "verify",
]
SECTION_PREFIXES = [
    "Configuring",
    "Troubleshooting",
    "Setting up",
    "Managing",
    "Understanding",
    "Limits of",
    "Exporting",
    "Securing",
    "Monitoring",
    "Migrating",
    "Automating",
    "Reviewing",
]
QUERY_TEMPLATES = [
    "How do I {v} the {a} {b}?",
    "{A} {b} is not working",
    "Can I {v} {a} without {b}?",
    "What does the {a} {b} setting do?",
    "Where do I find {a} for {b}?",
    "Why does {a} fail after I {v} {b}?",
    "Is there a limit on {a} {b}?",
    "How to {v} {a} and {b} step by step",
    "{A} {b} error when I {v} it",
    "Who can {v} {a} in {b}?",
]
_SYLLABLES = [
    "van",
    "trix",
    "kel",
    "sora",
    "lum",
    "dex",
    "zor",
    "pal",
    "nix",
    "quen",
    "bra",
    "tor",
    "vel",
    "mira",
    "sol",
    "cad",
    "fen",
    "rho",
    "jun",
    "tal",
    "orb",
    "ix",
    "ven",
    "lia",
    "gor",
    "sta",
    "plex",
    "hub",
]


def _demo_words() -> list[str]:
    words: list[str] = []
    for path in sorted(DEMO_DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter
        text = re.sub(r"```.*?```", " ", text, flags=re.S)  # code blocks
        text = re.sub(r"`[^`]*`", " ", text)  # inline code
        words += re.findall(r"[a-z]{2,}", text.lower())
    return words


class Corpus:
    """Topic-aware text: chunk bodies, headings, titles, Markdown documents and natural-language queries."""

    def __init__(self, *, n_topics: int = 200, topic_words: int = 10, seed: int = 7):
        rng = np.random.default_rng(seed)
        counts = Counter(_demo_words())
        background = sorted(counts)
        pool = sorted(w for w, c in counts.items() if len(w) >= 5 and w not in STOPWORDS and c <= 25)
        invented: list[str] = []
        seen: set[str] = set(counts)
        while len(invented) < 2 * n_topics:
            word = "".join(rng.choice(_SYLLABLES, size=rng.integers(2, 4)))
            if word not in seen:
                seen.add(word)
                invented.append(word)
        self.vocab: list[str] = background + invented
        index = {w: i for i, w in enumerate(self.vocab)}
        self.background_ids = np.arange(len(background))
        probs = np.array([counts[w] for w in background], dtype=np.float64)
        self.background_p = probs / probs.sum()
        # Topic words: 8 shared words from the pool (each used by about two topics) and 2 invented names.
        per_topic_pool = topic_words - 2
        order = np.concatenate([rng.permutation(len(pool)) for _ in range(per_topic_pool * n_topics // len(pool) + 1)])
        self.topic_word_ids = np.zeros((n_topics, topic_words), dtype=np.int64)
        for t in range(n_topics):
            shared = [index[pool[i]] for i in order[t * per_topic_pool : (t + 1) * per_topic_pool]]
            self.topic_word_ids[t] = shared + [index[invented[2 * t]], index[invented[2 * t + 1]]]
        # Zipf-like use of a topic's words: the first ones (and the product names) come up most.
        weights = 1.0 / np.arange(1, topic_words + 1)
        self.topic_word_p = weights / weights.sum()
        self.n_topics = n_topics
        self.vocab_arr = np.array(self.vocab, dtype=object)

    # --- names ------------------------------------------------------------------------------------------
    def topic_name(self, topic: int) -> str:
        a, b = self.topic_word_ids[topic][-2:]
        return f"{self.vocab[a].capitalize()} {self.vocab[self.topic_word_ids[topic][0]]}"

    def doc_title(self, topic: int, n: int) -> str:
        word = self.vocab[self.topic_word_ids[topic][(n % 7) + 1]]
        return f"{self.topic_name(topic)}: {word} guide {n}"

    def section_heading(self, topic: int, n: int) -> str:
        word = self.vocab[self.topic_word_ids[topic][n % len(self.topic_word_ids[topic])]]
        return f"{SECTION_PREFIXES[n % len(SECTION_PREFIXES)]} {word}"

    # --- text -------------------------------------------------------------------------------------------
    def bodies(
        self,
        topics: np.ndarray,
        rng: np.random.Generator,
        *,
        min_words: int = 70,
        max_words: int = 150,
        topic_share: float = 0.2,
    ) -> list[str]:
        """One paragraph of support-style prose per entry of `topics` (vectorised word sampling)."""
        lengths = rng.integers(min_words, max_words + 1, size=len(topics))
        total = int(lengths.sum())
        owner = np.repeat(topics, lengths)
        ids = rng.choice(self.background_ids, size=total, p=self.background_p)
        topical = rng.random(total) < topic_share
        picks = rng.choice(self.topic_word_ids.shape[1], size=total, p=self.topic_word_p)
        ids = np.where(topical, self.topic_word_ids[owner, picks], ids)
        words = self.vocab_arr[ids]
        sentence_len = rng.integers(7, 18, size=len(topics))
        out: list[str] = []
        start = 0
        for length, step in zip(lengths.tolist(), sentence_len.tolist(), strict=True):
            chunk_words = words[start : start + length].tolist()
            start += length
            sentences = [" ".join(chunk_words[i : i + step]) for i in range(0, length, step)]
            out.append(" ".join(s[:1].upper() + s[1:] + "." for s in sentences))
        return out

    def queries(self, n: int, rng: np.random.Generator) -> list[tuple[int, str]]:
        """`n` distinct (topic, question) pairs as a customer would type them."""
        found: dict[str, int] = {}
        while len(found) < n:
            topic = int(rng.integers(self.n_topics))
            a, b = (
                self.vocab[i]
                for i in rng.choice(self.topic_word_ids[topic], size=2, replace=False, p=self.topic_word_p)
            )
            template = QUERY_TEMPLATES[int(rng.integers(len(QUERY_TEMPLATES)))]
            text = template.format(v=VERBS[int(rng.integers(len(VERBS)))], a=a, b=b, A=a.capitalize())
            found.setdefault(text, topic)
        return [(topic, text) for text, topic in found.items()]

    def markdown_document(self, topic: int, n: int, rng: np.random.Generator, *, sections: int = 5) -> str:
        """A help page: front matter, H1, intro, `sections` H2 sections (some with H3s, lists, code)."""
        title = self.doc_title(topic, n)
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        parts = [f"---\ntitle: {json.dumps(title)}\nurl: /help/{slug}/\n---\n", f"# {title}\n"]
        parts += self.bodies(np.array([topic]), rng, min_words=40, max_words=70)
        for s in range(sections):
            parts.append(f"\n## {self.section_heading(topic, n + s)}\n")
            paragraphs = int(rng.integers(1, 3))
            parts += [p + "\n" for p in self.bodies(np.full(paragraphs, topic), rng, min_words=60, max_words=140)]
            kind = int(rng.integers(4))
            if kind == 0:
                items = self.bodies(np.full(3, topic), rng, min_words=6, max_words=14)
                parts.append("\n".join(f"- {item}" for item in items) + "\n")
            elif kind == 1:
                word = self.vocab[self.topic_word_ids[topic][-1]]
                parts.append(f"```bash\npython manage.py {word} --{VERBS[n % len(VERBS)]} {s}\n```\n")
            elif kind == 2:
                parts.append(f"\n### {self.section_heading(topic, n + s + 3)}\n")
                parts += self.bodies(np.array([topic]), rng, min_words=50, max_words=110)
        return "\n".join(parts) + "\n"


def normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class VectorSpace:
    """Clustered unit vectors: topic centre → document centre → chunk (see the module docstring)."""

    def __init__(
        self,
        *,
        dim: int = 384,
        n_topics: int = 200,
        local_dim: int = 32,
        shared_dim: int = 8,
        seed: int = 11,
        global_weight: float = 1.2,
        shared_weight: float = 1.2,
        doc_spread: float = 0.8,
        chunk_spread: float = 0.9,
        iso_noise: float = 0.5,
    ):
        rng = np.random.default_rng(seed)
        self.dim, self.n_topics, self.local_dim = dim, n_topics, local_dim
        # Topic centres: a direction every text shares (sentence embeddings are anisotropic), a part in a
        # subspace the topics share (related topics sit near each other), and a part of their own.
        common = normalise(rng.normal(size=(1, dim)))
        shared_basis = np.linalg.qr(rng.normal(size=(dim, shared_dim)))[0]
        shared_spectrum = 1.0 / np.sqrt(np.arange(1, shared_dim + 1))
        shared = normalise((rng.normal(size=(n_topics, shared_dim)) * shared_spectrum) @ shared_basis.T)
        own = normalise(rng.normal(size=(n_topics, dim)))
        self.centres = normalise(global_weight * common + shared_weight * shared + own)
        # One orthonormal basis (dim × local_dim) per topic.
        self.bases = np.linalg.qr(rng.normal(size=(n_topics, dim, local_dim)))[0].astype(np.float32)
        spectrum = 1.0 / np.sqrt(np.arange(1, local_dim + 1))
        self.spectrum = (spectrum / np.linalg.norm(spectrum)).astype(np.float32)  # unit expected norm
        self.doc_spread, self.chunk_spread, self.iso_noise = doc_spread, chunk_spread, iso_noise

    def _move(self, points: np.ndarray, topics: np.ndarray, spread: float, rng: np.random.Generator) -> np.ndarray:
        out = points.astype(np.float32, copy=True)
        z = rng.normal(size=(len(points), self.local_dim)).astype(np.float32) * self.spectrum * spread
        for t in np.unique(topics):
            rows = np.nonzero(topics == t)[0]
            out[rows] += z[rows] @ self.bases[t].T
        return out

    def doc_centres(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return normalise(self._move(self.centres[topics], topics, self.doc_spread, rng))

    def chunks(self, doc_centres: np.ndarray, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        moved = self._move(doc_centres, topics, self.chunk_spread, rng)
        noise = rng.normal(size=moved.shape).astype(np.float32) * (self.iso_noise / np.sqrt(self.dim))
        return normalise(moved + noise)

    def queries(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Held-out query vectors from the same process (a fresh document centre near a topic centre)."""
        topics = rng.integers(self.n_topics, size=n)
        return self.chunks(self.doc_centres(topics, rng), topics, rng), topics
