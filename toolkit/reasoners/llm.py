"""The LLM reasoner: reads the context and labelled candidates, answers one letter.

Candidates are shown as ``A.`` .. ``J.`` and each label is a single token of the
tokenizer, so the constrained answer is one token and its masked log-prob is an exact
log-softmax over the labels. ``score`` mode reads those log-probs from one forward pass
(cheap, gives every candidate a score for NDCG/MRR); ``generate`` mode samples an answer
through any ``Generator`` backend under the ``choice`` grammar. Candidate order is
shuffled per question (seeded) and scores are mapped back, so position bias shows up in
``positions`` instead of silently inflating or deflating accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from toolkit.reasoners.base import REASONERS, Answer, Reasoner, ReasonerInput
from toolkit.records import Catalog, Item
from toolkit.tasks import LABELS

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def candidate_meta(item: Item | None) -> str:
    """Short metadata shown beside a candidate title: year and up to three genres."""
    if item is None:
        return ""
    parts = [str(item.year)] if item.year is not None else []
    parts += list(item.genres[:3])
    return ", ".join(parts)


def label_token_ids(tokenizer: PreTrainedTokenizerBase, n: int) -> list[int]:
    """Token id of each label ``A``.. as the first answer token; errors if a label is not
    one token (then the masked log-prob would not be a log-softmax over labels)."""
    ids = []
    for label in LABELS[:n]:
        tokens = tokenizer.encode(label, add_special_tokens=False)
        if len(tokens) != 1:
            raise ValueError(f"label {label!r} is {len(tokens)} tokens in this tokenizer")
        ids.append(tokens[0])
    return ids


@REASONERS.register("llm")
class LLMReasoner(Reasoner):
    """A causal LM as the reasoner (the embedded SmolLM2 by default)."""

    name = "llm"

    def __init__(
        self,
        catalog: Catalog,
        model: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        *,
        model_path: str | None = None,
        domain: str = "streaming",
        prompt_path: str | None = None,
        batch_size: int = 4,
        shuffle: bool = True,
        seed: int = 0,
    ):
        super().__init__(catalog)
        if model is None:
            from toolkit.models import load_model

            model, tokenizer = load_model(model_path)
        if tokenizer is None:
            raise ValueError("LLMReasoner needs the tokenizer that goes with the model")
        from prompts import load_prompt
        from toolkit.reasoners.positions import PositionStats

        self.model = model
        self.tokenizer = tokenizer
        self.template = load_prompt("reasoner", domain=domain, path=prompt_path)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.positions = PositionStats()

    def prompt(self, inp: ReasonerInput) -> str:
        """The user message, candidates in the order given."""
        candidates = [
            {
                "label": LABELS[i],
                "title": item.display_title if item is not None else cid,
                "meta": candidate_meta(item),
            }
            for i, cid in enumerate(inp.candidates)
            for item in [self.catalog.get(cid)]
        ]
        return self.template.render(context=inp.context, candidates=candidates)

    def chat(self, inp: ReasonerInput) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": self.prompt(inp)}],
            tokenize=False,
            add_generation_prompt=True,
        )

    def _order(self, inp: ReasonerInput) -> list[int]:
        from toolkit.reasoners.positions import shuffled_order

        n = len(inp.candidates)
        if not self.shuffle:
            return list(range(n))
        return shuffled_order(n, self.seed, inp.context + "\0" + "\0".join(inp.candidates))

    def label_logprobs(self, texts: Sequence[str], n_labels: Sequence[int]) -> list[list[float]]:
        """Per text, the log-softmax over its ``n`` label tokens at the first answer position:
        exactly the choice grammar's masked distribution for a one-token answer."""
        import torch

        ids = label_token_ids(self.tokenizer, max(n_labels, default=0))
        out: list[list[float]] = []
        pad_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            for start in range(0, len(texts), self.batch_size):
                chunk = list(texts[start : start + self.batch_size])
                enc = self.tokenizer(
                    chunk, return_tensors="pt", padding=True, add_special_tokens=False
                ).to(self.model.device)
                with torch.no_grad():
                    logits = self.model(**enc).logits[:, -1, :].float()
                for row, n in zip(logits, n_labels[start : start + len(chunk)], strict=True):
                    out.append(torch.log_softmax(row[ids[:n]], dim=-1).tolist())
        finally:
            self.tokenizer.padding_side = pad_side
        return out

    def answer_batch(self, inputs: Sequence[ReasonerInput]) -> list[Answer]:
        from toolkit.reasoners.positions import present, unshuffle_scores

        orders = [self._order(inp) for inp in inputs]
        shown = [present(inp, order) for inp, order in zip(inputs, orders, strict=True)]
        scores = self.label_logprobs(
            [self.chat(s) for s in shown], [len(inp.candidates) for inp in inputs]
        )
        answers = []
        for inp, order, shown_scores in zip(inputs, orders, scores, strict=True):
            best_shown = max(range(len(shown_scores)), key=shown_scores.__getitem__)
            self.positions.add(best_shown, len(inp.candidates))
            original = unshuffle_scores(shown_scores, order)
            pick = max(range(len(original)), key=original.__getitem__)
            answers.append(
                Answer(
                    pick=pick,
                    scores=original,
                    raw=LABELS[best_shown],
                    meta={"shown_position": best_shown, "order": order},
                )
            )
        return answers

    def stats(self) -> dict[str, Any]:
        return self.positions.summary()
