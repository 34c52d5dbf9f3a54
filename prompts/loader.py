"""Load a prompt template by name, per domain, or from the user's own file or folder.

A name resolves to ``templates/<domain>/<name>.j2``, else ``templates/default/<name>.j2``;
``path`` overrides both: a file is the template itself, a folder is searched like the
built-in one (``<path>/<domain>/<name>.j2``, ``<path>/<name>.j2``) before the built-ins.
A domain with its own prompt folder (a domain folder's ``prompts/``) is searched the same
way when no ``path`` is given.
Templates are user-message texts (the caller applies the chat template) and render with
``StrictUndefined``: a missing variable is an error that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import VtkError

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
SUFFIX = ".j2"


class PromptError(VtkError):
    """A prompt that cannot be found or rendered; names the template and the variable."""


@dataclass(frozen=True)
class PromptTemplate:
    """A compiled prompt: ``render(**variables)`` gives the user-message text."""

    name: str
    source: str
    """The file the template came from."""
    template: jinja2.Template
    variables: frozenset[str]
    """Names the template reads (optional ones, guarded by ``is defined``, included)."""

    def render(self, **variables: Any) -> str:
        import jinja2

        try:
            return self.template.render(**variables).strip()
        except jinja2.UndefinedError as exc:
            expected = ", ".join(sorted(self.variables))
            raise PromptError(
                f"prompt {self.name!r} ({self.source}): {exc}; it reads: {expected}"
            ) from exc


def load_prompt(
    name: str, domain: str = "streaming", path: str | Path | None = None
) -> PromptTemplate:
    """The prompt ``name`` (``reasoner``, ``actions``, ``rewrite``, ``zero_shot``...) for
    ``domain``, or the user's template at ``path`` (a ``.j2`` file or a folder of them)."""
    if path is None:
        path = _domain_prompts(domain)
    if path is not None:
        path = Path(path)
        if path.is_file():
            return _compile(name, (str(path.parent.resolve()), str(TEMPLATES)), path.name)
        if not path.is_dir():
            raise PromptError(f"prompt {name!r}: no such file or folder: {path}")
        folders = (str(path / domain), str(path), *_builtin_folders(domain))
    else:
        folders = _builtin_folders(domain)
    return _compile(name, tuple(f for f in folders if Path(f).is_dir()), name + SUFFIX)


def _domain_prompts(domain: str) -> str | None:
    """The prompt folder of a domain defined outside vtk (None for the built-ins)."""
    if (TEMPLATES / domain).is_dir() or domain == "default":
        return None
    from actions.domains import get_domain

    try:
        return get_domain(domain).prompts
    except VtkError:
        return None  # an unknown domain: the default templates serve it


def list_prompts(domain: str | None = None) -> list[str]:
    """Names of the built-in prompts (for ``domain``: its own plus the defaults)."""
    folders = _builtin_folders(domain) if domain else (str(p) for p in TEMPLATES.iterdir())

    return sorted({p.stem for f in folders for p in Path(f).glob("*" + SUFFIX)})


def _builtin_folders(domain: str) -> tuple[str, ...]:
    # the root last, so that a domain template can ``{% extends "default/<name>.j2" %}``
    return (str(TEMPLATES / domain), str(TEMPLATES / "default"), str(TEMPLATES))


@lru_cache(maxsize=16)
def _environment(folders: tuple[str, ...]) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(folders)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def _compile(name: str, folders: tuple[str, ...], filename: str) -> PromptTemplate:
    import jinja2

    env = _environment(folders)
    try:
        template = env.get_template(filename)
    except jinja2.TemplateNotFound:
        known = ", ".join(list_prompts()) or "(none)"
        raise PromptError(
            f"no prompt {name!r}: {filename} is in none of {', '.join(folders) or '(no folder)'}; "
            f"built-in prompts: {known}"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"prompt {name!r}: {exc.filename}:{exc.lineno}: {exc.message}") from exc
    return PromptTemplate(name, template.filename or filename, template, _variables(env, filename))


def _variables(env: jinja2.Environment, filename: str) -> frozenset[str]:
    """Variables read by a template and those it extends or includes."""
    import jinja2.meta

    seen: set[str] = set()
    names: set[str] = set()
    todo = [filename]
    while todo:
        current = todo.pop()
        if current in seen or env.loader is None:
            continue
        seen.add(current)
        source, _, _ = env.loader.get_source(env, current)
        ast = env.parse(source)
        names |= jinja2.meta.find_undeclared_variables(ast)
        todo += [t for t in jinja2.meta.find_referenced_templates(ast) if t is not None]
    return frozenset(names)
