"""Request bodies, as pydantic models. Quantities are whole numbers; dates are ISO 8601 days.
What the ledger checks (ranges, states, who holds what) it checks itself, with its own codes;
these models only give each body its shape."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Selection(Body):
    """Which units: a quantity (lowest serials first) or named serial ranges, not both."""

    quantity: StrictInt | None = Field(None, gt=0, examples=[10])
    serials: list[StrictStr] | None = Field(None, min_length=1, examples=[["GEC-202501-SIP-PV-0001-T:1-10"]])


class TransferBody(Selection):
    from_account: StrictStr = Field(examples=["acct:SIP-GEN-001/holding"])
    to_account: StrictStr = Field(examples=["acct:SIP-USER-001/holding"])
    on: date | None = Field(None, description="The business date (default today, China time).")


class RetireBody(Selection):
    account: StrictStr = Field(examples=["acct:SIP-USER-001/holding"])
    beneficiary: StrictStr = Field(examples=["Suzhou Example Co., Ltd."])
    purpose: StrictStr = Field(examples=["green_consumption_claim"])
    reporting_period: StrictStr = Field(examples=["2025"])
    location: StrictStr = Field(examples=["Suzhou Industrial Park"])
    on: date | None = None


class CancelBody(Body):
    reason: StrictStr = Field(examples=["issuer dispute"])
    serials: list[StrictStr] | None = Field(None, min_length=1)


class IssueGECBody(Body):
    month: StrictStr = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", examples=["2025-01"])
    account: StrictStr = Field(examples=["acct:SIP-GEN-001/holding"])


class ParticipantBody(Body):
    code: StrictStr = Field(examples=["SIP-GEN-001"])
    name: StrictStr = Field(examples=["苏州工业园区分布式光伏运营商"])
    role: StrictStr = Field(examples=["generator"])
    province: StrictStr = Field(examples=["江苏"])
    city: StrictStr = Field(examples=["苏州"])


class AccountBody(Body):
    account: StrictStr = Field(examples=["acct:sip-gen-001"])
    owner: StrictStr = Field(examples=["SIP-GEN-001"])
    purpose: StrictStr = "holding"


class DeviceBody(Body):
    code: StrictStr = Field(examples=["SIP-PV-0001"])
    technology: StrictStr = Field(examples=["distributed_pv"])
    capacity_kw: StrictInt = Field(examples=[5_000])
    province: StrictStr = Field(examples=["江苏"])
    city: StrictStr = Field(examples=["苏州工业园区"])
    owner: StrictStr = Field(examples=["SIP-GEN-001"])
    commissioned_on: StrictStr = Field(examples=["2023-05-01"])
    schemes: list[StrictStr] = Field(default_factory=lambda: ["GEC"], examples=[["GEC"]])


class RowsBody(Body):
    """Rows as the CLI's files hold them, one object per row. The ledger checks each with the
    same model the CLI's file reader uses (ledger/rows.py), and refuses all if any is bad."""

    rows: list[dict] = Field(min_length=1, max_length=10_000)

    def numbered(self) -> list[dict]:
        """The rows with their 1-based position as `line`, as a file's rows carry theirs."""
        return [{"line": i + 1, **row} for i, row in enumerate(self.rows)]


class ResolutionBody(Body):
    outcome: StrictStr = Field(examples=["ours_cancelled"])
    reason: StrictStr = Field(examples=["the other registry's claim came first"])


class ExpiryBody(Body):
    as_of: date = Field(examples=["2027-02-01"])


class ElectionBody(Body):
    scheme: StrictStr = Field(examples=["CCER"])
    effective_from: StrictStr = Field(examples=["2025-01-01"])


class ContractBody(Body):
    code: StrictStr = Field(examples=["GP-2025-SIP-0001"])
    device: StrictStr = Field(examples=["SIP-PV-0001"])
    generator_account: StrictStr = Field(examples=["acct:sip-pv-ops-1"])
    consumer_account: StrictStr = Field(examples=["acct:sip-bio-02"])
    monthly_mwh: dict[str, StrictInt] = Field(min_length=1, examples=[{"2025-01": 40, "2025-02": 38}])


class SettlementBody(Body):
    month: StrictStr = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", examples=["2025-01"])
    consumption_kwh: StrictInt = Field(ge=0, examples=[41_200])
    on: date | None = Field(None, description="The business date (default today, China time).")


class ProgrammeBody(Body):
    code: StrictStr = Field(examples=["SIP-PHCER"])
    name: StrictStr = Field(examples=["苏州工业园区碳普惠"])
    region: StrictStr = Field(examples=["江苏/苏州工业园区"])
    methodologies: list[StrictStr] = Field(min_length=1, examples=[["distributed_pv", "ev_charging"]])
    factor: StrictStr = Field(examples=["SIP-2020-PURCHASED"])


