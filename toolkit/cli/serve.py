"""``vtk serve``: a verbalizer and a reasoner behind a small HTTP API on one machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` pairs, values read as YAML (``top_logprobs=5`` is an int).

    >>> parse_options(("model=m", "concurrency=4"))
    {'model': 'm', 'concurrency': 4}
    """
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(
                f"{pair!r}: expected KEY=VALUE", param_hint="--reasoner-option"
            )
        options[key.strip()] = yaml.safe_load(value)
    return options


@click.command("serve")
@click.option(
    "--tasks",
    "tasks_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="A task folder: its catalog and domain are served.",
)
@click.option("--verbalizer", "verbalizer_name", default="template", show_default=True)
@click.option("--model", default=None, help="Verbalizer LLM (folder, adapter folder, 'embedded').")
@click.option(
    "--reasoner",
    "reasoner_name",
    default="llm",
    show_default=True,
    help="llm, embedding, openai, or a dotted path.",
)
@click.option("--reasoner-model", default=None, help="The llm reasoner's model.")
@click.option(
    "--reasoner-option",
    "reasoner_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Passed to the reasoner (e.g. model=..., base_url=... for openai).",
)
@click.option("--max-history", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8080, show_default=True)
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Verbalization store (default: the vtk cache folder's verbalizations/).",
)
@click.option("--no-cache", is_flag=True, help="Verbalize every request afresh.")
def command(
    tasks_dir: Path,
    verbalizer_name: str,
    model: str | None,
    reasoner_name: str,
    reasoner_model: str | None,
    reasoner_options: tuple[str, ...],
    max_history: int,
    host: str,
    port: int,
    cache: Path | None,
    no_cache: bool,
) -> None:
    """Serve POST /rerank (history + candidates -> ranking) and GET /health."""
    from toolkit.models import cache_dir
    from toolkit.reasoners import build_reasoner
    from toolkit.server import RerankService, make_server
    from toolkit.tasks import TaskSet
    from toolkit.verbalization_cache import maybe_cached
    from toolkit.verbalize import build_verbalizer

    tasks = TaskSet.load(tasks_dir, splits=())
    options = parse_options(reasoner_options)
    verbalizer = build_verbalizer(verbalizer_name, model=model, domain=tasks.domain)
    if not no_cache:
        verbalizer = maybe_cached(verbalizer, cache or cache_dir() / "verbalizations")
    reasoner = build_reasoner(
        reasoner_name, tasks.catalog, model=reasoner_model, domain=tasks.domain, options=options
    )
    service = RerankService(verbalizer, reasoner, tasks.catalog, max_history=max_history)
    server = make_server(service, host, port)
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"serving {verbalizer.name} + {reasoner.name} on http://{bound_host}:{bound_port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
