"""A carbon-neutral claim's certificate, and its offline check (docs/claims.md has the steps, so
that a certifier or a bank can check one without OneClaim code).

The certificate is one JSON file:

    certificate   what the claim says: claimant, subject, boundary, period, rule set, the report
                  it was checked against, the retirements it cites and what they cover
    proofs        C2SP tlog-proofs, each with the event's canonical bytes as its `extra` line:
      claim         the claim's NeutralityClaim.Made event
      report        the CarbonAccount.EmissionsReported event of the period
      issuances     per batch, its Batch.Issued event (which says the instrument)
      retirements   per retirement, its Batch.Retired event (for whom, what period, when, how many)
      uses          per retirement, its Batch.RetirementUsed event naming this claim
    openings      the salt and value of each beneficiary commitment the retirements record
                  (ledger/personal.py): the claimant's own code, which the checker opens

The check recomputes everything from the proved events: each event's id follows from its name
(uuid5), each retirement belongs to its batch, each is used by this claim, and the coverage is
computed again by `ledger.domain.enterprise.coverage` under the rule set named. The certificate's
own figures must equal the proved claim's. `certificate_html` renders a bilingual page that
prints well; it carries no proof and is checked through the JSON.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from ledger.domain.batch import Batch, batch_id
from ledger.domain.enterprise import (
    CarbonAccount,
    Cited,
    NeutralityClaim,
    carbon_account_id,
    check_cited,
    claim_id,
    coverage,
    period_bounds,
    window_end,
)  # fmt: skip
from ledger.domain.rules import NEUTRALITY_RULES
from ledger.errors import Conflict
from ledger.personal import is_commitment, opens
from ledger.receipt import proved_json
from ledger.tlog.policy import Policy

if TYPE_CHECKING:
    from ledger.app import Ledger

FORMAT = "oneclaim-neutrality-certificate/v1"
_MADE, _REPORTED = get_topic(NeutralityClaim.Made), get_topic(CarbonAccount.EmissionsReported)
_ISSUED, _RETIRED, _USED = get_topic(Batch.Issued), get_topic(Batch.Retired), get_topic(Batch.RetirementUsed)
CLAIM_FIELDS = ("code", "claimant", "subject", "boundary", "period", "rule_set", "report", "retirements", "coverage",
                "made_on")  # fmt: skip


def certificate(ledger: Ledger, code: str, origin: str) -> dict:
    """The certificate of claim `code`, with proofs under the log's current checkpoint (sign or
    publish the head first: every event must be under it)."""
    claim = ledger.neutrality_claim(code)
    seqs = ledger.event_seqs(claim)
    rules = NEUTRALITY_RULES[claim.rule_set]
    proof = ledger.log.tlog_proof
    batches = {r: ledger.batch(r.rsplit("/R", 1)[0]) for r in seqs["retirements"]}
    committed = [b.retirement(r)["beneficiary"] for r, b in batches.items()]
    return {
        "format": FORMAT,
        "registry": origin,
        "certificate": {
            **{name: getattr(claim, name) for name in CLAIM_FIELDS},
            "rule_set_source": rules.source,
            "window": [period_bounds(claim.period)[0].isoformat(), window_end(claim.period, rules).isoformat()],
        },
        "proofs": {
            "claim": proof(seqs["claim"]),
            "report": proof(seqs["report"]),
            "issuances": {b: proof(s) for b, s in seqs["batches"].items()},
            "retirements": {r: proof(s) for r, s in seqs["retirements"].items()},
            "uses": {r: proof(s) for r, s in seqs["uses"].items()},
        },
        "openings": ledger.personal.openings(committed),
    }


def _invalid(message: str, **details: Any) -> Conflict:
    return Conflict(message, code="CERTIFICATE_INVALID", **details)


def _proved(what: str, text: object, policy: Policy, topic: str, originator: str) -> tuple[dict, Any]:
    """The state of a proved event of `topic` from aggregate `originator` (hex)."""
    if not isinstance(text, str):
        raise Conflict(f"the certificate has no proof of {what}", code="CERTIFICATE_INCOMPLETE", proof=what)
    proved, event = proved_json(what, text, policy, "CERTIFICATE_INVALID", proof=what)
    if event.get("topic") != topic or event.get("originator_id") != originator:
        raise _invalid(f"{what}: the proved event is a {event.get('topic')} of {event.get('originator_id')}, not a"
                       f" {topic} of {originator}", proof=what)  # fmt: skip
    return event["state"], proved


def _opened(recorded: object, openings: object, rid: str) -> object:
    """The beneficiary a proved retirement records: its commitment opened by the certificate's
    openings (a ledger older than commitments recorded the text itself)."""
    if not is_commitment(recorded):
        return recorded
    opening = openings.get(recorded) if isinstance(openings, dict) else None
    if not isinstance(opening, dict) or not opens(recorded, opening.get("salt"), opening.get("value")):
        raise _invalid(f"the certificate does not open the beneficiary commitment of {rid}", retirement=rid)
    return opening["value"]


def verify_certificate(document: object, policy: Policy) -> dict:
    """Check a certificate under the checker's own policy for the registry's log. A summary of
    what is proved, or a Conflict naming what fails."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _invalid(f"not a {FORMAT} document")
    shown, proofs = document.get("certificate"), document.get("proofs")
    if not isinstance(shown, dict) or not isinstance(proofs, dict):
        raise _invalid("a certificate has `certificate` and `proofs`")
    code = shown.get("code")
    claim, claim_proof = _proved("claim", proofs.get("claim"), policy, _MADE, claim_id(str(code)).hex)
    if claim.get("code") != code:
        raise _invalid(f"the proved claim is {claim.get('code')}, not {code}")
    for name in CLAIM_FIELDS:
        if shown.get(name) != claim.get(name):
            raise _invalid(f"the certificate's {name} is not what the proved claim says", field=name)
    claimant, period = claim["claimant"], claim["period"]
    rules = NEUTRALITY_RULES.get(claim["rule_set"])
    if rules is None:
        raise _invalid(f"unknown rule set {claim['rule_set']}")

    report, _ = _proved("report", proofs.get("report"), policy, _REPORTED, carbon_account_id(claimant).hex)
    if report.get("year") != period or any(report.get(k) != v for k, v in claim["report"].items() if k != "year"):
        raise _invalid("the proved emissions report is not the one the claim was checked against")

    instruments: dict[str, str] = {}
    cited = []
    for entry in claim["retirements"]:
        rid = entry["retirement_id"]
        code_of_batch = rid.rsplit("/R", 1)[0]
        originator = batch_id(code_of_batch).hex
        if code_of_batch not in instruments:
            issued, _ = _proved(f"issuance of {code_of_batch}", proofs.get("issuances", {}).get(code_of_batch),
                                policy, _ISSUED, originator)  # fmt: skip
            if issued.get("code") != code_of_batch:
                raise _invalid(f"the proved issuance is of {issued.get('code')}, not {code_of_batch}")
            instruments[code_of_batch] = issued["instrument"]
        retired, _ = _proved(f"retirement {rid}", proofs.get("retirements", {}).get(rid), policy, _RETIRED, originator)
        used, _ = _proved(f"use of {rid}", proofs.get("uses", {}).get(rid), policy, _USED, originator)
        if retired.get("retirement_id") != rid or used.get("retirement_id") != rid:
            raise _invalid(f"the proofs for {rid} are of another retirement")
        if used.get("use") != {"kind": "neutrality_claim", "ref": code}:
            raise _invalid(f"{rid} is recorded as backing {used.get('use')}, not this claim")
        units = sum(e - s for s, e in retired["ranges"])
        beneficiary = _opened(retired["beneficiary"], document.get("openings"), rid)
        cited.append(Cited(rid, instruments[code_of_batch], units, beneficiary, retired["purpose"],
                           retired["reporting_period"], retired["on"]))  # fmt: skip
    if [c.recorded() for c in cited] != claim["retirements"]:
        raise _invalid("the claim's list of retirements is not what their proved events say")
    try:
        check_cited(claimant, period, rules, cited)
    except Conflict as e:
        raise _invalid(f"a cited retirement does not qualify: {e.message}", rule=e.code) from None
    recomputed = coverage(claim["report"], claim["boundary"], rules, cited)
    if recomputed != claim["coverage"] or recomputed["shortfall_kg"]:
        raise _invalid("the coverage recomputed from the proved events is not the claim's", recomputed=recomputed)
    return {
        "claim": code, "claimant": claimant, "subject": claim["subject"], "period": period,
        "rule_set": rules.code, "coverage": recomputed, "retirements": len(cited),
        "registry": claim_proof.origin, "tree_size": claim_proof.tree_size,
        "cosigners": [c.witness for c in claim_proof.cosigners],
    }  # fmt: skip


