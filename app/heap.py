"""Keep the garbage collector's full passes off the objects a process builds once at start."""

from __future__ import annotations

import gc


def freeze() -> None:
    """Collect once, then move every object still alive into the permanent generation.

    A process's modules, its Flask or Celery set-up and SQLAlchemy's tables and compiled
    statements are hundreds of thousands of objects that live as long as the process, and
    Python's full (generation 2) collection walked every one of them with the GIL held:
    95-250 ms in a worker on the 2-core machine, during which that process sent nothing,
    and, when one of its claims held an endpoint's row lock, every other process's claims to
    that endpoint waited too (docs/reliability.md). Frozen, they are never walked again; a
    full collection walks only what was allocated since. Called once the process is ready
    (and again after it builds its connection pools), so a forked child shares them as well.
    """
    gc.collect()
    gc.freeze()
