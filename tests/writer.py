"""A writer process for the crash and concurrency tests.

    python -m tests.writer DB_URL PREFIX COUNT

Registers devices and records readings, one command per transaction, printing
`ack <device> <version>` after each command returns (i.e. after its commit), and signing a
checkpoint every 25 commands with the key in $ONECLAIM_TEST_SIGNER.
"""

from __future__ import annotations

import os
import sys

from ledger.app import Ledger
from ledger.tlog.note import Signer
from tests.support import OWNER, month

ORIGIN = "oneclaim.test/log"


def main() -> None:
    db_url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    signer = Signer.from_private_key_string(os.environ["ONECLAIM_TEST_SIGNER"])
    ledger = Ledger(db_url)
    done = 0
    device = 0
    print("ready", flush=True)
    while done < count:
        code = f"{prefix}-{device}"
        ledger.register_device(code, "distributed_pv", 50, "江苏", "苏州", OWNER, "2024-01-01")
        print(f"ack {code} 1", flush=True)
        done += 1
        for m in range(1, 13):
            if done >= count:
                break
            version = ledger.record_reading(code, *month(2025, m), 1_000 + m)
            print(f"ack {code} {version}", flush=True)
            done += 1
            if done % 25 == 0:
                ledger.sign_checkpoint(signer, ORIGIN)
        device += 1
    ledger.sign_checkpoint(signer, ORIGIN)
    ledger.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
