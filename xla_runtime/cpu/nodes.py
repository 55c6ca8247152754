"""Native CPU nodes for the instructions fusion leaves alone.

Each module registers a factory with ``lowering_rule("cpu-node", opcode)``:
``factory(ins, operand_slots, out_slot, nbytes) -> Node | None`` (None: this instance is not
supported natively, the interpreter runs it as a counted fallback). Importing this module
registers them all.
"""
from . import dot  # noqa: F401
