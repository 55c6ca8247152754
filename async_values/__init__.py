"""async_values: single-assignment values completed later, from any thread (TSL AsyncValue style).

    av = async_values.make_unconstructed()
    av.and_then(lambda: print("ready:", av.get()))   # runs once, on the completing thread
    av.emplace(42)                                    # or av.set_error(exc)
    await av                                          # in asyncio, trio or anyio code

Knows nothing of HLO; the runtime's executor completes one of these per node and per output.
"""
from .combinators import CountDownAsyncValue, join_all, run_when_ready
from .value import (AlreadyCompletedError, AsyncValue, Chain, IndirectAsyncValue, State,
                    make_available, make_constructed, make_error, make_indirect, make_ready_chain,
                    make_unconstructed)

__all__ = ["AsyncValue", "IndirectAsyncValue", "CountDownAsyncValue", "Chain", "State",
           "AlreadyCompletedError", "make_available", "make_error", "make_unconstructed",
           "make_constructed", "make_indirect", "make_ready_chain", "run_when_ready", "join_all"]
