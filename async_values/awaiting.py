"""``await value`` under asyncio and trio (and so under anyio on either backend).

The value may complete on any thread, so the wake-up is handed to the event loop through its
thread-safe entry point (asyncio's call_soon_threadsafe, trio's run_sync_soon). No polling.
"""
from __future__ import annotations

import asyncio
import sys


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():      # the awaiting task may have been cancelled meanwhile
        fut.set_result(None)


async def wait_available(av) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        fut = loop.create_future()

        def wake():
            try:
                loop.call_soon_threadsafe(_resolve, fut)
            except RuntimeError:   # loop closed: nobody is waiting any more
                pass
        av.and_then(wake)
        await fut
        return

    trio = sys.modules.get("trio")
    token = None
    if trio is not None:
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            token = None
    if token is not None:
        event = trio.Event()

        def wake_trio():
            try:
                token.run_sync_soon(event.set)
            except trio.RunFinishedError:
                pass
        av.and_then(wake_trio)
        await event.wait()
        return
    raise RuntimeError("awaiting an AsyncValue needs a running asyncio or trio event loop")
