"""Issue 17, the enterprise's side: an enterprise reports its 2025 emissions, retires GECs for its
electricity and carbon-inclusion credits for the residual, and claims carbon neutrality; every
rule of the claim refused with its code (the same retirement twice, a shortfall, another
beneficiary or period, out of the window, GECs as offsets); CCER surrendered against an ETS
obligation within the 5 % cap and refused above it, and a surrendered unit backing no claim."""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.domain.enterprise import check_uscc, uscc_sha256
from ledger.errors import LedgerError
from ledger.readmodel import ReadModel
from tests.support import month

ENTERPRISE, GENERATOR, VERIFIER, EMITTER = "SIP-FAB-01", "SIP-PV-OPS", "CQC-SZ", "JS-STEEL-01"
GEN, FAB, EMIT = "acct:sip-pv-ops", "acct:sip-fab-01", "acct:js-steel-01"
DEVICE, PROGRAMME, PROJECT = "SIP-PV-0042", "SIP-PHCER", "CCER-FOREST-01"
USCC = "91350100M000100Y43"  # the sample code of GB 32100-2015's examples
SALT = b"registry-secret-salt"
TODAY = date(2027, 3, 1)
SCOPES = {"scope1": 120_000, "scope2": 306_000, "scope3": 50_000}  # kgCO2e; scope 2 for 500 MWh
REPORT = {"inventory_sha256": hashlib.sha256(b"inventory 2025").hexdigest(), "verifier": VERIFIER,
          "statement_sha256": hashlib.sha256(b"verification statement 2025").hexdigest(),
          "scopes_kg": SCOPES, "electricity_mwh": 500}  # fmt: skip


@dataclass
class Registry:
    ledger: Ledger
    gec: str  # a GEC batch the enterprise holds 52 units of
    credits: str  # a carbon-inclusion batch the enterprise holds 400,000 kgCO2e of
    ccer: str  # a CCER batch the emitter holds

    def retire(self, batch: str, quantity: int, *, beneficiary: str = ENTERPRISE, period: str = "2025",
               purpose: str = "carbon_neutrality", account: str = FAB, on: date = date(2026, 2, 1)) -> str:  # fmt: skip
        return self.ledger.retire(batch, account, beneficiary=beneficiary, purpose=purpose, reporting_period=period,
                                  location="苏州", quantity=quantity, on=on)  # fmt: skip

    def claim(self, *retirements: str, boundary=("scope1", "scope2"), on: date = date(2026, 2, 15)):
        return self.ledger.make_neutrality_claim(ENTERPRISE, subject="苏州某制造企业 2025 年度运营",
                                                 boundary=list(boundary), period="2025",
                                                 retirements=list(retirements), on=on)  # fmt: skip


def refused(code: str, act, *args, **kwargs) -> LedgerError:
    with pytest.raises(LedgerError) as e:
        act(*args, **kwargs)
    assert e.value.code == code, e.value
    return e.value


@pytest.fixture
def registry(tmp_path: Path):
    made = market(tmp_path)
    yield made
    made.ledger.close()


