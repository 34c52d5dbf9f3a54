"""The LLM reasoner: reads the context and labelled candidates, answers one letter.

Candidates are shown as ``A.`` .. ``J.`` and each label is a single token of the
tokenizer, so the constrained answer is one token and its masked log-prob is an exact
log-softmax over the labels; one forward pass gives every candidate a score.

Position-fair scoring: a small LM prefers a slot (the untrained SmolLM2 picks slot A almost
always), so each question is asked under ``shifts`` cyclic shifts of its shown order (the
episode's order, the same for every verbalizer) and every candidate's label log-prob is
averaged over the shifts. With ``shifts`` equal to the number of candidates each candidate
sits once in every slot, and a pure slot preference cancels. The shifts of one question
share their prompt up to the candidate list: that prefix is encoded once and its key/value
cache reused by all shifts. ``Answer.meta`` keeps the single-order (shift 0) scores and the
shown position of the pick, so a report can show both and the first-position share.
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


def cyclic_shifts(order: Sequence[int], k: int) -> list[tuple[int, ...]]:
    """``k`` evenly spaced cyclic shifts of ``order`` (shift 0 first).

    >>> cyclic_shifts([2, 0, 1, 3], 2)
    [(2, 0, 1, 3), (1, 3, 2, 0)]
    """
    n = len(order)
    k = max(1, min(k, n))
    offsets = list(dict.fromkeys(round(j * n / k) % n for j in range(k)))
    return [tuple(order[(i + s) % n] for i in range(n)) for s in offsets]


@REASONERS.register("llm")
class LLMReasoner(Reasoner):
    """A causal LM as the reasoner (the embedded SmolLM2 by default).

    ``shifts``: cyclic shifts per question (1: the single shown order; the number of
    candidates: every candidate in every slot once). ``calibrate``: ``batch`` divides each
    slot's probability by its mean over the evaluated questions before picking
    (``positions.batch_calibrate``, applied by the evaluation pipeline over a whole row).
    ``shuffle=False`` shows candidates in the example's order when a question carries no
    order of its own."""

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
        shifts: int = 1,
        calibrate: str = "none",
        seed: int = 0,
    ):
        super().__init__(catalog)
        from toolkit.reasoners.positions import CALIBRATIONS

        if shifts < 1:
            raise ValueError(f"shifts must be at least 1, got {shifts}")
        if calibrate not in CALIBRATIONS:
            raise ValueError(
                f"calibrate must be one of {', '.join(CALIBRATIONS)}, got {calibrate!r}"
            )
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
        self.shifts = shifts
        self.calibrate = calibrate
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

    def _order(self, inp: ReasonerInput) -> tuple[int, ...]:
        if inp.order is None and not self.shuffle:
            return tuple(range(len(inp.candidates)))
        return inp.shown_order(self.seed)

    def _last_logits(self, **inputs: Any) -> Any:
        """Logits of the last position only (``logits_to_keep=1``: no full-length LM head)."""
        return self.model(**inputs, logits_to_keep=1).logits[:, -1, :].float()

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
                    logits = self._last_logits(**enc)
                for row, n in zip(logits, n_labels[start : start + len(chunk)], strict=True):
                    out.append(torch.log_softmax(row[ids[:n]], dim=-1).tolist())
        finally:
            self.tokenizer.padding_side = pad_side
        return out

    def shared_prefix_logprobs(self, texts: Sequence[str], n_labels: int) -> list[list[float]]:
        """``label_logprobs`` of texts that share a long prefix (the shifts of one question):
        the common token prefix is encoded once, its cache repeated for every text, and only
        the differing suffixes run, left-padded with explicit position ids."""
        import torch

        if len(texts) == 1:
            return self.label_logprobs(texts, [n_labels])
        ids = [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
        p = 0
        shortest = min(len(x) for x in ids)
        while p < shortest - 1 and all(x[p] == ids[0][p] for x in ids):
            p += 1
        label_ids = label_token_ids(self.tokenizer, n_labels)
        device = self.model.device
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else self.tokenizer.eos_token_id
        out: list[list[float]] = []
        with torch.no_grad():
            prefix = torch.tensor([ids[0][:p]], device=device)
            base = self.model(input_ids=prefix, use_cache=True, logits_to_keep=1).cache
            for start in range(0, len(ids), self.batch_size):
                chunk = [x[p:] for x in ids[start : start + self.batch_size]]
                width = max(len(x) for x in chunk)
                suffix = torch.tensor([[pad] * (width - len(x)) + x for x in chunk], device=device)
                mask = torch.tensor(
                    [[0] * (width - len(x)) + [1] * len(x) for x in chunk], device=device
                )
                cache = _repeat_cache(base, len(chunk))
                positions = (p + mask.cumsum(-1) - 1).clamp(min=p)
                attention = torch.cat([torch.ones(len(chunk), p, dtype=mask.dtype), mask], -1)
                logits = self._last_logits(
                    input_ids=suffix,
                    attention_mask=attention.to(device),
                    position_ids=positions,
                    cache=cache,
                    use_cache=True,
                )
                out += [torch.log_softmax(row[label_ids], dim=-1).tolist() for row in logits]
        return out

    def answer_batch(self, inputs: Sequence[ReasonerInput]) -> list[Answer]:
        from toolkit.reasoners.positions import present, unshuffle_scores

        orders = [self._order(inp) for inp in inputs]
        shifted = [cyclic_shifts(order, self.shifts) for order in orders]
        if all(len(s) == 1 for s in shifted):
            chats = [self.chat(present(inp, o)) for inp, o in zip(inputs, orders, strict=True)]
            per_shift = [
                [s] for s in self.label_logprobs(chats, [len(i.candidates) for i in inputs])
            ]
        else:
            per_shift = [
                self.shared_prefix_logprobs(
                    [self.chat(present(inp, o)) for o in shifts], len(inp.candidates)
                )
                for inp, shifts in zip(inputs, shifted, strict=True)
            ]
        answers = []
        for inp, order, shifts, scores in zip(inputs, orders, shifted, per_shift, strict=True):
            n = len(inp.candidates)
            original = [unshuffle_scores(s, o) for s, o in zip(scores, shifts, strict=True)]
            averaged = [sum(col) / len(col) for col in zip(*original, strict=True)]
            pick = max(range(n), key=averaged.__getitem__)
            shown = order.index(pick)
            self.positions.add(shown, n)
            single = original[0]
            single_pick = max(range(n), key=single.__getitem__)
            answers.append(
                Answer(
                    pick=pick,
                    scores=averaged,
                    raw=LABELS[shown],
                    meta={
                        "shown_position": shown,
                        "order": list(order),
                        "shifts": len(shifts),
                        "single_scores": single,
                        "shift_scores": original,
                        "single_shown_position": order.index(single_pick),
                    },
                )
            )
        return answers

    def stats(self) -> dict[str, Any]:
        return self.positions.summary()

    def cache_identity(self) -> dict[str, Any]:
        """The weights as loaded now (a trained adapter is a different reader), the tokenizer
        and the number of shifts; calibration is applied over a row after the cache."""
        from toolkit.cache import model_fingerprint
        from toolkit.verbalize import tokenizer_identity

        return {
            "reader": self.name,
            "weights": model_fingerprint(self.model),
            "tokenizer": tokenizer_identity(self.tokenizer),
            "shifts": self.shifts,
        }

    def question_text(self, inp: ReasonerInput) -> str:
        """The chat prompt in the shown order: context, catalog text, template and order."""
        from toolkit.reasoners.positions import present

        return self.chat(present(inp, self._order(inp)))


def _repeat_cache(cache: Any, n: int) -> Any:
    """A copy of a batch-1 key/value cache repeated ``n`` times (the original is kept)."""
    import copy

    repeated = copy.deepcopy(cache)
    if n > 1:
        repeated.batch_repeat_interleave(n)
    return repeated
