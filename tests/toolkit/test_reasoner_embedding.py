"""The embedding oracle: scores, batching, caching, units, and the keep/drop property."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from toolkit.embeddings import default_encoder
from toolkit.reasoners import embedding, get_reasoner
from toolkit.reasoners.base import ReasonerInput
from toolkit.reasoners.embedding import EmbeddingReasoner, recency_weights
from toolkit.records import Catalog, Item

pytestmark = pytest.mark.embedded

MOVIES = [
    ("1", "Alien", 1979, ("Horror", "Sci-Fi")),
    ("2", "Star Wars", 1977, ("Action", "Adventure", "Sci-Fi")),
    ("3", "Terminator, The", 1984, ("Action", "Sci-Fi", "Thriller")),
    ("4", "Blade Runner", 1982, ("Film-Noir", "Sci-Fi")),
    ("5", "Aliens", 1986, ("Action", "Sci-Fi", "Thriller", "War")),
    ("6", "Lion King, The", 1994, ("Animation", "Children's", "Musical")),
    ("7", "Sleepless in Seattle", 1993, ("Comedy", "Romance")),
    ("8", "Sound of Music, The", 1965, ("Musical",)),
    ("9", "Cinderella", 1950, ("Animation", "Children's", "Musical")),
    ("10", "Pretty Woman", 1990, ("Comedy", "Romance")),
    ("11", "Mary Poppins", 1964, ("Children's", "Comedy", "Musical")),
    ("12", "Notting Hill", 1999, ("Comedy", "Romance")),
    ("13", "Predator", 1987, ("Action", "Sci-Fi", "Thriller")),
    ("14", "Beauty and the Beast", 1991, ("Animation", "Children's", "Musical")),
]
SCIFI = ["1", "2", "3", "4"]
FAMILY = ["6", "7", "8", "9", "10", "11", "12", "14"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(Item(item_id=i, title=t, year=y, genres=g) for i, t, y, g in MOVIES)


@pytest.fixture
def reasoner(catalog) -> EmbeddingReasoner:
    return EmbeddingReasoner(catalog)


def line(catalog, item_id, event="Thumb Up"):
    return f"19980315, Sunday, 2 PM, ID: {item_id}, {catalog[item_id].display_title}, {event}"


def test_doctests():
    assert doctest.testmod(embedding).failed == 0


def test_registered_under_its_name():
    assert get_reasoner("embedding") is EmbeddingReasoner


def test_options_are_validated(catalog):
    with pytest.raises(ValueError, match="unit"):
        EmbeddingReasoner(catalog, unit="word")
    with pytest.raises(ValueError, match="plot"):
        EmbeddingReasoner(catalog, item_fields=("title", "plot"))
    with pytest.raises(ValueError, match="half-life"):
        EmbeddingReasoner(catalog, recency=0)


def test_on_taste_candidate_wins(catalog, reasoner):
    context = "\n".join(line(catalog, i) for i in SCIFI)
    answer = reasoner.answer(ReasonerInput(context, ("6", "5", "7", "8")))
    assert answer.pick == 1 and answer.raw == "5"
    assert answer.meta["units"] == 4 and not answer.meta["empty_context"]
    assert all(-1.0 <= s <= 1.0 for s in answer.scores)
    assert answer.meta["margin"] == pytest.approx(
        answer.scores[1] - max(answer.scores[i] for i in (0, 2, 3))
    )


def test_scores_are_cosines_of_the_mean_unit_vector(catalog, reasoner):
    units = ["Alien (1979). Genres: Horror, Sci-Fi", "Star Wars (1977)"]
    answer = reasoner.answer(ReasonerInput("\n".join(units), ("3", "9")))
    enc = reasoner.encoder
    mean = enc.encode(units).astype(np.float64).mean(0)
    mean /= np.linalg.norm(mean)
    cands = enc.encode(
        [
            "Terminator, The (1984). Genres: Action, Sci-Fi, Thriller",
            "Cinderella (1950). Genres: Animation, Children's, Musical",
        ]
    )
    assert answer.scores == pytest.approx((cands.astype(np.float64) @ mean).tolist(), abs=1e-6)


def test_same_inputs_give_bit_identical_scores(catalog):
    inputs = [
        ReasonerInput("\n".join(line(catalog, i) for i in SCIFI), ("5", "6", "7")),
        ReasonerInput(line(catalog, "9"), ("13", "14", "12")),
    ]
    encoder = default_encoder()
    encoder.clear_cache()
    first = EmbeddingReasoner(catalog).answer_batch(inputs)
    encoder.clear_cache()
    second = EmbeddingReasoner(catalog).answer_batch(inputs)
    assert [a.scores for a in first] == [a.scores for a in second]
    assert [a.pick for a in first] == [a.pick for a in second]


def test_batch_equals_one_by_one(catalog):
    rng = np.random.default_rng(0)
    ids = [i for i, *_ in MOVIES]
    inputs = []
    for k in range(12):
        history = rng.choice(ids, size=1 + k % 6, replace=False)
        context = "\n".join(line(catalog, i) for i in history)
        inputs.append(ReasonerInput(context, tuple(rng.choice(ids, size=5, replace=False))))
    encoder = default_encoder()
    encoder.clear_cache()
    batched = EmbeddingReasoner(catalog).answer_batch(inputs)
    singles = []
    for inp in inputs:
        encoder.clear_cache()
        singles.append(EmbeddingReasoner(catalog).answer(inp))
    for b, s in zip(batched, singles, strict=True):
        assert b.pick == s.pick
        assert b.scores == pytest.approx(s.scores, abs=1e-6)


def test_one_encoder_call_per_batch_and_candidates_encoded_once(catalog, reasoner, monkeypatch):
    calls: list[list[str]] = []
    real = reasoner.encoder.encode

    def spy(texts):
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(reasoner.encoder, "encode", spy)
    inputs = [
        ReasonerInput(line(catalog, "1"), ("5", "6")),
        ReasonerInput(line(catalog, "2") + "\n" + line(catalog, "3"), ("6", "7")),
    ]
    reasoner.answer_batch(inputs)
    assert len(calls) == 1
    assert len(calls[0]) == 3 + 3  # three units, three distinct candidates
    reasoner.answer_batch([ReasonerInput(line(catalog, "4"), ("5", "6", "7"))])
    assert calls[-1] == [line(catalog, "4")]  # candidate vectors come from the item cache


def test_long_lines_are_split_into_units_within_the_limit(catalog, reasoner):
    long_line = " ".join(f"{catalog[i].display_title} thumb up" for i in SCIFI * 12)
    units = reasoner.units(f"{line(catalog, '1')}\n\n{long_line}\n  \n{line(catalog, '2')}")
    assert units[0] == line(catalog, "1") and units[-1] == line(catalog, "2")
    middle = units[1:-1]
    assert len(middle) > 1
    tokenizer = reasoner.encoder.tokenizer
    for unit in middle:
        n = len(tokenizer(unit, add_special_tokens=False)["input_ids"])
        assert n <= reasoner.encoder.max_pieces
    assert " ".join(middle).split() == long_line.split()
    whole = EmbeddingReasoner(catalog, unit="text")
    assert whole.units("a\nb") == ["a\nb"]


def test_dropping_noise_lines_raises_the_margin(catalog, reasoner):
    """The property Stage 1 trains on: what the verbalizer keeps changes the answer."""
    taste = [line(catalog, i) for i in SCIFI]
    noise = [line(catalog, i, "Autoplay Preview") for i in FAMILY]
    candidates = ("13", "6", "7", "8", "9", "10")  # Predator is the on-taste one

    def target_margin(lines):
        scores = reasoner.answer(ReasonerInput("\n".join(lines), candidates)).scores
        return scores[0] - max(scores[1:])

    clean = target_margin(taste)
    some_noise = target_margin(taste + noise[:3])
    much_noise = target_margin(noise + taste + noise)
    assert clean > some_noise > much_noise
    assert clean > 0
    assert much_noise < 0  # enough noise flips the answer to an off-taste candidate


def test_recency_weights_favour_the_last_lines(catalog):
    assert recency_weights(4, None).tolist() == [1.0, 1.0, 1.0, 1.0]
    old_family_new_scifi = "\n".join(
        [line(catalog, i) for i in FAMILY] + [line(catalog, i) for i in SCIFI[:2]]
    )
    inp = ReasonerInput(old_family_new_scifi, ("13", "11"))
    uniform = EmbeddingReasoner(catalog).answer(inp)
    recent = EmbeddingReasoner(catalog, recency=1.0).answer(inp)
    assert uniform.pick == 1 and recent.pick == 0


def test_empty_context_scores_zero_and_still_picks(catalog, reasoner):
    ids = [i for i, *_ in MOVIES]
    rng = np.random.default_rng(1)
    picks = []
    for _ in range(30):
        cands = tuple(rng.choice(ids, size=10, replace=False))
        answer = reasoner.answer(ReasonerInput(" \n ", cands))
        assert answer.scores == [0.0] * 10
        assert answer.meta["empty_context"] and answer.meta["units"] == 0
        assert answer.valid
        assert reasoner.answer(ReasonerInput(" \n ", cands)).pick == answer.pick
        picks.append(answer.pick)
    assert len(set(picks)) > 3  # ties go to a seeded shuffle, not always the first slot


def test_positions_are_logged(catalog, reasoner):
    for i in SCIFI:
        reasoner.answer(ReasonerInput(line(catalog, i), ("6", "5", "7")))
    stats = reasoner.stats()
    assert stats["n"] == 4 and stats["counts"][1] == 4
    assert "flagged" in stats


def test_unknown_candidates_and_empty_candidate_lists_raise(catalog, reasoner):
    with pytest.raises(KeyError, match="nope"):
        reasoner.answer(ReasonerInput("x", ("1", "nope")))
    with pytest.raises(ValueError, match="candidate"):
        reasoner.answer(ReasonerInput("x", ()))
