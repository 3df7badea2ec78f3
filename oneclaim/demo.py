"""`oneclaim demo`: a year of Suzhou Industrial Park's registry on the embedded default.

The figures follow the seeds: SIP plans 470 MW of PV at about 1,000 full-load hours a year
(seed 004), with 700+ PV projects and 230+ companies in its carbon-inclusion programme (seed 000).
The demo registers generators, consumers and a trader with their accounts and a few hundred
rooftop PV systems, then runs the monthly cycle for 2025: meter data is imported, GECs are
issued (1 per MWh, the rest carried over), consumers buy GECs and retire them for
green-electricity claims, a resale is refused (a GEC is sold once), and carbon-inclusion credits
for EV charging are issued and retired. A checkpoint is signed every month. At the end,
unsold January GECs expire on 2027-01-01, and the database and an exported audit bundle are
verified.
"""

from __future__ import annotations

import json
import random
import tempfile
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from ledger.app import Ledger
from ledger.database import EVENTS_TABLE, dialect
from ledger.errors import LedgerError
from ledger.personal import is_commitment
from ledger.tlog import audit, reference, trust
from ledger.tlog.note import parse_verifier_key
from oneclaim.home import Home

ORIGIN = "oneclaim.local/suzhou-sip"
YEAR = 2025
FULL_LOAD_HOURS = 1_000  # seed 004: 470 MW -> 470 GWh a year
# Monthly share of annual PV yield in the Yangtze delta (per mille; sums to 1000).
MONTHLY_SHARE = [58, 64, 78, 90, 100, 96, 108, 112, 92, 80, 64, 58]
DISTRICTS = ["金鸡湖", "独墅湖", "阳澄湖", "斜塘", "娄葑", "唯亭", "胜浦"]
GENERATORS = [
    ("SIP-PV-OPS-1", "园区屋顶光伏一号运营商"),
    ("SIP-PV-OPS-2", "园区屋顶光伏二号运营商"),
    ("SIP-PV-OPS-3", "园区分布式能源公司"),
]
CONSUMERS = [
    ("SIP-FAB-01", "园区半导体制造企业"),
    ("SIP-BIO-02", "园区生物医药企业"),
    ("SIP-DC-03", "园区数据中心"),
    ("SIP-AUTO-04", "园区汽车零部件企业"),
]
GREEN_POWER = "GP-2025-SIP-0001"
TRADER = ("SZ-GREEN-TRADE", "苏州绿证交易服务商")


def account_of(code: str) -> str:
    return "acct:" + code.lower()


YEAR_CLOSED = date(YEAR + 1, 1, 31)
"""The day the year's last sales and retirements are recorded."""


