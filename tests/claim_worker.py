"""A process racing for a device-month's kWh (tests/test_claims_pool_race.py).

    python -m tests.claim_worker DB_URL gec|inclusion MONTH BARRIER_FILE

Waits for the barrier file, makes its claim once, prints `ok` or the refusal's code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ledger.app import Ledger
from ledger.errors import LedgerError
from tests.support import wait_for_barrier


def main() -> None:
    db_url, kind, month, barrier = sys.argv[1:5]
    ledger = Ledger(db_url)
    print("ready", flush=True)
    wait_for_barrier(Path(barrier))
    try:
        if kind == "gec":
            ledger.issue_gec("RACE-PV", month, "acct:race-gen")
        else:
            ledger.issue_inclusion("RACE-PHCER", "distributed_pv", "acct:race-gen", device="RACE-PV", month=month)
        print("ok", flush=True)
    except LedgerError as e:
        print(e.code, flush=True)
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
