"""Failpoints: named places where a fault test kills the process for real, with SIGKILL.

A fault test starts a server or the relayer with `ONECLAIM_FAILPOINT=<name>`; when the process
reaches that place it dies at once, with no cleanup, exactly as a power cut would leave it. A
test then restarts it without the variable and shows that nothing was lost or done twice. The
places are the steps of a cross-region transfer (docs/transfers.md, "Crashes"):

    transfer.sent       the source saved a TransferOut, before it answers the holder
    transfer.decided    the destination saved its decision, before it publishes or answers
    transfer.published  the destination published a checkpoint over it, before it answers
    transfer.settled    the source saved the settlement, before it answers
    relay.fetched       the relayer holds a TransferOut's proof, before it delivers it
    relay.delivered     the destination answered the relayer, before it acknowledges

Unset (every production process), a failpoint is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "ONECLAIM_FAILPOINT"


def failpoint(name: str) -> None:
    """Die here, with SIGKILL, if this process was started to."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
