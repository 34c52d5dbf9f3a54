"""vtk's progress display: plain lines per tenth in a log, silent when off or empty."""

from __future__ import annotations

import io

from toolkit.progress import Bar


def test_a_log_gets_one_line_per_tenth():
    out = io.StringIO()
    with Bar(200, "actions", stream=out) as bar:
        for _ in range(100):
            bar.update(2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("actions: 20/200 ex (") and lines[-1].startswith("actions: 200/200")


def test_big_steps_print_once_and_the_end_is_always_shown():
    out = io.StringIO()
    with Bar(7, "bm25", stream=out) as bar:
        bar.update(5)
        bar.update(2)
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == [
        "bm25: 5/7 ex",
        "bm25: 7/7 ex",
    ]


def test_silent_when_disabled_or_empty():
    out = io.StringIO()
    with Bar(10, "x", stream=out, enabled=False) as bar:
        bar.update(10)
    with Bar(0, "y", stream=out) as bar:
        pass
    assert out.getvalue() == "" and bar.done == 0


def test_a_resumed_count_starts_where_it_was_and_lines_can_be_left_to_the_caller():
    out = io.StringIO()
    with Bar(10, "reasoner", stream=out, done=6) as bar:
        bar.update(1)
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == [
        "reasoner: 7/10 ex"  # the tenths before 6 were done before the resume
    ]
    out = io.StringIO()
    with Bar(4, "verbalizer", unit="step", stream=out, lines=False) as bar:
        bar.set(3)
        bar.echo("verbalizer: step 3/4  reward 0.500")
        bar.set(4)
    assert out.getvalue().splitlines() == ["verbalizer: step 3/4  reward 0.500"]
