"""A toy task whose right answer is knowable, and the pieces to train on it.

Users watch items of three genres; each history is dominated by one genre, and the target
is an unseen item of that genre among nine candidates of the other genres. The toy
verbalizer (an ``LLMVerbalizer``) must name a genre under a ``choice`` grammar; the
genre-counting oracle then picks the candidate whose genre the text mentions, so the
oracle hits exactly when the verbalizer names the dominant genre (random: 1/3).
The genre words are single tokens of SmolLM2's tokenizer, written one per line in the
prompt so they tokenize the same in the prompt and in the answer.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence

import pytest

from grammars.base import Constraint
from toolkit.reasoners.base import Answer, Reasoner, ReasonerInput
from toolkit.records import Catalog, History, Interaction, Item
from toolkit.tasks import RerankExample, TaskSet
from toolkit.verbalizers.base import LLMVerbalizer, Verbalization

GENRES = ("crime", "music", "western")


def toy_catalog(per_genre: int = 12) -> Catalog:
    return Catalog(
        Item(item_id=f"{g}-{k}", title=f"{g.title()} Story {k}", year=2000 + k, genres=(g,))
        for g in GENRES
        for k in range(per_genre)
    )


def toy_examples(
    n: int, *, seed: int = 0, history: int = 5, weights: Sequence[float] | None = None
) -> list[RerankExample]:
    """``n`` users; the dominant genres cycle through GENRES (balanced) or, with
    ``weights``, follow those shares (user u gets the genre at quantile (u + 0.5) / n)."""
    rng = random.Random(seed)
    catalog = toy_catalog()
    by_genre = {g: [i.item_id for i in catalog if i.genres[0] == g] for g in GENRES}
    examples = []
    for u in range(n):
        dominant = GENRES[u % len(GENRES)] if weights is None else _quantile(weights, u, n)
        others = [g for g in GENRES if g != dominant]
        major = history // 2 + 1
        picks = rng.sample(by_genre[dominant], major + 1)
        seen, target = picks[:major], picks[major]
        seen += [rng.choice(by_genre[rng.choice(others)]) for _ in range(history - major)]
        rng.shuffle(seen)
        negatives = rng.sample([i for g in others for i in by_genre[g] if i not in seen], 9)
        candidates = [target, *negatives]
        rng.shuffle(candidates)
        examples.append(
            RerankExample(
                example_id=f"u{u}",
                user_id=f"u{u}",
                history=History(
                    user_id=f"u{u}",
                    interactions=tuple(Interaction(item_id=i, event="play") for i in seen),
                ),
                candidates=tuple(candidates),
                target=target,
                discovery=True,
                split="train",
            )
        )
    return examples


def _quantile(weights: Sequence[float], u: int, n: int) -> str:
    edge, point = 0.0, (u + 0.5) / n
    for genre, w in zip(GENRES, weights, strict=True):
        edge += w / sum(weights)
        if point < edge:
            return genre
    return GENRES[-1]


def toy_tasks(n: int = 12, seed: int = 0, weights: Sequence[float] | None = None) -> TaskSet:
    examples = toy_examples(n, seed=seed, weights=weights)
    return TaskSet({"train": examples}, toy_catalog(), {"domain": "streaming"})


class ToyGenreVerbalizer(LLMVerbalizer):
    """Names the user's main genre; the constraint is the choice among the genres."""

    name = "toy_genre"

    def prompt(self, history: History, catalog: Catalog) -> str:
        genres = "\n".join(catalog[x.item_id].genres[0] for x in history.interactions)
        return f"Genres watched:\n{genres}\nMost watched genre?"

    def constraint(self, history: History, catalog: Catalog) -> Constraint:
        return Constraint("choice", json.dumps(list(GENRES)), "outlines_core", max_tokens=6)

    def decode(self, output: str, history: History, catalog: Catalog) -> Verbalization:
        genre = output.strip()
        return self.measure(f"likes {genre}", history, catalog, valid=genre in GENRES)


class GenreOracle(Reasoner):
    """Scores each candidate by how often its genre is named in the context."""

    name = "toy_genre_oracle"

    def __init__(self, catalog: Catalog, **_: object):
        super().__init__(catalog)
        self.calls = 0

    def answer_batch(self, inputs: Sequence[ReasonerInput]) -> list[Answer]:
        self.calls += 1
        out = []
        for inp in inputs:
            words = inp.context.lower().split()
            scores = [float(words.count(self.catalog[c].genres[0])) for c in inp.candidates]
            out.append(Answer(pick=max(range(len(scores)), key=scores.__getitem__), scores=scores))
        return out


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a loaded machine idle
    OpenMP workers spinning for a core made these tests 10-20x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory, tokenizer):
    """The tiny model saved with the real tokenizer, like a model folder on disk."""
    from toolkit.models import tiny_model

    path = tmp_path_factory.mktemp("tiny-base")
    tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
