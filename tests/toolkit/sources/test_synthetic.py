"""The synthetic streaming generator: seeded, well-formed, noisy at the configured rates,
and with next items that depend on the latent taste (and are hidden by the noise)."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from itertools import pairwise

import pytest

from toolkit.errors import ConfigError, InputError
from toolkit.records import Catalog, Dataset, History, Interaction, Item
from toolkit.sources import get_source, read_source
from toolkit.sources.synthetic import (
    DEVICES,
    NOISE_KINDS,
    SyntheticConfig,
    SyntheticSource,
    Taste,
    generate,
    make_config,
)
from toolkit.tasks import TaskConfig, build_examples

ATTRS = {"device", "signal", "noise", "season", "episode"}


@pytest.fixture(scope="module")
def generated() -> tuple[Dataset, dict[str, Taste]]:
    return generate(SyntheticConfig())


@pytest.fixture(scope="module")
def dataset(generated) -> Dataset:
    return generated[0]


def serialize(dataset: Dataset) -> bytes:
    rows = [
        {"user_id": h.user_id, "interactions": [x.to_json() for x in h.interactions]}
        for h in dataset.histories
    ]
    items = [item.to_json() for item in dataset.catalog]
    return json.dumps({"histories": rows, "catalog": items}, sort_keys=True).encode()


def before_targets(dataset: Dataset, n: int = 3) -> Iterable[Interaction]:
    for h in dataset.histories:
        yield from h.interactions[:-n]


# --------------------------------------------------------------------------- source


def test_registered_and_read_without_path():
    assert get_source("synthetic") is SyntheticSource
    data = read_source("synthetic", None, n_users=4, seed=3)
    assert isinstance(data, Dataset)
    assert (data.name, data.domain, data.has_timestamps) == ("synthetic", "streaming", True)
    assert [h.user_id for h in data.histories] == ["u00000", "u00001", "u00002", "u00003"]
    assert serialize(data) == serialize(generate(SyntheticConfig(n_users=4, seed=3))[0])


def test_unknown_and_invalid_options_are_all_named():
    with pytest.raises(ConfigError) as err:
        SyntheticSource().read(n_userz=3, noize=0.1, n_films=-1)
    text = str(err.value)
    assert "unknown option(s) n_userz, noize" in text
    assert "n_users" in text  # the known options are listed
    assert "n_films" in text and "greater than or equal to 0" in text


def test_inconsistent_config_is_refused():
    with pytest.raises(ConfigError, match="shared_genres not in genres: Puppets"):
        make_config(shared_genres=["Puppets"])
    with pytest.raises(ConfigError, match="history_length"):
        make_config(history_length=[30, 10])
    with pytest.raises(ConfigError, match=r"at most 0\.8"):
        make_config(preview_rate=0.5, abandon_rate=0.4)


def test_yaml_config_as_path_with_overrides(tmp_path):
    path = tmp_path / "synthetic.yaml"
    path.write_text("n_users: 3\nseed: 9\nn_series: 40\n", encoding="utf-8")
    data = SyntheticSource().read(path, seed=10)
    expected = generate(SyntheticConfig(n_users=3, seed=10, n_series=40))[0]
    assert serialize(data) == serialize(expected)
    with pytest.raises(InputError, match="reads no data"):
        SyntheticSource().read(tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        SyntheticSource().read(on_error="ignore")


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_data():
    config = SyntheticConfig(n_users=40, seed=7)
    a, tastes_a = generate(config)
    b, tastes_b = generate(config)
    assert serialize(a) == serialize(b)
    assert tastes_a == tastes_b
    c, tastes_c = generate(config.model_copy(update={"seed": 8}))
    assert serialize(c) != serialize(a)
    assert [i.title for i in c.catalog] != [i.title for i in a.catalog]
    assert tastes_c != tastes_a


def test_a_user_does_not_depend_on_how_many_are_generated():
    few = generate(SyntheticConfig(n_users=5, seed=2))[0]
    many = generate(SyntheticConfig(n_users=25, seed=2))[0]
    assert many.histories[:5] == few.histories


def test_generates_a_thousand_users():
    """Scale check (its speed is measured in benchmarks/data_bench.py, not asserted here)."""
    data, tastes = generate(SyntheticConfig(n_users=1000))
    assert len(data.histories) == len(tastes) == 1000
    assert len({h.user_id for h in data.histories}) == 1000


# --------------------------------------------------------------------------- catalog


def test_catalog_titles_and_fields(dataset):
    items = list(dataset.catalog)
    kinds = Counter(item.attrs["kind"] for item in items)
    assert kinds == {"film": 400, "series": 80}
    assert len({item.title for item in items}) == len(items)
    config = SyntheticConfig()
    for item in items:
        assert 1 <= len(item.genres) <= 3 and len(set(item.genres)) == len(item.genres)
        assert 2 <= len(item.tags) <= 4 and len(set(item.tags)) == len(item.tags)
        assert set(item.genres) <= set(config.genres) and set(item.tags) <= set(config.tags)
        assert item.description and item.description.endswith(".")
        assert item.year is not None and 1950 <= item.year <= 2024
        assert item.title[0].isupper() and item.title.strip() == item.title
        if item.attrs["kind"] == "series":
            assert item.attrs["n_episodes"] >= 6 * item.attrs["n_seasons"] >= 6
            assert 20 <= item.attrs["runtime"] <= 50
        else:
            assert item.attrs["n_episodes"] is None and 80 <= item.attrs["runtime"] <= 140


def test_titles_stay_unique_when_the_word_pool_runs_out():
    data, _ = generate(SyntheticConfig(n_users=1, n_films=9000, n_series=0))
    titles = [item.title for item in data.catalog]
    assert len(set(titles)) == 9000
    assert any(t.endswith(" II") for t in titles)


# --------------------------------------------------------------------------- interactions


def test_every_interaction_has_the_same_attrs(dataset):
    for h in dataset.histories:
        for x in h.interactions:
            assert set(x.attrs) == ATTRS
            assert x.attrs["device"] in DEVICES
            assert x.attrs["noise"] in (None, *NOISE_KINDS)
            assert x.attrs["signal"] is (x.attrs["noise"] is None)
            series = dataset.catalog[x.item_id].attrs["kind"] == "series"
            episode = x.event == "play" and series and x.attrs["noise"] != "preview"
            assert (x.attrs["episode"] is not None) is episode
            assert (x.attrs["season"] is not None) is episode
            assert (x.duration is not None) is (x.event == "play")
            assert x.event in ("play", "thumb_up", "thumb_down", "add_to_list")


def test_noise_rates_match_the_config(dataset):
    config = SyntheticConfig()
    xs = list(before_targets(dataset))
    counts = Counter(x.attrs["noise"] for x in xs)
    rates = {
        "preview": config.preview_rate,
        "abandoned": config.abandon_rate,
        "shared_account": config.shared_rate,
    }
    for kind, rate in rates.items():
        assert counts[kind] / len(xs) == pytest.approx(rate, abs=0.015), kind
    events = Counter(x.event for x in xs if x.attrs["signal"])
    assert events["play"] > events["thumb_up"] > events["add_to_list"] > 0
    assert events["thumb_down"] > 0


def test_other_rates_are_honoured():
    data, _ = generate(
        SyntheticConfig(n_users=150, preview_rate=0.3, abandon_rate=0.0, shared_rate=0.0)
    )
    counts = Counter(x.attrs["noise"] for x in before_targets(data))
    total = sum(counts.values())
    assert counts["abandoned"] == counts["shared_account"] == 0
    assert counts["preview"] / total == pytest.approx(0.3, abs=0.02)


def test_noise_has_its_shape(generated):
    dataset, tastes = generated
    catalog = dataset.catalog
    for h in dataset.histories:
        taste = tastes[h.user_id]
        for x in h.interactions:
            noise, item = x.attrs["noise"], catalog[x.item_id]
            if noise == "preview":
                assert x.event == "play" and 0 < x.duration < 0.5
            elif noise == "abandoned":
                assert x.event == "play" and 1 <= x.duration <= 6
            elif noise == "shared_account":
                assert x.event == "play" and x.duration >= 0.85 * item.attrs["runtime"] - 0.05
                assert x.attrs["device"] in ("tv", "tablet")
            elif x.event == "play":  # signal plays are long
                assert x.duration >= 0.85 * item.attrs["runtime"] - 0.05
                assert x.duration >= (68 if item.attrs["kind"] == "film" else 18)
            elif x.event == "thumb_down":
                assert taste.disliked in item.genres
    # abandoned titles are off-taste, shared-account ones follow the co-viewer
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    by_kind: dict[str, list[float]] = {}
    co: list[float] = []
    for h in dataset.histories:
        taste = tastes[h.user_id]
        for x in h.interactions:
            kind = x.attrs["noise"] or ("signal" if x.event == "play" else "other")
            by_kind.setdefault(kind, []).append(taste.affinity(catalog[x.item_id]))
            if kind == "shared_account":
                co.append(taste.co_viewer.affinity(catalog[x.item_id]))
    assert mean(by_kind["abandoned"]) < mean(by_kind["preview"]) < mean(by_kind["signal"])
    assert mean(co) > mean(by_kind["shared_account"]) + 0.3


def test_series_episodes_advance_and_binge_runs_are_consecutive(dataset):
    catalog = dataset.catalog
    runs = users_with_runs = 0
    for h in dataset.histories:
        seen: dict[str, list[tuple[int, int]]] = {}
        for x in h.interactions:
            if is_signal_episode(x):
                seen.setdefault(x.item_id, []).append((x.attrs["season"], x.attrs["episode"]))
        for item_id, episodes in seen.items():  # signal plays walk the series in order
            per = catalog[item_id].attrs["n_episodes"] // catalog[item_id].attrs["n_seasons"]
            assert episodes == [(k // per + 1, k % per + 1) for k in range(len(episodes))]
        user_runs = [run for run in session_runs(h.interactions) if len(run) >= 3]
        for run in user_runs:
            for a, b in pairwise(run):
                assert (b.attrs["season"], b.attrs["episode"]) > (
                    a.attrs["season"],
                    a.attrs["episode"],
                )
                assert a.attrs["device"] == b.attrs["device"]
        runs += len(user_runs)
        users_with_runs += bool(user_runs)
    assert runs >= len(dataset.histories)  # binge_rate 0.15 of units: several per user
    assert users_with_runs >= 0.8 * len(dataset.histories)


def is_signal_episode(x: Interaction) -> bool:
    return x.event == "play" and x.attrs["signal"] and x.attrs["episode"] is not None


def session_runs(xs: Iterable[Interaction]) -> list[list[Interaction]]:
    """Maximal runs of signal episode plays of one series, each starting within 2 minutes
    of the end of the one before (the same sitting: what a binge run is)."""
    runs: list[list[Interaction]] = [[]]
    for x in xs:
        last = runs[-1][-1] if runs[-1] else None
        if not is_signal_episode(x):
            runs.append([])
        elif (
            last is not None
            and last.item_id == x.item_id
            and x.timestamp - last.timestamp <= timedelta(minutes=last.duration + 2)
        ):
            runs[-1].append(x)
        else:
            runs.append([x])
    return [r for r in runs if r]


def test_timestamps_increase_over_weeks_at_realistic_hours(dataset):
    starts: Counter[int] = Counter()
    spans = []
    for h in dataset.histories:
        stamps = [x.timestamp for x in h.interactions]
        assert all(a < b for a, b in pairwise(stamps))
        spans.append((stamps[-1] - stamps[0]).days)
        for a, b in pairwise(h.interactions):
            if b.timestamp - a.timestamp >= timedelta(minutes=30 + (a.duration or 0)):
                starts[b.timestamp.hour] += 1  # b opens a session
    spans.sort()
    assert spans[len(spans) // 2] >= 21  # the median history spans weeks
    evening = sum(starts[hour] for hour in range(18, 24))
    assert evening > 0.5 * sum(starts.values())
    assert sum(starts[hour] for hour in range(2, 6)) == 0


def test_last_three_are_signal_plays_of_new_titles(dataset):
    for h in dataset.histories:
        (*history,) = h.interactions[:-3]
        targets = h.interactions[-3:]
        assert len(history) >= 15  # history_length (20, 60) less the odd skipped unit
        touched = {x.item_id for x in history}
        for x in targets:
            assert x.event == "play" and x.attrs["signal"] is True and x.attrs["noise"] is None
            assert x.item_id not in touched
            touched.add(x.item_id)
            if x.attrs["episode"] is not None:
                assert (x.attrs["season"], x.attrs["episode"]) == (1, 1)


def test_many_earlier_signal_plays_are_discoveries(dataset):
    new = plays = 0
    for h in dataset.histories:
        touched: set[str] = set()
        for x in h.interactions[:-3]:
            if x.event == "play" and x.attrs["signal"]:
                plays += 1
                new += x.item_id not in touched
            touched.add(x.item_id)
    assert new / plays > 0.3


# --------------------------------------------------------------------------- taste


def accuracy(
    dataset: Dataset,
    scorer: Callable[[History, Item], float],
    seed: int = 0,
) -> float:
    """Recall@1 of ``scorer`` picking each final target among it and 9 random unseen titles
    (ties share the credit)."""
    rng = random.Random(seed)
    ids = dataset.catalog.ids()
    hits = 0.0
    for h in dataset.histories:
        target = h.interactions[-1].item_id
        touched = {x.item_id for x in h.interactions}
        negatives = rng.sample([i for i in ids if i not in touched], 9)
        past = History(user_id=h.user_id, interactions=h.interactions[:-1])
        scores = [scorer(past, dataset.catalog[c]) for c in [target, *negatives]]
        best = [i for i, s in enumerate(scores) if s == max(scores)]
        hits += (0 in best) / len(best)
    return hits / len(dataset.histories)


def profile_scorer(catalog: Catalog, keep: Callable[[Interaction], bool]):
    """Genres and tags of the kept interactions, as frequencies; an item scores their sum."""

    def score(history: History, item: Item) -> float:
        genres: Counter[str] = Counter()
        tags: Counter[str] = Counter()
        for x in history.interactions:
            if keep(x):
                genres.update(catalog[x.item_id].genres)
                tags.update(catalog[x.item_id].tags)
        n_g, n_t = sum(genres.values()) or 1, sum(tags.values()) or 1
        return sum(genres[g] for g in item.genres) / n_g + sum(tags[t] for t in item.tags) / n_t

    return score


def test_the_next_item_depends_on_the_taste_and_noise_hides_it(generated):
    dataset, tastes = generated
    catalog = dataset.catalog
    plays = Counter(x.item_id for h in dataset.histories for x in h.interactions)
    liked = lambda x: x.attrs["signal"] and x.event != "thumb_down"  # noqa: E731
    results = {
        "taste": accuracy(dataset, lambda h, item: tastes[h.user_id].affinity(item)),
        "signal": accuracy(dataset, profile_scorer(catalog, liked)),
        "everything": accuracy(dataset, profile_scorer(catalog, lambda x: x.event != "thumb_down")),
        "noise": accuracy(dataset, profile_scorer(catalog, lambda x: not x.attrs["signal"])),
        "popularity": accuracy(dataset, lambda h, item: plays[item.item_id]),
    }
    print(results)
    assert results["taste"] > 0.6
    assert results["signal"] > 0.4
    assert results["noise"] < 0.15 < results["signal"] - 0.25
    assert results["everything"] < results["signal"]  # filtering the noise pays
    assert results["popularity"] < 0.25


def test_taste_beats_popularity_on_leave_last_out_tasks(generated):
    dataset, tastes = generated
    examples, _ = build_examples(dataset, TaskConfig(seed=0))
    test = examples["test"]
    assert len(test) == len(dataset.histories)
    hits = 0
    for ex in test:
        assert ex.discovery and ex.target == dataset.histories[int(ex.user_id[1:])].item_ids()[-1]
        taste = tastes[ex.user_id]
        best = max(ex.candidates, key=lambda c: taste.affinity(dataset.catalog[c]))
        hits += best == ex.target
    assert hits / len(test) > 0.5  # popularity-drawn negatives: popularity alone is weak


def test_affinity_is_the_generators_score(generated):
    from toolkit.sources.synthetic.catalog import make_catalog
    from toolkit.sources.synthetic.tastes import taste_weights

    dataset, tastes = generated
    config = SyntheticConfig()
    titles = make_catalog(config)
    taste = tastes["u00000"]
    weights = taste_weights(config, titles, taste, 1.0, 0.0)
    by_python = [taste.affinity(item) for item in dataset.catalog]
    top = max(by_python)
    for w, a in zip(weights, by_python, strict=True):
        assert w == pytest.approx(2.718281828459045 ** (config.sharpness * (a - top)), rel=1e-9)


@pytest.mark.parametrize(
    "options",
    [
        {"genres": ["A", "B", "C", "D"], "tags": ["w", "x", "y", "z"], "shared_genres": ["D"]},
        {"n_films": 0, "n_series": 100, "shared_genres": []},
        {"n_films": 100, "n_series": 0, "history_length": [1, 1], "n_targets": 0},
        {"preview_rate": 0.5, "abandon_rate": 0.3, "shared_rate": 0.0, "binge_rate": 1.0},
    ],
)
def test_edge_configs_generate_well_formed_logs(options):
    config = make_config(n_users=30, seed=5, **options)
    data, tastes = generate(config)
    n = config.n_targets
    for h in data.histories:
        assert len(h) >= n and all(set(x.attrs) == ATTRS for x in h.interactions)
        assert all(a.timestamp < b.timestamp for a, b in pairwise(h.interactions))
        touched = {x.item_id for x in h.interactions[: len(h) - n]}
        for x in h.interactions[len(h) - n :]:
            assert x.attrs["signal"] and x.event == "play" and x.item_id not in touched
            touched.add(x.item_id)
        assert set(tastes[h.user_id].genres) <= set(config.genres)


def test_doctests():
    import doctest

    from toolkit.sources import synthetic
    from toolkit.sources.synthetic import tastes

    for module in (synthetic, tastes):
        assert doctest.testmod(module).failed == 0
