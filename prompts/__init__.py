"""Prompt templates (Jinja) for the verbalizers and the reasoner, per domain, by name.

>>> load_prompt("zero_shot", "streaming").render(history="2024-03-02, Kolya (1996), Play")[:30]
'2024-03-02, Kolya (1996), Play'
"""

from __future__ import annotations

from prompts.loader import TEMPLATES, PromptError, PromptTemplate, list_prompts, load_prompt

__all__ = ["TEMPLATES", "PromptError", "PromptTemplate", "list_prompts", "load_prompt"]
