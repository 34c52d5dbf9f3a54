"""Re-measure the ML-100K table through the one pipeline, resumably: verbalizers x readers.

    python benchmarks/eval_bench.py TASKS --cache DIR [--verbalizers a,b] [--readers r,s]
        [--limit N] [--shifts 10] [--shard I/N] [--archive FILE.jsonl.gz] [--report OUT.json]

``TASKS`` is a task folder (``vtk data prepare movielens-100k ...``). Every verbalization
and every reader answer is put into a content-keyed store (``toolkit.cache``) as soon as it
exists, so the command can be killed and rerun at any point and never recomputes or reuses
a stale entry. Without ``--report`` it computes what is missing (examples in file order);
with ``--report`` it computes nothing new for the LLM rows (rule-based verbalizations are
remade, they cost milliseconds) and scores, per reader, the
examples every requested verbalizer has an answer for (it prints that n: a row is never
claimed for more users than it has). Each verbalizer row is compared with the template
row of the same reader and with popularity, paired over the same users (difference,
ratio-of-means change, paired p: exact McNemar on 0/1 hits, a sign-flip test on
BM25's tie credits). The LLM reader is asked under all 10 cyclic
shifts; k = 1, 2, 5 are read from subsets of those shifts for the first-position table.

The LLM rows cost ~8 s a question on 2 idle cores, more than one machine's life here, so:
``--shard I/N`` makes N processes (one thread each) share the work on one cache (each
generates the LLM verbalizations, zero-shot text, and the LLM answers of its own blocks,
block by block), and ``--archive`` carries the costly results between machines: the LLM
reader's answers, and for an LLM verbalization (zero-shot) a text-free summary of each row
(validity, compression) with every reader's answer to it, keyed by the row's content key and
the candidate order (the text quotes the data set, which is not ours to publish, so it is
never archived; a machine that has the archive scores those rows without generating them
again). The archive is loaded into the cache first and rewritten after every block and by
``--report`` (``ContentStore.export`` / ``load_archive``; entries are content-keyed, so an
archive from other weights, another prompt or another window is never used).
``benchmarks/archive/ml100k_test_llm_answers.jsonl.gz`` is the committed one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VERBALIZERS = ("template", "heuristic_actions", "heuristic_rewrite", "zero_shot")
READERS = ("bm25", "embedding", "llm")
BASELINES = ("random", "popularity", "cooccurrence")
FREE_TEXT_TOKENS = 96


def reader_identity(name: str, reasoner: Any) -> dict[str, Any]:
    """The LLM reader's own cache identity (``Reasoner.cache_identity``); the cheap readers,
    which the library does not cache, are named by their settings here."""
    ident = reasoner.cache_identity()
    if ident is not None:
        return ident
    ident = {"reader": name}
    for attr in ("unit", "recency", "item_fields", "stopwords"):
        if hasattr(reasoner, attr):
            ident[attr] = getattr(reasoner, attr)
    return ident


def question(vrow: dict[str, Any], episode: Any) -> Any:
    from toolkit.reasoners.base import ReasonerInput

    return ReasonerInput(vrow["text"], episode.example.candidates, episode.order)


def build_reader(name: str, tasks: Any, shifts: int) -> Any:
    from toolkit.reasoners import build_reasoner

    options = {"shifts": shifts} if name == "llm" else {}
    batch = shifts if name == "llm" else 64
    return build_reasoner(
        name, tasks.catalog, domain=tasks.domain, batch_size=batch, options=options
    )


def answers_for(
    store: Any,
    keys: list[str],
    compute: bool,
    reasoner: Any,
    episodes: list,
    vrows: list,
    chunk: int,
    log: Any,
) -> dict[str, dict[str, Any]]:
    """Cached answers by key; with ``compute`` the missing ones are asked and stored."""
    found = store.get_many(keys)
    if not compute:
        return found
    # a row known only by its archived summary has no text to ask about: left unanswered
    todo = [i for i, k in enumerate(keys) if k not in found and vrows[i]["text"] is not None]
    start = time.time()
    for done, s in enumerate(range(0, len(todo), chunk)):
        idx = todo[s : s + chunk]
        inputs = [question(vrows[i], episodes[i]) for i in idx]
        for i, a in zip(idx, reasoner.answer_batch(inputs), strict=True):
            value = a.to_json()
            store.put(keys[i], value)
            found[keys[i]] = value
        if done % 5 == 0:
            log(f"  {len(found)}/{len(keys)} answers ({time.time() - start:.0f} s)")
    return found


def cached_rows(
    store: Any, verbalizer: Any, episodes: list, catalog: Any, window: int
) -> tuple[list[str], list]:
    """The row key of each episode and its stored verbalization row (None where there is
    none); where only the row's text-free summary is stored (an archive from another
    machine), that summary with ``text`` None."""
    from toolkit.verbalize import row_key, verbalizer_identity

    ident = verbalizer_identity(verbalizer)
    keys = [
        row_key(ident, verbalizer, ep.example_id, ep.example.history, catalog, window)
        for ep in episodes
    ]
    found = store.get_many(keys)
    summaries = store.get_many(summary_key(k) for k in keys)
    rows = []
    for k in keys:
        row = found.get(k)
        if row is None and summary_key(k) in summaries:
            row = {**summaries[summary_key(k)], "text": None}
        rows.append(row)
    return keys, rows


SUMMARY_FIELDS = ("valid", "compression")


def rewrite_archive(store: Any, archive: Path, keys: list[str]) -> int:
    """Rewrite ``archive`` with the stored entries of ``keys`` and every entry it holds
    already (read back into the store first): a run that asks for fewer rows, or a second
    process on another cache, never shrinks it. Returns the number of entries written."""
    return store.export(archive, keys, merge=True)


def summary_key(row_key: str) -> str:
    """Where the text-free summary of an LLM verbalization (what a report reads of it: its
    validity and compression) is stored. The text itself is not archived: it quotes the data
    set (titles, ratings), which is not ours to publish."""
    from toolkit.cache import content_key

    return content_key(kind="row-summary", row=row_key)


def row_answer_key(reader: dict[str, Any], row_key: str, order: Any) -> str:
    """The key of a reader's answer to an LLM verbalization, by the row's content key and the
    episode's candidate order rather than by its text, so the answer outlives the text: the
    row key covers the example, window, weights, prompt, grammar and decoding."""
    from toolkit.cache import content_key

    return content_key(kind="row-answer", reader=reader, row=row_key, order=list(order))


def to_answer(value: dict[str, Any]) -> Any:
    from toolkit.reasoners.base import Answer

    return Answer.from_json(value)


def subset_answer(value: dict[str, Any], k: int) -> Any:
    """The LLM answer under k evenly spaced shifts, read from the stored 10."""
    from toolkit.reasoners.base import Answer

    shifts = value["meta"]["shift_scores"]
    n = len(shifts)
    pick_shifts = sorted({round(j * n / k) % n for j in range(k)})
    rows = [shifts[j] for j in pick_shifts]
    avg = [sum(c) / len(c) for c in zip(*rows, strict=True)]
    pick = max(range(len(avg)), key=avg.__getitem__)
    order = value["meta"]["order"]
    return Answer(pick=pick, scores=avg, meta={"shown_position": order.index(pick)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", type=Path)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--verbalizers", default=",".join(VERBALIZERS))
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-history", type=int, default=20)
    parser.add_argument("--shifts", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--block", type=int, default=16, help="examples per round of rows")
    parser.add_argument(
        "--shard",
        default="0/1",
        help="I/N: compute only every N-th block, starting at block I (run N processes side by"
        " side, one thread each, on one cache)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--report", type=Path, help="score what is cached; write JSON here")
    parser.add_argument(
        "--archive",
        type=Path,
        help="a gzipped archive of the cached LLM answers (ContentStore.export): loaded into"
        " --cache first, rewritten after every block (and by --report), so a run continues on"
        " another machine",
    )
    parser.add_argument(
        "--cached-only", action="store_true", help="read only cached verbalizations (no LLM)"
    )
    args = parser.parse_args()

    from toolkit.cache import ContentStore
    from toolkit.episodes import build_episodes
    from toolkit.pipeline import first_position_share, score, verbalize
    from toolkit.reasoners import answer_key
    from toolkit.tasks import TaskSet
    from toolkit.verbalize import build_verbalizer

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    tasks = TaskSet.load(args.tasks, splits=("train", "test"))
    examples = tasks.split("test")[: args.limit]
    episodes = build_episodes(examples, window=args.max_history, seed=args.seed)
    store = ContentStore(args.cache)
    if args.archive is not None and args.archive.exists():
        log(f"{args.archive}: {store.load_archive(args.archive)} entries new to {args.cache}")
    verbalizers = [v for v in args.verbalizers.split(",") if v]
    readers = [r for r in args.readers.split(",") if r]
    compute = args.report is None
    block = args.block if compute else len(episodes)
    shard, shards = (int(x) for x in args.shard.split("/"))
    if not 0 <= shard < shards:
        parser.error(f"--shard {args.shard}: need I/N with 0 <= I < N")
    starts = list(range(0, len(episodes), max(block, 1)))
    if compute:
        starts = starts[shard::shards]
    built = {r: build_reader(r, tasks, args.shifts) for r in readers}
    native = {r: built[r].cache_identity() for r in readers}  # the LLM's: a weights hash
    idents = {r: native[r] or reader_identity(r, built[r]) for r in readers}
    costly = [r for r in readers if native[r] is not None]  # the LLM reader
    vrows: dict[str, list[dict[str, Any] | None]] = {}
    rkeys: dict[str, list[str]] = {}  # the LLM verbalizers' row keys
    llms: dict[str, Any] = {}  # the LLM verbalizers: their rows are made block by block
    for name in verbalizers:
        t0 = time.time()
        free = FREE_TEXT_TOKENS if name == "zero_shot" else None
        verbalizer = build_verbalizer(
            name, domain=tasks.domain, batch_size=args.chunk, seed=args.seed, max_new_tokens=free
        )
        from toolkit.verbalizers.base import LLMVerbalizer

        rules = not isinstance(verbalizer, LLMVerbalizer)  # cheap: made even for --report
        rows: list[dict[str, Any] | None]
        if rules:
            rows = verbalize(
                episodes,
                tasks.catalog,
                verbalizer,
                store=store,
                batch_size=args.chunk,
                progress=True,
            )
        else:  # what is stored now; the rest is made block by block (``make_rows``)
            llms[name] = verbalizer
            rkeys[name], rows = cached_rows(
                store, verbalizer, episodes, tasks.catalog, args.max_history
            )
            for i, row in enumerate(rows if compute else []):
                if row is not None and row["text"] is None:  # a summary missing an answer:
                    keys = [  # the row is made again
                        row_answer_key(idents[r], rkeys[name][i], episodes[i].order)
                        for r in readers
                    ]
                    if len(store.get_many(keys)) < len(keys):
                        rows[i] = None
        vrows[name] = rows
        have = sum(r is not None for r in vrows[name])
        log(f"{name}: {have}/{len(episodes)} verbalizations ({time.time() - t0:.0f} s)")

    def make_rows(name: str, span: range) -> None:
        """The LLM verbalizer's missing rows of a block (generated and stored, with the
        text-free summary that outlives them on another machine)."""
        rows = vrows[name]
        todo = [i for i in span if rows[i] is None]
        if not todo or not compute or args.cached_only:
            return
        t0 = time.time()
        made = verbalize(
            [episodes[i] for i in todo],
            tasks.catalog,
            llms[name],
            store=store,
            batch_size=args.chunk,
        )
        for i, row in zip(todo, made, strict=True):
            rows[i] = row
        for i in span:
            if rows[i] is not None and rows[i]["text"] is not None:
                key = summary_key(rkeys[name][i])
                if store.get(key) is None:
                    store.put(key, {f: rows[i].get(f) for f in SUMMARY_FIELDS})
        have = sum(r is not None for r in rows)
        log(f"{name}: {have}/{len(episodes)} verbalizations ({time.time() - t0:.0f} s)")

    def key_of(rname: str, vname: str, i: int) -> str:
        if vname in rkeys:  # an LLM verbalization: by its row key (its text is not archived)
            return row_answer_key(idents[rname], rkeys[vname][i], episodes[i].order)
        return answer_key(idents[rname], built[rname], question(vrows[vname][i], episodes[i]))

    archived = [  # what the archive carries: the costly readers' answers to every row, and
        # for LLM verbalizations their summaries and every reader's answers
        key_of(r, v, i)
        for v in verbalizers
        for r in readers
        if r in costly or v in rkeys
        for i in range(len(episodes))
        if v in rkeys or vrows[v][i] is not None
    ] + [summary_key(k) for v in rkeys for k in rkeys[v]]
    answers: dict[tuple[str, str], list[dict[str, Any] | None]] = {}
    for lo in starts:  # example-major: n grows for every row
        span = range(lo, min(lo + block, len(episodes)))
        for name in llms:
            make_rows(name, span)
        for rname in readers:
            for vname in verbalizers:
                rows = vrows[vname]
                ok = [i for i in span if rows[i] is not None]
                keys = [key_of(rname, vname, i) for i in ok]
                t0 = time.time()
                found = answers_for(
                    store,
                    keys,
                    compute or rname not in costly,  # cheap readers: even for --report
                    built[rname],
                    [episodes[i] for i in ok],
                    [rows[i] for i in ok],
                    args.chunk,
                    log,
                )
                out = answers.setdefault((rname, vname), [None] * len(episodes))
                for i, k in zip(ok, keys, strict=True):
                    out[i] = found.get(k)
                have = sum(a is not None for a in out)
                log(f"{vname}+{rname}: {have}/{len(episodes)} answers ({time.time() - t0:.0f} s)")
        if args.archive is not None and archived:  # after --report too: all that is cached
            log(f"{args.archive}: {rewrite_archive(store, args.archive, archived)} entries")
    if args.report is None:
        return 0
    doc = report(
        args, tasks, episodes, verbalizers, readers, vrows, answers, score, first_position_share
    )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(doc, indent=1, default=str))
    print("\n".join(markdown(doc)))
    log(f"wrote {args.report}")
    return 0


def _ci(m: dict[str, Any] | None, signed: bool = False) -> str:
    if not m or m.get("value") is None:
        return "–"
    f = "{:+.3f}" if signed else "{:.3f}"
    if m.get("lo") is None or m.get("hi") is None:
        return f.format(m["value"])
    return f"{f.format(m['value'])} [{f.format(m['lo'])}, {f.format(m['hi'])}]"


def _pct(m: dict[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "undefined"
    v, lo, hi = m["value"], m.get("lo"), m.get("hi")
    text = f"{v:+.0%}"
    if lo is not None and hi is not None:
        text += f" [{lo:+.0%}, {hi:+.0%}]"
    return text.replace("inf%", "inf")


def _vs(c: dict[str, Any] | None) -> str:
    if not c or c.get("p_value") is None:  # no user to compare on
        return "–"
    return f"{_ci(c['diff'], True)}; {_pct(c['change'])}; p={c['p_value']:.2g}; {c['verdict']}"


def markdown(doc: dict[str, Any]) -> list[str]:
    """The RESULTS.md tables of a report."""
    lines = [
        "| row | reader | n | Recall@1 [95% CI] | vs template, same reader: Δ; change; paired p;"
        " verdict | vs popularity: Δ; change; p; verdict | compression |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {r.get('verbalizer', r['name'])} | {r['reader']} | {r['n']} | "
            f"{_ci(r['recall@1'])} | {_vs(r.get('vs_template'))} | "
            f"{_vs(r.get('vs_popularity'))} | "
            + ("–" if r.get("compression") is None else f"{r['compression']:.2f}")
            + " |"
        )
    llm = [r for r in doc["rows"] if r["reader"] == "llm"]
    if llm:
        lines += [
            "",
            "| row | n | position-fair Recall@1 | single-order Recall@1 | first slot, fair |"
            " first slot, single order |",
            "|---|---|---|---|---|---|",
        ]
        for r in llm:
            lines.append(
                f"| {r['verbalizer']} | {r['n']} | {_ci(r['recall@1'])} | "
                f"{_ci(r.get('single_order_recall@1'))} | "
                f"{r['first_position_share']:.1%} | {r['single_order_first_position_share']:.1%} |"
            )
    if doc.get("positions"):
        lines += [
            "",
            "| verbalizer | k shifts | n | first-slot share | Recall@1 |",
            "|---|---|---|---|---|",
        ]
        for p in doc["positions"]:
            lines.append(
                f"| {p['verbalizer']} | {p['k']} | {p['n']} | {p['first_position_share']:.1%} |"
                f" {p['recall@1']:.3f} |"
            )
    return lines


def report(args, tasks, episodes, verbalizers, readers, vrows, answers, score, fps) -> dict:
    from toolkit.baselines import BASELINES as REGISTRY
    from toolkit.evaluation import RECALL, summarize
    from toolkit.stats import paired_comparison

    nb, seed = args.n_boot, args.seed
    train = tasks.split("train")
    hits_base: dict[str, list[float]] = {}
    rows: list[dict[str, Any]] = []
    for name in BASELINES:
        model = REGISTRY.get(name)(seed=seed).fit(train, tasks.catalog)
        outs = score(
            episodes,
            [
                to_answer({"pick": None, "scores": s, "meta": {}})
                for s in model.score_batch([ep.example for ep in episodes])
            ],
        )
        hits_base[name] = [o.hit for o in outs]
        res = summarize(name, outs, n_boot=nb, seed=seed)
        rows.append(
            {"name": name, "reader": "-", "n": res.n, "recall@1": res.metrics[RECALL].to_json()}
        )
    positions: list[dict[str, Any]] = []
    for rname in readers:
        complete = [
            i
            for i in range(len(episodes))
            if all(answers[(rname, v)][i] is not None for v in verbalizers)
        ]
        eps = [episodes[i] for i in complete]
        per_v: dict[str, list[float]] = {}
        for vname in verbalizers:
            vals = [answers[(rname, vname)][i] for i in complete]
            valid = [bool(vrows[vname][i]["valid"]) for i in complete]
            ans = [to_answer(v) for v in vals]
            outs = score(eps, ans, valid)
            per_v[vname] = [o.hit for o in outs]
            res = summarize(f"{vname}+{rname}", outs, n_boot=nb, seed=seed)
            row = {
                "name": res.name,
                "reader": rname,
                "verbalizer": vname,
                "n": res.n,
                "recall@1": res.metrics[RECALL].to_json(),
                "compression": _mean([vrows[vname][i].get("compression") for i in complete]),
                "valid_rate": _mean([float(v) for v in valid]),
                "first_position_share": fps(ans),
            }
            if rname == "llm" and ans:
                single = score(eps, ans, valid, single_order=True)
                sres = summarize("single", single, n_boot=nb, seed=seed)
                row["single_order_recall@1"] = sres.metrics[RECALL].to_json()
                row["single_order_first_position_share"] = fps(ans, "single_shown_position")
                for k in (1, 2, 5, 10):
                    sub = [subset_answer(v, k) for v in vals]
                    kres = summarize("k", score(eps, sub, valid), n_boot=0)
                    positions.append(
                        {
                            "verbalizer": vname,
                            "k": k,
                            "n": len(sub),
                            "first_position_share": fps(sub),
                            "recall@1": kres.metrics[RECALL].value,
                        }
                    )
            pops = [hits_base["popularity"][i] for i in complete]
            row["vs_popularity"] = paired_comparison(
                per_v[vname], pops, n_boot=nb, seed=seed
            ).to_json()
            if vname != "template" and "template" in per_v:
                row["vs_template"] = paired_comparison(
                    per_v[vname], per_v["template"], n_boot=nb, seed=seed
                ).to_json()
            rows.append(row)
    return {
        "tasks": str(args.tasks),
        "split": "test",
        "window": args.max_history,
        "n_episodes": len(episodes),
        "shifts": args.shifts,
        "seed": seed,
        "rows": rows,
        "positions": positions,
    }


def _mean(values: list) -> float | None:
    clean = [float(v) for v in values if v is not None]
    return sum(clean) / len(clean) if clean else None


if __name__ == "__main__":
    raise SystemExit(main())