def market(tmp_path: Path) -> Registry:
    """An enterprise holding 52 GECs and 400,000 kg of carbon-inclusion credits with its 2025
    report recorded, and an ETS emitter holding 2,100,000 kg of CCER."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=lambda: TODAY)
    for code, role in ((GENERATOR, "generator"), (ENTERPRISE, "consumer"), (VERIFIER, "verifier"),
                       (EMITTER, "consumer")):  # fmt: skip
        ledger.add_participant(code, code, role, "江苏", "苏州")
    for account, owner in ((GEN, GENERATOR), (FAB, ENTERPRISE), (EMIT, EMITTER)):
        ledger.open_account(account, owner)
    ledger.register_device(DEVICE, "distributed_pv", 400, "江苏", "苏州", GENERATOR, "2023-05-01")
    ledger.record_reading(DEVICE, *month(2025, 1), 52_400, 1_200)
    gec = next(b for b in ledger.issue_gec(DEVICE, "2025-01", GEN) if b.tradable)
    ledger.transfer(gec.code, GEN, FAB, quantity=52, on=date(2025, 3, 1))
    ledger.establish_programme(PROGRAMME, "苏州工业园区碳普惠", "苏州", ["ev_charging"], "SIP-2020-PURCHASED")
    credits = ledger.issue_inclusion(PROGRAMME, "ev_charging", GEN, subject="SIP-EV-HUB", period="2025",
                                     kg_co2e=1_000_000)  # fmt: skip
    ledger.transfer(credits.code, GEN, FAB, quantity=400_000, on=date(2026, 1, 10))
    ledger.register_ccer_project(PROJECT, "CCER-14-001-V01", GENERATOR, [], "2025-01-01", "2031-12-31",
                                 on=date(2025, 1, 1))  # fmt: skip
    ccer = ledger.issue_ccer(PROJECT, "2025-01-01", "2025-12-31", 2_100_000, GEN)
    ledger.transfer(ccer.code, GEN, EMIT, quantity=2_100_000, on=date(2026, 1, 10))
    ledger.open_carbon_account(ENTERPRISE, USCC, SALT, "electronics")
    ledger.report_emissions(ENTERPRISE, "2025", **REPORT)
    return Registry(ledger, gec.code, credits.code, ccer.code)


def test_the_credit_code_is_checked_and_kept_only_as_a_salted_hash(registry: Registry) -> None:
    assert check_uscc(USCC) == USCC
    refused("USCC_INVALID", check_uscc, USCC[:-1] + "X")  # wrong check character
    refused("USCC_INVALID", check_uscc, "91350100M000100I43")  # I is not in the alphabet
    account = registry.ledger.carbon_account(ENTERPRISE)
    assert account.uscc_sha256 == uscc_sha256(USCC, SALT) != hashlib.sha256(USCC.encode()).hexdigest()
    log = b"".join(registry.ledger.log.entries(0, registry.ledger.log.size()))
    assert USCC.encode() not in log and account.uscc_sha256.encode() in log
    refused("CARBON_ACCOUNT_EXISTS", registry.ledger.open_carbon_account, ENTERPRISE, USCC, SALT, "electronics")


def test_an_enterprise_retires_gecs_and_credits_and_claims_carbon_neutrality(registry: Registry) -> None:
    gecs = registry.retire(registry.gec, 52)  # 52 of its 500 MWh
    credits = registry.retire(registry.credits, 400_000)
    claim = registry.claim(gecs, credits)
    # residual: scope 1, and the scope 2 of the 448 MWh no GEC covers (rounded up)
    assert claim.coverage == {
        "electricity_mwh": 500, "gec_mwh": 52, "electricity_covered_mwh": 52, "electricity_shortfall_mwh": 448,
        "scope2_not_covered_kg": 274_176, "residual_kg": 120_000 + 274_176, "offsets_kg": 400_000, "shortfall_kg": 0,
    }  # fmt: skip
    assert claim.code == f"NC-{ENTERPRISE}-2025-1" and claim.report["verifier"] == VERIFIER
    assert registry.ledger.batch(registry.gec).retirement(gecs)["used_by"] == {"kind": "neutrality_claim",
                                                                               "ref": claim.code}  # fmt: skip
    # the same retirement in a second claim is refused, naming the first
    e = refused("RETIREMENT_ALREADY_USED", registry.claim, credits)
    assert e.details["first"] == {"kind": "neutrality_claim", "ref": claim.code}
    assert registry.ledger.carbon_account(ENTERPRISE).claims == [claim.code]
    # the read model knows each retirement, and what it backs
    with ReadModel(registry.ledger) as model:
        rows = {r["retirement_id"]: r for r in model.retirements(ENTERPRISE, "2025")}
    assert rows[gecs]["units"] == 52 and rows[credits]["used_by"] == {"kind": "neutrality_claim", "ref": claim.code}


def test_a_claim_short_of_coverage_is_refused_with_the_shortfall_and_writes_nothing(registry: Registry) -> None:
    gecs = registry.retire(registry.gec, 52)
    credits = registry.retire(registry.credits, 300_000)
    size = registry.ledger.log.size()
    e = refused("CLAIM_SHORTFALL", registry.claim, gecs, credits)
    assert e.details["shortfall_kg"] == 394_176 - 300_000 and e.details["residual_kg"] == 394_176
    assert registry.ledger.log.size() == size
    # scope 3 in the boundary adds its 50,000 kg
    more = registry.retire(registry.credits, 100_000)
    e = refused("CLAIM_SHORTFALL", registry.claim, gecs, credits, more, boundary=("scope1", "scope2", "scope3"))
    assert e.details["shortfall_kg"] == 394_176 + 50_000 - 400_000
    assert registry.claim(gecs, credits, more).coverage["shortfall_kg"] == 0


def test_gecs_cover_electricity_and_are_never_counted_as_offsets(registry: Registry) -> None:
    # a GEC-only claim covers scope 2 of 52 MWh but offsets nothing: scope 1 stays short
    e = refused("CLAIM_SHORTFALL", registry.claim, registry.retire(registry.gec, 52))
    assert e.details["offsets_kg"] == 0 and e.details["shortfall_kg"] == 120_000 + 274_176


@pytest.mark.parametrize(
    ("retire", "code"),
    [
        ({"beneficiary": GENERATOR}, "RETIREMENT_NOT_FOR_CLAIMANT"),
        ({"period": "2024"}, "RETIREMENT_PERIOD_MISMATCH"),
        ({"purpose": "ets_offset"}, "RETIREMENT_PURPOSE_NOT_CLAIMABLE"),
        ({"on": date(2026, 12, 31)}, None),  # the last day of the window: counts
    ],
)
def test_each_retirement_a_claim_cites_must_be_for_the_claimant_the_period_and_a_claim(registry, retire, code) -> None:
    gecs = registry.retire(registry.gec, 52)
    odd = registry.retire(registry.credits, 400_000, **retire)
    if code is None:
        assert registry.claim(gecs, odd).coverage["shortfall_kg"] == 0
    else:
        assert refused(code, registry.claim, gecs, odd).details["retirement"] == odd


def test_a_retirement_after_the_window_does_not_count(registry: Registry) -> None:
    gecs = registry.retire(registry.gec, 52)
    credits = registry.retire(registry.credits, 399_000)
    late = registry.retire(registry.credits, 1_000, on=date(2027, 1, 5))  # the window ended on 2026-12-31
    e = refused("RETIREMENT_OUTSIDE_WINDOW", registry.claim, gecs, credits, late, on=date(2027, 1, 6))
    assert e.details["retirement"] == late and "2026-12-31" in e.message


def test_two_claims_at_once_on_the_same_retirement_one_lands(registry: Registry) -> None:
    gecs = registry.retire(registry.gec, 52)
    credits = registry.retire(registry.credits, 400_000)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: _attempt(registry, gecs, credits), range(4)))
    made = [o for o in outcomes if not isinstance(o, LedgerError)]
    assert len(made) == 1 and {o.code for o in outcomes if isinstance(o, LedgerError)} <= {
        "RETIREMENT_ALREADY_USED", "CONCURRENT_UPDATE"}  # fmt: skip
    assert registry.ledger.carbon_account(ENTERPRISE).claims == [made[0].code]


def _attempt(registry: Registry, *retirements: str):
    try:
        return registry.claim(*retirements)
    except LedgerError as e:
        return e


def test_ccer_surrendered_against_an_ets_obligation_is_capped_at_5_percent(registry: Registry) -> None:
    ledger = registry.ledger
    ledger.open_carbon_account(EMITTER, "91320594MA1MCNQ065", SALT, "steel")
    ledger.record_ets_obligation(EMITTER, "2025", 20_000_000, "江苏省 2025 年度配额分配方案 (sample)")
    at_5_1 = registry.retire(registry.ccer, 1_020_000, beneficiary=EMITTER, purpose="ets_offset", account=EMIT)
    e = refused("ETS_OFFSET_CAP_EXCEEDED", ledger.surrender_for_ets, EMITTER, "2025", [at_5_1])
    assert (e.details["headroom_kg"], e.details["requested_kg"], e.details["max_percent"]) == (1_000_000, 1_020_000, 5)
    assert "5.10%" in e.message and "art. 29" in e.details["rule"]
    at_5 = registry.retire(registry.ccer, 980_000, beneficiary=EMITTER, purpose="ets_offset", account=EMIT)
    done = ledger.surrender_for_ets(EMITTER, "2025", [at_5])
    assert (done["kg"], done["headroom_kg"]) == (980_000, 20_000)
    # a surrendered unit is used up: it backs no voluntary claim, and is not surrendered twice
    e = refused("RETIREMENT_ALREADY_USED", ledger.surrender_for_ets, EMITTER, "2025", [at_5])
    assert e.details["first"]["kind"] == "ets_surrender"
    # only CCER retired for the emitter's compliance counts
    gecs = registry.retire(registry.gec, 5, beneficiary=EMITTER, purpose="ets_offset")
    refused("ETS_UNIT_NOT_ELIGIBLE", ledger.surrender_for_ets, EMITTER, "2025", [gecs])
    voluntary = registry.retire(registry.ccer, 10_000, beneficiary=EMITTER, purpose="voluntary", account=EMIT)
    refused("RETIREMENT_NOT_FOR_SURRENDER", ledger.surrender_for_ets, EMITTER, "2025", [voluntary])


ORIGIN = "suzhou.oneclaim.example/log"


def _certified(registry: Registry):
    from ledger.certificate import certificate
    from ledger.tlog.note import generate_signer
    from ledger.tlog.policy import parse_policy

    claim = registry.claim(registry.retire(registry.gec, 52), registry.retire(registry.credits, 400_000))
    signer = generate_signer(ORIGIN)
    registry.ledger.sign_checkpoint(signer, ORIGIN)
    policy = parse_policy(f"log {signer.verifier_key()}\nquorum none\n")
    return claim, certificate(registry.ledger, claim.code, ORIGIN), policy


def test_a_certificate_verifies_offline_from_its_proofs_alone(registry: Registry) -> None:
    from ledger.certificate import certificate_html, verify_certificate

    claim, document, policy = _certified(registry)
    registry.ledger.close()  # nothing of the registry is needed any more
    checked = verify_certificate(json.loads(json.dumps(document)), policy)
    assert (checked["claim"], checked["coverage"], checked["retirements"]) == (claim.code, claim.coverage, 2)
    page = certificate_html(document)
    assert "碳中和声明证明" in page and "Carbon Neutrality Claim" in page and claim.code in page


def _tampered(document: dict, change) -> dict:
    copy = json.loads(json.dumps(document))
    change(copy)
    return copy


def _swap_extra(proof: str, old: bytes, new: bytes) -> str:
    lines = proof.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("extra "))
    lines[at] = "extra " + base64.b64encode(base64.b64decode(lines[at][6:]).replace(old, new)).decode()
    return "\n".join(lines)


TAMPERS = {
    # the certificate says more than the proved claim
    "coverage inflated": (lambda d: d["certificate"]["coverage"].update(offsets_kg=999_999), "CERTIFICATE_INVALID"),
    "subject changed": (lambda d: d["certificate"].update(subject="另一家企业"), "CERTIFICATE_INVALID"),
    # a proved event altered: its bytes no longer hash to the signed tree
    "retirement's beneficiary commitment altered": (
        lambda d: d["proofs"]["retirements"].update(
            {
                k: _swap_extra(v, b'"beneficiary":"sha256:', b'"beneficiary":"sha256:0')
                for k, v in d["proofs"]["retirements"].items()
            }
        ),
        "INCLUSION_PROOF_INVALID",
    ),  # fmt: skip
    # the beneficiary's opening: another value, another salt, none
    "beneficiary opened as another participant": (
        lambda d: [o.update(value="SIP-FAB-02") for o in d["openings"].values()],
        "CERTIFICATE_INVALID",
    ),
    "beneficiary opened with another salt": (
        lambda d: [o.update(salt="00" * 16) for o in d["openings"].values()],
        "CERTIFICATE_INVALID",
    ),
    "openings removed": (lambda d: d["openings"].clear(), "CERTIFICATE_INVALID"),
    # a genuine proof of another event in its place
    "use proof swapped for the report's": (
        lambda d: d["proofs"]["uses"].update({k: d["proofs"]["report"] for k in d["proofs"]["uses"]}),
        "CERTIFICATE_INVALID",
    ),  # fmt: skip
    "a proof removed": (lambda d: d["proofs"]["uses"].clear(), "CERTIFICATE_INCOMPLETE"),
    "a retirement dropped from the list": (lambda d: d["certificate"]["retirements"].pop(), "CERTIFICATE_INVALID"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_a_tampered_certificate_is_refused_naming_what_failed(registry: Registry, tamper: str) -> None:
    from ledger.certificate import verify_certificate

    _, document, policy = _certified(registry)
    change, code = TAMPERS[tamper]
    assert refused(code, verify_certificate, _tampered(document, change), policy)


def test_a_certificate_under_another_log_key_is_refused(registry: Registry) -> None:
    from ledger.certificate import verify_certificate
    from ledger.tlog.note import generate_signer
    from ledger.tlog.policy import parse_policy

    _, document, _ = _certified(registry)
    stranger = parse_policy(f"log {generate_signer(ORIGIN).verifier_key()}\nquorum none\n")
    refused("TLOG_PROOF_SIGNATURE", verify_certificate, document, stranger)


def test_retired_gecs_convert_to_avoided_emissions_by_a_versioned_factor_never_to_an_offset(registry) -> None:
    from ledger.carbon import avoided_emissions

    gecs = registry.retire(registry.gec, 52)
    got = avoided_emissions(registry.ledger, ENTERPRISE, "2025")
    assert (got["gec_mwh"], got["avoided_kg_co2e"]) == (52, 52 * 610_100 // 1_000)  # 0.6101 tCO2/MWh, rounded down
    assert got["factor"]["code"] == "SIP-2020-PURCHASED" and "seed 004" in got["factor"]["source"]
    assert [r["retirement_id"] for r in got["retirements"]] == [gecs] and "not an offset" in got["note"]
    assert (
        avoided_emissions(registry.ledger, ENTERPRISE, "2025", "CN-PV-0.7787")["avoided_kg_co2e"]
        == 52 * 778_700 // 1_000
    )
    refused("FACTOR_NOT_VALID", avoided_emissions, registry.ledger, ENTERPRISE, "2019")
    refused("FACTOR_UNKNOWN", avoided_emissions, registry.ledger, ENTERPRISE, "2025", "NO-SUCH-FACTOR")
    # the conversion is a report: the GECs still count only as electricity in a claim
    e = refused("CLAIM_SHORTFALL", registry.claim, gecs)
    assert e.details["offsets_kg"] == 0


@pytest.mark.parametrize(("value_added", "colour"), [(1_500, "dark_green"), (1_200, "light_green"),
                                                     (1_000, "yellow"), (500, "red")])  # fmt: skip
def test_the_carbon_efficiency_rating_colours_an_enterprise_against_its_sector(registry, value_added, colour) -> None:
    from ledger.carbon import rating

    refused("RATING_NEEDS_VALUE_ADDED", rating, registry.ledger, ENTERPRISE, "2025")
    registry.ledger.report_emissions(ENTERPRISE, "2025", **REPORT, value_added_10k_yuan=value_added)
    got = rating(registry.ledger, ENTERPRISE, "2025")
    emitted = sum(SCOPES.values())  # 476,000 kg against the electronics benchmark of 420 kg per 10,000 yuan
    assert (got["colour"], got["kg_per_10k_yuan"]) == (colour, emitted // value_added)
    assert got["percent_of_benchmark"] == round(emitted * 100 / (value_added * 420), 1)
    assert "sample benchmark" in got["benchmark"]["source"] and "碳效码" in got["scheme"]["source"]
    refused("REPORT_NOT_FOUND", rating, registry.ledger, ENTERPRISE, "2024")
