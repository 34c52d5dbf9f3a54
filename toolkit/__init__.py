"""vtk: learned verbalization of interaction logs for LLM recommenders.

The import name is ``toolkit`` (``vtk`` belongs to an unrelated package); the console
script is ``vtk``. See DESIGN.md for how the packages fit together.
"""

__version__ = "0.1.0"