def sold_on(month: int) -> date:
    """When a month's GECs are sold and retired in the demo: the 10th of the month after (GECs
    exist only once their production month has ended)."""
    return date(YEAR + month // 12, month % 12 + 1, 10)


def month_bounds(month: int) -> tuple[str, str]:
    end_year, end_month = (YEAR + 1, 1) if month == 12 else (YEAR, month + 1)
    return f"{YEAR}-{month:02d}-01T00:00:00+08:00", f"{end_year}-{end_month:02d}-01T00:00:00+08:00"


def run_demo(home: Home, *, devices: int = 300, console: Console | None = None) -> bool:
    console = console or Console()
    rng = random.Random(20250101)
    if home.initialised:
        raise LedgerError(
            f"{home.path} already holds a ledger: run `oneclaim demo --reset` to start the demo"
            " afresh, or point ONECLAIM_HOME at an empty folder",
            code="DEMO_HOME_NOT_EMPTY",
        )
    home.init(ORIGIN)
    (home.path / "DEMO").touch()  # lets `--reset` know this folder is the demo's own
    witnesses = _Witnesses(home, console)
    try:
        return _run(home, devices, console, rng, witnesses)
    finally:
        witnesses.stop()


def _run(home: Home, devices: int, console: Console, rng: random.Random, witnesses: _Witnesses) -> bool:
    ledger = home.ledger()
    signer = home.signer()
    policy = home.policy()
    stats = {"transfers": 0, "retirements": 0, "refused_resales": 0, "gec": 0, "green_power_mwh": 0}
    anchors = _Anchors(home, ledger, console)
    try:
        console.print(f"[bold]OneClaim demo[/]: {ORIGIN}, {devices} distributed-PV systems, {YEAR}")
        fleet = [
            (f"SIP-PV-{i + 1:04d}", GENERATORS[i % 3][0], rng.choice([60, 120, 250, 400, 800, 1_200, 2_000]))
            for i in range(devices)
        ]
        _register(ledger, fleet, rng, console)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("monthly cycle", total=12)
            for month in range(1, 13):
                _month(ledger, fleet, month, rng, stats)
                witnesses.published(ledger.publish_checkpoint(signer, ORIGIN, policy))  # signed, then cosigned
                anchors.once()  # the month's checkpoint, on chain, proven consistent with the last
                bar.advance(task)
        console.print(
            f"Issued {stats['gec']:,} GECs over 12 months; {stats['transfers']} transfers to consumers"
            f" and the trader; {stats['retirements']} retirements (核销);"
            f" {stats['refused_resales']} resales refused (a GEC is sold once); {stats['green_power_mwh']} MWh of"
            f" green power settled month by month under {GREEN_POWER}, its GECs moved to the consumer"
        )
        _inclusion(ledger, console)
        _double_sale(ledger, fleet, console)
        _one_claim(ledger, fleet, console)
        ledger.sign_checkpoint(signer, ORIGIN)
        _case(ledger, fleet, console)
        _offshore_ccer(ledger, console)
        _expiry(ledger, console)
        _inventory(ledger, fleet, console)
        _show_provenance(ledger, console)
        _over_http(home, ledger, console)
        _cross_region(home, ledger, console, witnesses)
        _enterprise(home, ledger, console, witnesses)
        witnesses.published(ledger.publish_checkpoint(signer, ORIGIN, policy))  # the head, witnessed...
        anchors.once()  # ...then anchored; its Anchored record is covered by a last checkpoint
        witnesses.published(ledger.publish_checkpoint(signer, ORIGIN, policy))
        witnesses.cosign_on_chain(anchors)  # the partners vouch on chain for the anchor they witnessed
        size, _, root = ledger.log.head()
        console.print(f"Log: {size:,} events, {len(ledger.log.checkpoints())} checkpoints; root {root.hex()[:16]}…")
        console.print(f"[bold]Current checkpoint[/], cosigned by the witnesses ({witnesses.summary()}):")
        console.print(ledger.log.current_checkpoint().note, markup=False, end="", soft_wrap=True)
        proof = ledger.log.inclusion_proof(size // 2)
        console.print(
            f"Inclusion proof for event {size // 2}: {len(proof.hashes)} hashes at tree size {proof.tree_size}"
        )
    except BaseException:
        from oneclaim.anchor_cli import managed_chain

        managed_chain(home).down()
        raise
    finally:
        ledger.close()
    return _verify(home, console) and witnesses.verify() and anchors.verify(witnesses)


class _Witnesses:
    """Two partner registries witness the Suzhou log: a Chuzhou and a Jiaxing witness, each its
    own process and data directory, under a 2-of-2 policy (C2SP tlog-witness, tlog-policy)."""

    PARTNERS = (("chuzhou", "witness.chuzhou.example/oneclaim"), ("jiaxing", "witness.jiaxing.example/oneclaim"))

    def __init__(self, home: Home, console: Console) -> None:
        from contextlib import ExitStack

        from ledger.tlog.witness import Witness
        from oneclaim.serve_cli import serving_witness

        self.home, self.console, self.stack = home, console, ExitStack()
        self.policy_file = home.path / "policy-for-auditors.txt"
        self.rounds = self.published_rounds = 0
        self.addresses: dict[str, str] = {}  # partner -> EVM address, once it has a chain key
        lines = [f"log {home.verifier_key()}"]
        for partner, name in self.PARTNERS:
            directory = home.path / "witnesses" / partner
            Witness.init(directory, name)
            witness = Witness(directory)
            witness.add_log(ORIGIN, home.verifier_key())
            vkey = witness.verifier_key
            witness.close()
            url = self.stack.enter_context(serving_witness(directory))
            lines.append(f"witness {partner} {vkey} {url}")
        lines += [f"group partners all {' '.join(p for p, _ in self.PARTNERS)}", "quorum partners"]
        home.policy_path.write_text("\n".join(lines) + "\n")
        # what an auditor keeps: the same keys and quorum, without the witnesses' addresses
        unaddressed = [" ".join(line.split()[:3]) if line.startswith("witness ") else line for line in lines]
        self.policy_file.write_text("\n".join(unaddressed) + "\n")
        console.print(
            f"Witnesses up: {', '.join(f'{p} ({n})' for p, n in self.PARTNERS)}, each its own process;"
            " policy: 2 of 2 must cosign a checkpoint before it is published"
        )

    def published(self, publication) -> None:
        self.rounds += 1
        self.published_rounds += publication.published
        self.last = publication
        if not publication.published:
            self.console.print(f"[yellow]{publication.code}[/]: {publication.message}", markup=True)

    def summary(self) -> str:
        return f"{self.published_rounds} of {self.rounds} checkpoints published with the quorum met"

    def verify(self) -> bool:
        """`oneclaim audit verify --policy`, as an auditor holding the policy runs it."""
        import subprocess
        import sys

        done = subprocess.run(
            [sys.executable, "-m", "oneclaim", "audit", "verify", "--policy", str(self.policy_file),
             "--home", str(self.home.path)],
            capture_output=True, text=True,
        )  # fmt: skip
        self.console.print(f"[bold]oneclaim audit verify --policy {self.policy_file.name}[/]:")
        self.console.print((done.stdout + done.stderr).rstrip(), markup=False, soft_wrap=True)
        return done.returncode == 0

    def cosign_on_chain(self, anchors: _Anchors) -> None:
        """Each partner's witness gets an EVM account (funded by the managed chain's admin, and
        granted as a witness), then cosigns on chain the latest anchor, which it cosigned off chain."""
        from eth_account import Account

        from anchoring.witnessing import configure, cosign_anchors, settings
        from ledger.tlog.witness import Witness

        self.addresses = {}
        for partner, _ in self.PARTNERS:
            directory = self.home.path / "witnesses" / partner
            account = Account.create()
            anchors.service.w3.eth.send_transaction(
                {"from": anchors.config["admin"], "to": account.address, "value": 10**17}
            )
            self.addresses[partner] = configure(directory, anchors.status.rpc_url, anchors.config["contract"],
                                                account.key.hex())  # fmt: skip
            anchors.service.registry.grant_witness(account.address, sender=anchors.config["admin"])
            witness = Witness(directory)
            try:
                done = cosign_anchors(witness, settings(directory))
            finally:
                witness.close()
            actions = "; ".join(f"anchor {d['tree_size']}: {d['action']}" for d in done)
            self.console.print(f"{partner}'s witness ({account.address}): {actions}", markup=False)

    def stop(self) -> None:
        self.stack.close()


def _register(ledger: Ledger, fleet: list, rng: random.Random, console: Console) -> None:
    ledger.add_participant("SIP-REGISTRY", "苏州工业园区碳普惠登记机构", "registry", "江苏", "苏州")
    for code, name in GENERATORS:
        ledger.add_participant(code, name, "generator", "江苏", "苏州")
        ledger.open_account(account_of(code), code)
    for code, name in CONSUMERS:
        ledger.add_participant(code, name, "consumer", "江苏", "苏州")
        ledger.open_account(account_of(code), code)
    ledger.add_participant(TRADER[0], TRADER[1], "trader", "江苏", "苏州")
    ledger.open_account(account_of(TRADER[0]), TRADER[0])
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("registering devices (建档立卡)", total=len(fleet))
        for code, owner, capacity_kw in fleet:
            ledger.register_device(
                code,
                "distributed_pv",
                capacity_kw,
                "江苏",
                f"苏州工业园区/{rng.choice(DISTRICTS)}",
                owner,
                f"{YEAR - rng.randrange(1, 6)}-0{rng.randrange(1, 10)}-15",
            )
            bar.advance(task)
    code, owner, capacity_kw = fleet[0]  # 绿电交易: a consumer buys green power from the first system
    monthly = {
        f"{YEAR}-{m:02d}": max(1, capacity_kw * FULL_LOAD_HOURS * MONTHLY_SHARE[m - 1] * 6 // 10 // 1_000_000)
        for m in range(1, 13)
    }
    ledger.sign_contract(GREEN_POWER, code, account_of(owner), account_of(CONSUMERS[1][0]), monthly)
    console.print(
        f"Registered 9 participants with their accounts and {len(fleet)} PV systems; {CONSUMERS[1][0]} signed"
        f" green-power contract {GREEN_POWER} for {sum(monthly.values())} MWh of {code}'s output in {YEAR}"
    )


def _month(ledger: Ledger, fleet: list, month: int, rng: random.Random, stats: dict) -> None:
    start, end = month_bounds(month)
    rows = []
    for line, (code, _owner, capacity_kw) in enumerate(fleet, start=2):
        mean = capacity_kw * FULL_LOAD_HOURS * MONTHLY_SHARE[month - 1] // 1000
        generated = max(0, int(rng.gauss(mean, mean * 0.08)))
        self_used = generated * rng.randrange(0, 30) // 100
        rows.append(
            {
                "line": line,
                "device": code,
                "start": start,
                "end": end,
                "on_grid_kwh": generated - self_used,
                "self_consumed_kwh": self_used,
            }
        )
    ledger.import_readings(rows)
    label = f"{YEAR}-{month:02d}"
    for code, owner, _kw in fleet:
        for batch in ledger.issue_gec(code, label, account_of(owner)):
            stats["gec"] += batch.quantity
            if not batch.tradable or code == fleet[0][0] or rng.random() > 0.35:
                continue  # the contracted system's GECs go to its consumer by settlement
            buyer = rng.choice(CONSUMERS + [TRADER])[0]
            quantity = max(1, batch.quantity * rng.randrange(50, 101) // 100)
            ledger.transfer(batch.code, account_of(owner), account_of(buyer), quantity=quantity, on=sold_on(month))
            stats["transfers"] += 1
            if buyer == TRADER[0]:
                try:  # the trader tries to sell on: refused, a GEC is sold once
                    ledger.transfer(
                        batch.code, account_of(buyer), account_of(CONSUMERS[0][0]), quantity=1, on=sold_on(month)
                    )
                except LedgerError as e:
                    assert e.code == "ALREADY_SOLD", e
                    stats["refused_resales"] += 1
            elif month % 3 == 0 or rng.random() < 0.3:
                ledger.retire(
                    batch.code,
                    account_of(buyer),
                    beneficiary=buyer,
                    purpose="green_consumption_claim",
                    reporting_period=str(YEAR),
                    location="江苏省苏州市工业园区",
                    quantity=quantity,
                    on=sold_on(month),
                )
                stats["retirements"] += 1
    contracted = ledger.contract(GREEN_POWER).monthly_mwh[label]  # 月结月清: settled on the 10th of the next month
    consumption = contracted * 1_000 * rng.randrange(80, 121) // 100
    stats["green_power_mwh"] += ledger.settle(GREEN_POWER, label, consumption, on=sold_on(month))["settled_mwh"]


def _inclusion(ledger: Ledger, console: Console) -> None:
    ledger.establish_programme(
        "SIP-PHCER", "苏州工业园区碳普惠", "江苏/苏州工业园区", ["distributed_pv", "ev_charging"], "SIP-2020-PURCHASED"
    )
    batch = ledger.issue_inclusion(
        "SIP-PHCER",
        "ev_charging",
        account_of(CONSUMERS[2][0]),
        subject="SIP-EV-HUB-01",
        period=f"{YEAR}",
        kg_co2e=1_795_000,
    )
    retirement = ledger.retire(
        batch.code,
        account_of(CONSUMERS[2][0]),
        beneficiary=CONSUMERS[2][0],
        purpose="carbon_neutrality",
        reporting_period=str(YEAR),
        location="江苏省苏州市工业园区",
        quantity=1_000_000,
        on=YEAR_CLOSED,
    )
    console.print(
        f"Carbon inclusion: {batch.quantity:,} kgCO2e for EV charging issued as {batch.code};"
        f" 1,000 t retired as {retirement}"
    )


def _double_sale(ledger: Ledger, fleet: list, console: Console) -> None:
    code, owner, _ = fleet[0]
    batch = f"GEC-{YEAR}12-{code}-T"
    try:
        held = ledger.batch(batch).held_by(account_of(owner)).get("active", 0)
        if held:
            ledger.retire(
                batch,
                account_of(owner),
                beneficiary=owner,
                purpose="voluntary",
                reporting_period=str(YEAR),
                location="苏州",
                quantity=held,
                on=YEAR_CLOSED,
            )
        ledger.transfer(batch, account_of(owner), account_of(CONSUMERS[0][0]), quantity=1, on=YEAR_CLOSED)
    except LedgerError as e:
        console.print(f"A transfer of retired units is refused: {e.code}: {e.message}")


def _one_claim(ledger: Ledger, fleet: list, console: Console) -> None:
    """One MWh, one claim: carbon-inclusion credits for electricity that already has GECs are refused."""
    code, owner = "SIP-PV-DUAL-01", GENERATORS[0][0]
    ledger.register_device(
        code, "distributed_pv", 400, "江苏", "苏州工业园区/金鸡湖", owner, "2023-05-01", ("GEC", "INCLUSION")
    )
    for month in (1, 2):
        ledger.record_reading(code, *month_bounds(month), 52_400)
    (gec,) = ledger.issue_gec(code, f"{YEAR}-01", account_of(owner))
    try:
        ledger.issue_inclusion("SIP-PHCER", "distributed_pv", account_of(owner), device=code, month=f"{YEAR}-01")
    except LedgerError as e:
        first = e.details["earlier_claims"][0]
        console.print(
            f"[bold]One MWh, one claim[/]: carbon-inclusion credits for {code}'s January kWh refused: {e.code};"
            f" the earlier claim is {first['instrument']} batch {first['batch']} ({first['kwh']:,} kWh),"
            f" log seq {first['seq']} with a {len(first['inclusion_proof']['hashes'])}-hash inclusion proof"
        )
    batch = ledger.issue_inclusion("SIP-PHCER", "distributed_pv", account_of(owner), device=code, month=f"{YEAR}-02")
    console.print(f"February's unclaimed kWh earn {batch.quantity:,} kgCO2e of carbon-inclusion credits ({batch.code})")


def _case(ledger: Ledger, fleet: list, console: Console) -> None:
    """Claims reported by other platforms: one overlaps our GECs, two platforms sold the same GECs."""
    device = fleet[1][0]
    gec = f"GEC-{YEAR}03-{device}-T"
    rows = [
        {
            "line": 1,
            "source": "CZ-PHCER",
            "reference": "CZ-2025-000731",
            "instrument": "INCLUSION",
            "device": device,
            "start": month_bounds(3)[0],
            "end": month_bounds(3)[1],
            "kg_co2e": 5_000,
            "factor": "SIP-2020-PURCHASED",
        },
        {"line": 2, "source": "BJ-PX", "reference": "BJ-T-88121", "instrument": "GEC", "serials": f"{gec}:1-3"},
        {"line": 3, "source": "GZ-PX", "reference": "GZ-T-40977", "instrument": "GEC", "serials": f"{gec}:2-5"},
    ]
    result = ledger.import_external(rows)
    again = ledger.import_external(rows)
    console.print(
        f"External claims: {result['rows']} reported, {len(result['cases_opened'])} double-counting cases opened"
        f" ({', '.join(result['cases_opened'])}); re-importing the file opened {len(again['cases_opened'])}"
    )
    report = ledger.trace_case(result["cases_opened"][0])
    console.print(
        f"  {report['case']}: {report['theirs']['source']} claims {report['theirs']['kwh']:,} kWh of {device}"
        f" in March, which carry {report['ours'][0]['instrument']} {report['ours'][0]['batch']};"
        f" {report['overlap_kwh']:,} kWh claimed twice; trace with proofs at tree size {report['tree_size']}:"
        f" oneclaim cases show {report['case']}"
    )


def _offshore_ccer(ledger: Ledger, console: Console) -> None:
    """GEC–CCER link: a deep-sea offshore wind farm elects CCER; its untraded GECs freeze, then
    the GECs for the reductions' electricity are cancelled and disclosed."""
    owner, code = GENERATORS[2][0], "JS-DSOW-01"
    ledger.register_device(
        code, "deep_sea_offshore_wind", 300_000, "江苏", "盐城", owner, "2024-06-30", ("GEC", "CCER")
    )
    for month in (1, 2, 3):
        ledger.record_reading(code, *month_bounds(month), 80_000_000)
        ledger.issue_gec(code, f"{YEAR}-{month:02d}", account_of(owner))
    ledger.transfer(
        f"GEC-{YEAR}01-{code}-T", account_of(owner), account_of(CONSUMERS[0][0]), quantity=20_000, on=date(YEAR, 2, 10)
    )
    ledger.elect(code, "CCER", f"{YEAR}-01-01")
    ledger.register_ccer_project(
        "CCER-JS-DSOW-01",
        "CCER-01-001-V01",
        owner,
        [code],
        f"{YEAR}-01-01",
        "2034-12-31",
        factor="SIP-2020-PURCHASED",
        on=date(YEAR, 4, 1),
    )
    frozen = sum(ledger.batch(f"GEC-{YEAR}{m:02d}-{code}-T").supply()["frozen"] for m in (1, 2, 3))
    batch = ledger.issue_ccer("CCER-JS-DSOW-01", f"{YEAR}-01-01", f"{YEAR}-03-31", 100_000_000, account_of(owner))
    disclosure = ledger.disclosure(batch.code)
    console.print(
        f"GEC–CCER link: {code} elected CCER; registering its project froze {frozen:,} untraded GECs;"
        f" 100,000 tCO2e of reductions = {disclosure.kwh:,} kWh cancelled"
        f" {sum(c['units'] for c in disclosure.cancelled):,} GECs (disclosed: oneclaim project disclosure"
        f" {batch.code}); the 20,000 already sold stay with their buyer"
    )


def _expiry(ledger: Ledger, console: Console) -> None:
    from ledger.readmodel import ReadModel

    # The story runs ahead of the wall clock: a registry runs this step on 2027-01-01 itself, and
    # no business date may lie after today, so the demo's ledger is told that today is that day.
    as_of = date(2027, 1, 1)
    wall_clock, ledger.clock = ledger.clock, lambda: max(as_of, wall_clock())
    try:
        expired = ledger.expire_batches(ReadModel(ledger).batches(expiring_before=as_of), as_of)
        units = sum(e - s for ranges in expired.values() for s, e in ranges)
        again = ledger.expire_batches(ReadModel(ledger).batches(expiring_before=as_of), as_of)
    finally:
        ledger.clock = wall_clock
    console.print(
        f"expire --as-of {as_of} (the demo's clock set to that day): {units:,} unsold January GECs in"
        f" {len(expired)} batches expired; a second run expired {len(again)}"
    )


def _inventory(ledger: Ledger, fleet: list, console: Console) -> None:
    """What an operator looks at after a year: `oneclaim KIND list` for every kind, conservation
    over every batch from `batch list`'s totals, and `device show` for one device."""
    from ledger import inventory

    kinds = ("participant", "account", "device", "contract")
    counts = {kind: sum(1 for _ in ledger.registered(kind)) for kind in kinds}
    console.print(
        "[bold]Inventory[/] (oneclaim participant|account|device|contract list): "
        + ", ".join(f"{n:,} {kind if n == 1 else inventory.plural(kind)}" for kind, n in counts.items())
    )
    rows = [inventory.row("batch", b) for b in ledger.registered("batch")]
    states = inventory.COLUMNS["batch"][3:]
    totals = {column: sum(r[column] for r in rows) for column in ("quantity", *states)}
    if totals["quantity"] != sum(totals[state] for state in states):  # every unit is in exactly one state
        raise LedgerError(f"conservation does not hold over the batches: {totals}", code="CONSERVATION_BROKEN")
    console.print(
        f"oneclaim batch list: {len(rows):,} batches, {totals['quantity']:,} units issued = "
        + " + ".join(f"{totals[state]:,} {state}" for state in states)
    )
    shown = inventory.detail("device", ledger.device(fleet[0][0]))
    console.print(
        f"oneclaim device show {shown['code']}: {shown['technology']}, {shown['capacity_kw']} kW, {shown['readings']}"
        f" readings, {shown['metered_on_grid_kwh']:,} kWh metered on grid, {shown['claimed_kwh']:,} claimed,"
        f" {shown['carry_kwh']['tradable']} kWh carried to next month",
        markup=False,
    )


def _show_provenance(ledger: Ledger, console: Console) -> None:
    from ledger.readmodel import ReadModel

    model = ReadModel(ledger)
    rows = model.holdings(account_of(CONSUMERS[0][0]))
    retired = next((r for r in rows if r["state"] == "retired"), None)
    if retired is None:
        return
    serial = (
        f"{retired['batch']}:{retired['serials'][0].split(':')[1].split('-')[0]}"
        if retired.get("serials")
        else f"{retired['batch']}:1"
    )
    trail = model.provenance(serial)
    console.print(f"[bold]Provenance of {serial}[/] (from {trail['origin']['device']}, {trail['origin']['month']}):")
    for e in trail["events"]:
        console.print(f"  seq {e['seq']:>6}  {e['type']:<12} {e['range']}  {e['detail']}", markup=False)
    units = sum(r["units"] for r in rows)
    console.print(f"{CONSUMERS[0][0]} holdings: {units:,} units in {len({r['batch'] for r in rows})} batches")


def _over_http(home: Home, ledger: Ledger, console: Console) -> None:
    """The same ledger over HTTP (`oneclaim serve`), with tokens of two roles: the public reads a
    checkpoint, a provenance and a tile; a generator moves a GEC; an auditor's move is refused."""
    import httpx

    from api.auth import TokenStore
    from ledger.readmodel import ReadModel
    from oneclaim.serve_cli import serving, token_now

    model = ReadModel(ledger)
    seller, held = next(
        (code, row)
        for code, _ in GENERATORS
        for row in model.holdings(account_of(code))
        if row["state"] == "active" and row["batch"].endswith("-T")
    )
    buyer = CONSUMERS[0][0]
    retired = next((r for r in model.holdings(account_of(buyer)) if r["state"] == "retired"), held)
    store = TokenStore(ledger.db_url)
    try:
        holder = store.issue(seller, "holder", token_now())["token"]
        auditor = store.issue("SIP-REGISTRY", "auditor", token_now())["token"]
    finally:
        store.close()
    move = {
        "from_account": account_of(seller),
        "to_account": account_of(buyer),
        "quantity": 1,
        "on": YEAR_CLOSED.isoformat(),
    }
    path = f"/v1/batches/{held['batch']}/transfers"
    with serving(home.path) as url, httpx.Client(base_url=url, timeout=60) as http:
        console.print(f"[bold]Over HTTP[/] ({url}, `oneclaim serve`):")
        checkpoint = http.get("/v1/checkpoint")
        size = checkpoint.text.split("\n")[1]
        console.print(f"  GET /v1/checkpoint (public): {checkpoint.status_code}, tree size {size}")
        code, _, span = retired["serials"][0].rpartition(":")
        serial = f"{code}:{span.split('-')[0]}"
        trail = http.get(f"/v1/serials/{serial}/provenance").json()
        hidden = sum(is_commitment(e["detail"].get("beneficiary")) for e in trail["events"])
        console.print(f"  GET provenance of {serial} (public): {len(trail['events'])} events, {hidden} retirement(s)"
                      " naming the beneficiary by a commitment only", markup=False)  # fmt: skip
        tile = http.get("/tile/0/000")
        console.print(f"  GET /tile/0/000 (tlog-tiles): {len(tile.content)} bytes, {tile.headers['cache-control']}")
        sold = http.post(path, json=move, headers={"Authorization": f"Bearer {holder}", "Idempotency-Key": "demo-1"})
        if sold.status_code != 201:
            raise LedgerError(f"the demo's transfer over HTTP was refused: {sold.text}", code="DEMO_FAILED")
        console.print(f"  POST {path} ({seller}'s holder token): {sold.status_code}, {sold.json()['serials']}",
                      markup=False)  # fmt: skip
        refused = http.post(path, json=move, headers={"Authorization": f"Bearer {auditor}"})
        console.print(f"  the same with an auditor's token: {refused.status_code} {refused.json()['code']}"
                      f" ({refused.headers['content-type']})", markup=False)  # fmt: skip


CHUZHOU = "oneclaim.local/chuzhou"
CHANNEL = "SIP-CZ-2026"


def _cross_region(home: Home, ledger: Ledger, console: Console, witnesses: _Witnesses) -> None:
    """Suzhou sends carbon-inclusion credits to a Chuzhou registry (its own home, database, key
    and `oneclaim serve`), carried by the untrusted relayer (oneclaim.relay) between the two
    APIs: recognition recorded on both sides, one transfer received and acknowledged, one that
    reaches Chuzhou after its timeout refused there and refunded here, and a receipt checked
    offline under the auditor's policies (docs/transfers.md)."""
    import time
    from datetime import timedelta

    from api.auth import TokenStore
    from ledger.app import today
    from ledger.receipt import verify_receipt
    from ledger.tlog.policy import load_policy
    from oneclaim.relay import Registry, Relayer
    from oneclaim.serve_cli import serving_command, token_now

    chuzhou = Home.at(home.path / "partners" / "chuzhou")
    chuzhou.init(CHUZHOU)
    buyer, gen = "acct:cz-green-buyer", account_of(CONSUMERS[2][0])
    cz = chuzhou.ledger()
    try:
        cz.add_participant("CZ-BUYER", "滁州绿色制造企业", "consumer", "安徽", "滁州")
        cz.open_account(buyer, "CZ-BUYER")
        cz.add_participant("SIP-REGISTRY", "苏州工业园区碳普惠平台", "registry", "江苏", "苏州")
        chuzhou.policy_path.write_text(f"log {chuzhou.verifier_key()}\nquorum none\n")
        recognised = {"instruments": ["INCLUSION"], "methodologies": ["distributed_pv", "ev_charging"]}
        terms = {
            "code": CHANNEL,
            "parties": sorted([
                {"origin": ORIGIN, "verifier_key": home.verifier_key(), "policy": witnesses.policy_file.read_text()},
                {"origin": CHUZHOU, "verifier_key": chuzhou.verifier_key(), "policy": chuzhou.policy_path.read_text()},
            ], key=lambda p: p["origin"]),
            "recognises": {ORIGIN: recognised, CHUZHOU: recognised},
            "valid_from": "2025-01-01", "valid_until": "2030-12-31",
        }  # fmt: skip
        ledger.record_agreement(terms, ORIGIN)
        cz.record_agreement(terms, CHUZHOU)
        tokens = []
        for db_url, participant in ((ledger.db_url, "SIP-REGISTRY"), (cz.db_url, "SIP-REGISTRY")):
            store = TokenStore(db_url)
            try:
                tokens.append(store.issue(participant, "partner", token_now())["token"])
            finally:
                store.close()
    finally:
        cz.close()
    batch = next(b for b in ledger.registered("batch") if b.code.startswith("SIP-PHCER-EV_CHARGING"))
    serve = ("serve", "--publish-every", "0.2", "--home")
    with serving_command(*serve, str(home.path)) as sz_url, serving_command(*serve, str(chuzhou.path)) as cz_url:
        console.print(f"[bold]Cross-region[/] (Suzhou {sz_url} ↔ Chuzhou {cz_url}, `oneclaim relay` between them):")
        relayer = Relayer(Registry(sz_url, tokens[0]), Registry(cz_url, tokens[1]), CHANNEL)

        def relay_until(done, what: str) -> None:
            deadline = time.monotonic() + 120
            while not done():
                if time.monotonic() > deadline:
                    raise LedgerError(f"the demo's relayer did not get {what}", code="DEMO_FAILED")
                relayer.run_pass()
                time.sleep(0.2)  # the APIs publish their heads every 0.2 s

        try:
            relay_until(lambda: relayer.view(relayer.a)["confirmed"] and relayer.view(relayer.b)["confirmed"],
                        "the agreement in force")  # fmt: skip
            sent = [
                ledger.send_transfer(CHANNEL, batch.code, gen, buyer, quantity=500_000, on=YEAR_CLOSED,
                                     timeout_after=today() + timedelta(days=30)),
                ledger.send_transfer(CHANNEL, batch.code, gen, buyer, quantity=95_000, on=YEAR_CLOSED,
                                     timeout_after=YEAR_CLOSED + timedelta(days=7)),  # the relayer comes too late
            ]  # fmt: skip
            relay_until(lambda: all(ledger.packet(CHANNEL, p["sequence"])["state"] != "in_transit" for p in sent),
                        "both transfers settled")  # fmt: skip
            traced = _traced(chuzhou, f"{CHANNEL}-1:1", sz_url, tokens[0])  # Chuzhou asks Suzhou's API
        finally:
            relayer.close()
    cz = chuzhou.ledger()
    try:
        decided = cz.agreement(CHANNEL).decided
        received = cz.batch(decided[1]["batch"])
        console.print(f"  agreement {CHANNEL} in force on both sides (each proved the other's record);"
                      f" Suzhou's checkpoints accepted under its 2-of-2 witness policy", markup=False)  # fmt: skip
        console.print(f"  #1: {sent[0]['ranges'][0][1] - sent[0]['ranges'][0][0]:,} kgCO2e received in Chuzhou as"
                      f" {received.code} ({received.held_by(buyer)}), exported here", markup=False)  # fmt: skip
        console.print(f"  #2: refused there ({decided[2]['code']}), refunded here", markup=False)
        there = traced["there"]
        console.print(f"  oneclaim provenance {traced['serial']} --partner (in Chuzhou): traced to {there['serial']} in"
                      f" Suzhou, {' -> '.join(e['type'] for e in there['events'])}, each event proved under Suzhou's"
                      " witness policy", markup=False)  # fmt: skip
    finally:
        cz.close()
    supply = ledger.batch(batch.code).supply()
    console.print(f"  {batch.code}: issued {batch.quantity:,} = active {supply['active']:,} + retired"
                  f" {supply['retired']:,} + exported {supply['exported']:,}"
                  f" + in transit {supply.get('in_transit', 0)}",
                  markup=False)  # fmt: skip
    witnesses.published(ledger.publish_checkpoint(home.signer(), ORIGIN, home.policy()))
    receipt = home.path / "receipts" / f"{CHANNEL}-1"
    receipt.mkdir(parents=True, exist_ok=True)
    for name, text in ledger.transfer_receipt(CHANNEL, 1).items():
        (receipt / name).write_text(text)
    summary = verify_receipt(receipt, load_policy(witnesses.policy_file), load_policy(chuzhou.policy_path))
    console.print(f"  receipt {receipt.relative_to(home.path)}: `oneclaim audit verify-transfer` OK,"
                  f" {summary['outcome']} there and {summary['settled_as']} here, witnessed by"
                  f" {', '.join(c['witness'] for c in summary['proofs']['sent.tlog-proof']['cosigners'])}",
                  markup=False)  # fmt: skip


def _enterprise(home: Home, ledger: Ledger, console: Console, witnesses: _Witnesses) -> None:
    """The data centre's 2025 (docs/enterprise.md): a carbon account, its verified report, a
    carbon-neutral claim from the GECs it retired for its electricity and the carbon-inclusion
    credits it retired for the residual; the same retirement refused in a second claim; the
    certificate written and checked offline under the auditor's 2-of-2 witness policy."""
    import hashlib

    from ledger.carbon import account_view
    from ledger.certificate import certificate, certificate_html, verify_certificate
    from ledger.readmodel import ReadModel
    from ledger.tlog.policy import load_policy

    who, year = CONSUMERS[2][0], str(YEAR)
    ledger.add_participant("CQC-SZ", "中国质量认证中心苏州分中心", "verifier", "江苏", "苏州")
    ledger.open_carbon_account(who, "91320594MA1MCNQ065", home.uscc_salt(), "data_centre")
    with ReadModel(ledger) as model:
        model.catch_up()
        retired = model.retirements(who, year)
    gec_mwh = sum(r["units"] for r in retired if r["instrument"] == "GEC")
    uncovered = min(gec_mwh, 1_200)  # MWh its GECs leave uncovered: their Scope 2 is offset
    consumed = gec_mwh + uncovered
    ledger.report_emissions(who, year, inventory_sha256=hashlib.sha256(b"SIP-DC-03 inventory 2025").hexdigest(),
                            verifier="CQC-SZ", statement_sha256=hashlib.sha256(b"CQC statement 2025").hexdigest(),
                            scopes_kg={"scope1": 50_000, "scope2": consumed * 610, "scope3": 0},
                            electricity_mwh=consumed)  # fmt: skip
    cited = [r["retirement_id"] for r in retired]
    claim = ledger.make_neutrality_claim(who, subject="园区数据中心 2025 年度运营 / data centre operations 2025",
                                         boundary=["scope1", "scope2"], period=year, retirements=cited,
                                         on=YEAR_CLOSED)  # fmt: skip
    c = claim.coverage
    console.print(f"Carbon neutrality: {who} claims {year} as {claim.code} under {claim.rule_set}:"
                  f" {c['electricity_covered_mwh']:,} of {c['electricity_mwh']:,} MWh covered by GECs, residual"
                  f" {c['residual_kg']:,} kgCO2e offset by {c['offsets_kg']:,} kgCO2e of carbon-inclusion credits"
                  f" ({len(cited)} retirements)", markup=False)  # fmt: skip
    try:
        ledger.make_neutrality_claim(who, subject="again", boundary=["scope1", "scope2"], period=year,
                                     retirements=cited[-1:], on=YEAR_CLOSED)  # fmt: skip
    except LedgerError as e:
        console.print(f"  a second claim on {cited[-1]} is refused: {e.code}, it backs {e.details['first']['ref']}",
                      markup=False)  # fmt: skip
    witnesses.published(ledger.publish_checkpoint(home.signer(), ORIGIN, home.policy()))
    document = certificate(ledger, claim.code, ORIGIN)
    out = home.path / "certificates"
    out.mkdir(exist_ok=True)
    (out / f"{claim.code}.json").write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    (out / f"{claim.code}.html").write_text(certificate_html(document))
    checked = verify_certificate(json.loads((out / f"{claim.code}.json").read_text()),
                                 load_policy(witnesses.policy_file))  # fmt: skip
    console.print(f"  certificate {out.relative_to(home.path)}/{claim.code}.json (and .html, 中文/English):"
                  f" `oneclaim claim verify` OK offline, {checked['retirements']} retirements proved, cosigned by"
                  f" {', '.join(checked['cosigners'])}", markup=False)  # fmt: skip
    figures = account_view(ledger, who)["years"][year]
    console.print(f"  oneclaim carbon-account show {who}: {year}: {sum(figures['report']['scopes_kg'].values()):,}"
                  f" kgCO2e reported, {figures['green_electricity_mwh']:,} MWh of green electricity retired,"
                  f" {figures['credits_retired_kg']['INCLUSION']:,} kgCO2e of credits retired, claims"
                  f" {', '.join(figures['claims'])}", markup=False)  # fmt: skip


def _traced(home: Home, serial: str, partner_url: str, token: str) -> dict:
    from oneclaim.trace import trace_across

    ledger = home.ledger()
    try:
        return trace_across(ledger, serial, partner_url, token)
    finally:
        ledger.close()


def _verify(home: Home, console: Console) -> bool:
    verifier = parse_verifier_key(home.verifier_key())
    url = home.db_url
    report = audit.verify_database(url, trust.of(verifier, ORIGIN), events_table=EVENTS_TABLE[dialect(url)])
    _show(console, "audit verify (database)", report)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        audit.export_bundle(
            url,
            bundle,
            events_table=EVENTS_TABLE[dialect(url)],
            origin=ORIGIN,
            verifier_key=home.verifier_key(),
            readme=audit.BUNDLE_README.read_text(),
        )
        bundle_report = reference.verify_bundle(bundle, trust.of(verifier, ORIGIN))
        _show(console, "audit verify (exported bundle)", bundle_report)
    return report.ok and bundle_report.ok


class _Anchors:
    """The managed local chain for the demo: started once, an anchor after every monthly checkpoint."""

    def __init__(self, home: Home, ledger: Ledger, console: Console) -> None:
        from oneclaim.anchor_cli import service_for, start_managed_chain

        self.home, self.console = home, console
        self.status, self.config, _ = start_managed_chain(home)
        self.service = service_for(home, ledger)
        self.gas: list[int] = []
        console.print(
            f"Managed chain up at {self.status.rpc_url} (chain id {self.status.chain_id});"
            f" anchor contract {self.config['contract']}"
        )

    def once(self) -> None:
        anchored = self.service.once()
        if anchored:
            self.gas.append(anchored["gas_used"])
            self.last = anchored

    def verify(self, witnesses: _Witnesses) -> bool:
        """Check every anchor against the chain (receipt, event, storage), from a new connection;
        then `oneclaim anchor verify --policy`, as an auditor holding the policy and the partners'
        addresses runs it: the witnesses' cosignatures on chain."""
        import subprocess
        import sys

        from anchoring.service import verify_anchors
        from oneclaim.anchor_cli import managed_chain, service_for

        service = service_for(self.home)
        try:
            history = service.history()
            roots = {a["tree_size"]: service.ledger.log.root(a["tree_size"]).hex() for a in history.anchors}
            verifier = parse_verifier_key(self.home.verifier_key())  # each anchor must carry the log key's signature
            result = verify_anchors(
                service.w3, self.config["contract"], self.home.origin, history.anchors, roots, verifier
            )
        finally:
            service.ledger.close()
        pairs = [a for name, address in witnesses.addresses.items() for a in ("--witness-address", f"{name}={address}")]
        try:
            on_chain = subprocess.run(
                [sys.executable, "-m", "oneclaim", "anchor", "verify", "--policy", str(witnesses.policy_file), *pairs,
                 "--home", str(self.home.path)],
                capture_output=True, text=True,
            )  # fmt: skip
        finally:
            managed_chain(self.home).down()
        ok = not result["failures"] and on_chain.returncode == 0
        self.console.print(
            f"Anchored {len(self.gas)} checkpoints, the last at tree size {self.last['tree_size']:,}"
            f" (block {self.last['block_number']}); {min(self.gas):,}-{max(self.gas):,} gas per anchor,"
            " each with its consistency proof checked on chain"
        )
        self.console.print(
            "[green]✔[/] anchor verify: every anchor's receipt, Anchored event and contract storage agree"
            if ok
            else f"[bold red]✘[/] anchor verify: {result['failures']}"
        )
        self.console.print(f"[bold]oneclaim anchor verify --policy {witnesses.policy_file.name}"
                           " --witness-address …[/]:")  # fmt: skip
        self.console.print((on_chain.stdout + on_chain.stderr).rstrip(), markup=False, soft_wrap=True)
        self.console.print("The chain is stopped; `oneclaim chain up` restarts it with its state.")
        return ok


def _show(console: Console, label: str, report: audit.Report) -> None:
    if report.ok:
        console.print(
            f"[green]✔[/] {label}: {report.events} events, {report.checkpoints} checkpoints, {report.seconds:.2f}s"
        )
    else:
        f = report.failure
        console.print(f"[red]✘[/] {label}: {f.code} at seq {f.seq}: {f.message}")