class InclusionBody(Body):
    """Generation-based methodologies take a device and a month (or a start and an end); the
    others a subject, a period and kgCO2e."""

    methodology: StrictStr = Field(examples=["distributed_pv"])
    account: StrictStr = Field(examples=["acct:sip-pv-ops-1"])
    device: StrictStr | None = Field(None, examples=["SIP-PV-0001"])
    month: StrictStr | None = Field(None, examples=["2025-02"])
    start: StrictStr | None = None
    end: StrictStr | None = None
    subject: StrictStr | None = None
    period: StrictStr | None = None
    kg_co2e: StrictInt | None = Field(None, gt=0)
    evidence_sha256: StrictStr | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class ProjectBody(Body):
    code: StrictStr = Field(examples=["CCER-JS-DSOW-01"])
    methodology: StrictStr = Field(examples=["CCER-01-001-V01"])
    owner: StrictStr = Field(examples=["JS-DSOW-01"])
    devices: list[StrictStr] = Field(default_factory=list, examples=[["JS-DSOW-01"]])
    crediting_start: StrictStr = Field(examples=["2025-01-01"])
    crediting_end: StrictStr = Field(examples=["2034-12-31"])
    factor: StrictStr | None = Field(None, examples=["SIP-2020-PURCHASED"])
    on: date | None = None


class CCERBody(Body):
    period_start: StrictStr = Field(examples=["2025-01-01"])
    period_end: StrictStr = Field(examples=["2025-03-31"])
    kg_co2e: StrictInt = Field(gt=0, examples=[100_000_000])
    account: StrictStr = Field(examples=["acct:js-dsow-01"])


class AgreementBody(Body):
    """Recognition terms (docs/transfers.md); both registries record the same."""

    terms: dict = Field(description="code, parties (origin, verifier_key, policy), recognises, valid_from/until.")


class PartnerProofBody(Body):
    """An event of the partner's log: its C2SP tlog-proof, and the RFC 9162 consistency proof
    between the checkpoint it rests on and the partner checkpoint this registry relied on last
    (GET /v1/agreements/{code} says which: `partner_seen`)."""

    proof: StrictStr = Field(description="c2sp.org/tlog-proof@v1 text with the event as its extra line.")
    consistency: list[StrictStr] = Field(default_factory=list, description="base64 hashes")


class SendBody(Selection):
    batch: StrictStr
    from_account: StrictStr
    to_account: StrictStr = Field(description="The receiving account at the partner registry.")
    timeout_after: date = Field(description="The last day the partner may receive the units.")
    on: date | None = None


# ------------------------------------------------------------------ the enterprise's side (docs/enterprise.md)


class CarbonAccountBody(Body):
    participant: StrictStr = Field(examples=["SIP-FAB-01"])
    uscc: StrictStr = Field(description="The unified social credit code; the log keeps only a salted hash.",
                            examples=["91350100M000100Y43"])  # fmt: skip
    sector: StrictStr = Field(examples=["electronics"])


class Scopes(Body):
    scope1: StrictInt = Field(ge=0, description="kgCO2e")
    scope2: StrictInt = Field(ge=0, description="kgCO2e, location-based")
    scope3: StrictInt = Field(0, ge=0, description="kgCO2e")


class ReportBody(Body):
    year: StrictStr = Field(examples=["2025"])
    inventory_sha256: StrictStr = Field(description="SHA-256 (hex) of the ISO 14064-1 inventory document.")
    verifier: StrictStr = Field(description="The verifier, a registered participant.", examples=["CQC-SZ"])
    statement_sha256: StrictStr = Field(description="SHA-256 (hex) of the verifier's statement.")
    scopes_kg: Scopes
    electricity_mwh: StrictInt = Field(ge=0, description="Electricity consumed in the year, MWh.")
    value_added_10k_yuan: StrictInt | None = Field(None, gt=0, description="For the carbon-efficiency rating.")


class ObligationBody(Body):
    year: StrictStr
    allowances_kg: StrictInt = Field(ge=0, description="Allowances to surrender for the year, kgCO2.")
    source: StrictStr = Field(description="The allocation notice.")


class SurrenderBody(Body):
    year: StrictStr
    retirements: list[StrictStr] = Field(min_length=1, description="Retirement ids of CCER retired for ets_offset.")
    on: date | None = None


class ClaimBody(Body):
    claimant: StrictStr = Field(examples=["SIP-FAB-01"])
    subject: StrictStr = Field(examples=["2025 operations"])
    period: StrictStr = Field(examples=["2025"])
    boundary: list[StrictStr] = Field(["scope1", "scope2"], min_length=1)
    retirements: list[StrictStr] = Field(min_length=1, examples=[["GEC-202501-SIP-PV-0001-T/R1"]])
    rule_set: StrictStr = "ISO14068-1:2023"
    on: date | None = None


class AcknowledgementBody(Body):
    note: StrictStr = Field(description="What the review found.", examples=["related accounts of one group"])
