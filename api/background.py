"""Background loops of the servers (the projector, the publisher, a witness's chain cosigner).

They pause with short `time.sleep` steps, not with a timed `Event.wait`: a timed wait's deadline
is taken from a clock that `faketime` (the suite's moved-clock passes) shifts while the kernel's
does not, so such a wait may never end there. A relative sleep ends on time under any clock.
"""

from __future__ import annotations

import threading
import time

STEP = 0.05
"""The longest a stop request waits for a loop to notice it, in seconds."""


def pause(stop: threading.Event, seconds: float, wake: threading.Event | None = None) -> bool:
    """Sleep `seconds` unless `stop` (or `wake`, which is then cleared) is set first; True if
    the loop should go on."""
    slept = 0.0
    while not stop.is_set() and slept < seconds:
        if wake is not None and wake.is_set():
            wake.clear()
            break
        time.sleep(min(STEP, seconds - slept))
        slept += STEP
    return not stop.is_set()