def certificate_html(document: dict) -> str:
    """The certificate as a bilingual page (中文 / English) that prints on A4."""
    c = document["certificate"]
    cov = c["coverage"]
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r['retirement_id'])}</td><td>{e(r['instrument'])}</td><td class=n>{r['units']:,}</td>"
        f"<td>{e(r['purpose'])}</td><td>{e(r['on'])}</td></tr>"
        for r in c["retirements"]
    )
    figures = [
        ("核算边界 Boundary", ", ".join(c["boundary"])),
        ("报告期 Period", c["period"]),
        ("规则 Rule set", c["rule_set"]),
        ("核查机构 Verifier", c["report"]["verifier"]),
        ("盘查报告哈希 Inventory SHA-256", c["report"]["inventory_sha256"]),
        ("用电量 Electricity consumed", f"{cov['electricity_mwh']:,} MWh"),
        ("绿证覆盖 Covered by GECs", f"{cov['electricity_covered_mwh']:,} MWh"),
        ("剩余排放 Residual emissions", f"{cov['residual_kg']:,} kgCO2e"),
        ("抵消 Offsets retired", f"{cov['offsets_kg']:,} kgCO2e"),
    ]
    table = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in figures)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(c["code"])}</title>
<style>
@page {{ size: A4; margin: 18mm; }}
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif; color: #111; }}
h1 {{ font-size: 20pt; margin: 0 0 4mm; }} h2 {{ font-size: 12pt; margin: 6mm 0 2mm; }}
table {{ border-collapse: collapse; width: 100%; font-size: 9.5pt; }}
th, td {{ border: 0.3mm solid #999; padding: 1.2mm 2mm; text-align: left; vertical-align: top; }}
td.n {{ text-align: right; }} .code {{ font-family: monospace; word-break: break-all; }}
.note {{ font-size: 8.5pt; color: #444; }}
</style></head><body>
<h1>碳中和声明证明 / Carbon Neutrality Claim</h1>
<p><b>{e(c["subject"])}</b> — {e(c["claimant"])} — <span class=code>{e(c["code"])}</span></p>
<p>登记机构 Registry: <span class=code>{e(document["registry"])}</span>; 声明日期 Made on {e(c["made_on"])}</p>
<table>{table}</table>
<h2>核销记录 Retirements ({len(c["retirements"])})</h2>
<table><tr><th>ID</th><th>品种 Instrument</th><th>数量 Units</th><th>用途 Purpose</th><th>日期 Date</th></tr>
{rows}</table>
<p class=note>绿证仅覆盖所消费的电力（范围二），不作为抵消。GECs cover the electricity consumed (Scope 2) and are
never counted as offsets. 规则依据 Rule set: {e(c["rule_set_source"])}</p>
<p class=note>本页不含证明。请用证书 JSON 文件离线核验：
<span class=code>oneclaim claim verify FILE --policy POLICY</span> 或按 docs/claims.md 的步骤。
This page carries no proof: check the certificate's JSON file offline.</p>
</body></html>
"""
