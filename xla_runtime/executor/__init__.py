"""The executor: ExecutionGraph (nodes + buffer-use edges), the scheduler, shared node kinds."""
from .executor import Frame, execute_graph, run_node
from .graph import BufferSlice, ExecutionGraph, Node
from .nodes import CallNode, ConditionalNode, WhileNode, drive
from .pool import WorkerPool, default_pool, in_worker

__all__ = ["BufferSlice", "ExecutionGraph", "Node", "Frame", "execute_graph", "run_node",
           "CallNode", "WhileNode", "ConditionalNode", "drive", "WorkerPool", "default_pool", "in_worker"]
