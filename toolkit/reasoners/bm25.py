"""The BM25 reader: lexical overlap between the verbalized context and each candidate's text.

A judge no verbalizer is trained against (Stage 1's oracle is the embedding reader), so a
verbalizer's gain under BM25 is a gain for a different kind of recommender, not a better
fit to its trainer. Candidates are documents (``catalog_text``: title, year, genres) indexed
once over the whole catalog with ``bm25s``, so term weights come from the catalog rather
than from one question's ten candidates; the context is the query. A candidate that shares
no term with the context scores 0; ties are broken towards the candidate shown first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolkit.reasoners.base import REASONERS, Answer, Reasoner, ReasonerInput
from toolkit.reasoners.embedding import ITEM_FIELDS, catalog_text
from toolkit.reasoners.positions import PositionStats, best_shown_first
from toolkit.records import Catalog


@REASONERS.register("bm25")
class BM25Reasoner(Reasoner):
    """Scores = BM25(context as query, candidate text as document); ``k1``/``b`` as in bm25s."""

    name = "bm25"

    def __init__(
        self,
        catalog: Catalog,
        *,
        item_fields: Sequence[str] = ("title", "year", "genres"),
        k1: float = 1.5,
        b: float = 0.75,
        stopwords: str | None = "en",
        seed: int = 0,
    ):
        super().__init__(catalog)
        unknown = [f for f in item_fields if f not in ITEM_FIELDS]
        if unknown:
            raise ValueError(f"unknown item field(s) {unknown}; known: {', '.join(ITEM_FIELDS)}")
        import bm25s

        self.item_fields = tuple(item_fields)
        self.stopwords = stopwords
        self.seed = seed
        self.positions = PositionStats()
        items = list(catalog)
        self._row = {item.item_id: i for i, item in enumerate(items)}
        corpus = [catalog_text(item, self.item_fields) for item in items]
        self._index = bm25s.BM25(k1=k1, b=b)
        self._index.index(self._tokenize(corpus, ids=True), show_progress=False)

    def _tokenize(self, texts: list[str], *, ids: bool) -> Any:
        import bm25s

        return bm25s.tokenize(texts, stopwords=self.stopwords, return_ids=ids, show_progress=False)

    def answer_batch(self, inputs: Sequence[ReasonerInput]) -> list[Answer]:
        queries = self._tokenize([inp.context for inp in inputs], ids=False)
        answers = []
        for inp, query in zip(inputs, queries, strict=True):
            if not inp.candidates:
                raise ValueError("a question needs at least one candidate")
            missing = [c for c in inp.candidates if c not in self._row]
            if missing:
                raise KeyError(f"candidate(s) {missing} are not in the catalog")
            every = self._index.get_scores(query) if query else None
            scores = [0.0 if every is None else float(every[self._row[c]]) for c in inp.candidates]
            order = inp.shown_order(self.seed)
            pick = best_shown_first(scores, order)
            self.positions.add(order.index(pick), len(scores))
            answers.append(
                Answer(
                    pick=pick,
                    scores=scores,
                    raw=inp.candidates[pick],
                    meta={"shown_position": order.index(pick), "query_terms": len(query)},
                )
            )
        return answers

    def stats(self) -> dict[str, Any]:
        return self.positions.summary()
