"""Fold concurrent reconcile requests for one object into as few runs as possible.

Watches on the ModelDeployment and on every child (pods included) all ask for a reconcile of
the owner. One runs at a time per object; requests arriving meanwhile become one more run
after it, so the last observed change is always seen and a burst costs two runs, not fifty.
"""

from collections.abc import Awaitable, Callable, Hashable


class Coalescer:
    def __init__(self) -> None:
        self._rerun: dict[Hashable, bool] = {}  # key -> another run was requested meanwhile

    async def run(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        if key in self._rerun:
            self._rerun[key] = True  # the running loop will go once more
            return
        self._rerun[key] = False
        try:
            while True:
                await work()
                if not self._rerun[key]:
                    return
                self._rerun[key] = False
        finally:
            del self._rerun[key]
