"""``python -m toolkit.cli``: the ``vtk`` command (what ``accelerate launch -m`` needs)."""

from toolkit.cli import entry

if __name__ == "__main__":
    entry()
