"""What a backend produces: an execution graph plus how arguments enter and results leave it."""
from __future__ import annotations

from typing import Sequence

from ..executor import ExecutionGraph


class Program:
    """Compiled form of one module on one backend.

    ``graph`` runs on a frame whose buffer table ``bind`` builds from the argument arrays;
    ``results`` reads the flattened result leaves back after the graph has finished. ``inline``
    says the whole execution is cheap enough to run inside execute() on the caller's thread.
    """
    graph: ExecutionGraph
    inline: bool = False
    numpy_nodes: bool = True      # some node runs NumPy code whose warnings must be silenced

    def bind(self, args: Sequence) -> list:
        raise NotImplementedError

    def results(self, buffers: list) -> list:
        raise NotImplementedError

    def context(self):
        """Per-execution backend state handed to nodes as frame.context (None by default)."""
        return None
