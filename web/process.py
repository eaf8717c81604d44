"""A long-running process of the center, set for its run once it has started.

Two settings of the interpreter, made by each long-running entry point once it has started
(`fablab serve`, each web worker, `fablab bridge`), never by the tests, whose many short-lived apps
must stay collectable:

- **The start-up heap is frozen.** Python's cyclic collector walks every tracked object in each full
  pass. A started center holds some 200,000 of them (modules, routes, templates, compiled
  statements, the demo's machines), and a full pass over them took 130 ms here, stopping every
  thread of the process: a card tap waiting behind it waits that long. `gc.freeze()` moves what
  exists at start-up out of the collector's reach; the passes then walk only what came since.
- **Threads take turns every 0.5 ms, not every 5.** A thread that waited on the database or the
  network needs the interpreter lock back to go on; while another thread is busy (reading 2,000
  telemetry messages a second off the broker), it waited up to the switch interval each time. A
  card tap's transaction makes some ten round trips to PostgreSQL, each ended by such a wait.
"""

from __future__ import annotations

import gc
import logging
import sys

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005


def settle() -> None:
    """Collect what start-up left behind, freeze the rest out of the collector's full passes, and let
    threads take turns more often."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    log.debug("process settled: %d objects frozen", gc.get_freeze_count())
