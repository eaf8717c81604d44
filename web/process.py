"""A long-running process of the center, set for its run once it has started.

Made by each long-running entry point once it has started (`fablab serve`, each web worker, `fablab
bridge`), never by the tests, whose many short-lived apps must stay collectable: the start-up heap
is frozen. Python's cyclic collector walks every tracked object in each full pass. A started center
holds some 200,000 of them (modules, routes, templates, compiled statements, the demo's machines),
and a full pass over them took 130 ms here, stopping every thread of the process: a card tap
waiting behind it waits that long. `gc.freeze()` moves what exists at start-up out of the
collector's reach; the passes then walk only what came since.

(Letting threads take turns every 0.5 ms instead of 5 was tried for the tap under load and measured
no better, interleaved on PostgreSQL: p50 34.7 and 32.5 ms with it, 36.0 and 28.9 without; not kept.)
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle() -> None:
    """Collect what start-up left behind, then freeze the rest out of the collector's full passes."""
    gc.collect()
    gc.freeze()
    log.debug("process settled: %d objects frozen", gc.get_freeze_count())
