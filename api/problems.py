"""The refusals each route documents in its OpenAPI, with an example problem for each code.

`EXAMPLES` holds one example per code, with its HTTP status and a detail as the ledger words it.
`ROUTE_CODES` names the codes each route can answer with, beyond what every route documents
(`REQUEST_INVALID`; `LEDGER_BUSY`, 503 with Retry-After, when the database's write lock did not
come within the lock timeout and nothing was written; and, for a route that needs a token,
`UNAUTHENTICATED`, `TOKEN_EXPIRED`, `TOKEN_REVOKED` and `FORBIDDEN`). tests/test_api_properties.py
checks that every code here is one the sources define, and that every route has its examples.
"""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, tuple[int, str]] = {
    "REQUEST_INVALID": (422, "body.quantity: Input should be greater than 0"),
    "LEDGER_BUSY": (
        503,
        "the ledger's database stayed locked for 60 s; nothing was written: retry (with the same Idempotency-Key)",
    ),
    "UNAUTHENTICATED": (401, "this route needs a bearer token"),
    "TOKEN_EXPIRED": (401, "the bearer token expired at 2026-01-31T00:00:00+00:00"),
    "TOKEN_REVOKED": (401, "the bearer token was revoked"),
    "FORBIDDEN": (403, "a auditor token may not call this route"),
    "ACCOUNT_NOT_YOURS": (403, "account acct:sip-gen is not SZ-FACTORY's"),
    "ACCOUNT_NOT_FOUND": (404, "unknown account acct:nobody"),
    "BATCH_NOT_FOUND": (404, "unknown batch GEC-202501-NO-SUCH-T"),
    "DEVICE_NOT_FOUND": (404, "unknown device NO-SUCH"),
    "CASE_NOT_FOUND": (404, "unknown case DC-000000000000"),
    "CONTRACT_NOT_FOUND": (404, "unknown contract GP-NONE"),
    "PROGRAMME_NOT_FOUND": (404, "unknown programme NO-SUCH"),
    "PROJECT_NOT_FOUND": (404, "unknown project NO-SUCH"),
    "PARTICIPANT_NOT_FOUND": (404, "unknown participant NO-SUCH"),
    "DISCLOSURE_NOT_FOUND": (404, "unknown disclosure CCER-NO-SUCH"),
    "SEQ_NOT_FOUND": (404, "no event with sequence number 99"),
    "SEQ_OUT_OF_RANGE": (422, "seq 99 is not below tree size 42"),
    "TREE_SIZE_OUT_OF_RANGE": (422, "tree size 99 is beyond the log's 42 entries"),
    "NO_CHECKPOINT": (404, "no checkpoint has been signed yet"),
    "CHECKPOINT_NOT_FOUND": (404, "no checkpoint of tree size 41 is signed"),
    "SEQ_NOT_COVERED": (
        422,
        "entry 41 is not in the checkpoint of size 40; a later published checkpoint will cover it",
    ),
    "NO_VERIFIER_KEY": (404, "this server was started without the log's verifier key"),
    "TILE_NOT_FOUND": (404, "tile 0/x001/000 is beyond the tree"),
    "TILE_PATH_INVALID": (422, "tile index 1 is not three digits per element"),
    "SERIAL_MALFORMED": (422, "serial GEC-202501-X is not <batch>:<n>"),
    "SERIAL_UNKNOWN": (404, "GEC-202501-SIP-PV-0001-T has no serial 9999"),
    "SELECTION_INVALID": (422, "give a quantity or serials, not both"),
    "INSUFFICIENT_UNITS": (409, "acct:sip-gen holds 3 unit(s) of the batch that it may transfer, not 5"),
    "UNITS_EXPIRED": (409, "batch GEC-202502-SIP-PV-0001-T expired after 2027-01-31"),
    "UNITS_RETIRED": (409, "cannot transfer GEC-202512-SIP-PV-0001-T:23-51: those units are retired"),
    "UNITS_FROZEN": (409, "cannot transfer those units: they are frozen for CCER project CCER-JS-DSOW-01"),
    "ALREADY_SOLD": (409, "GEC-202501-SIP-PV-0001-T:1-10 were sold once already; a GEC is sold once"),
    "NOT_TRADABLE": (409, "SIP-BIO-01 earns only non-tradable GECs"),
    "SAME_ACCOUNT": (422, "a transfer needs two different accounts"),
    "DATE_IN_FUTURE": (422, "business date 2027-06-01 is after today (2026-12-03, China time)"),
    "DATE_BEFORE_LAST_RECORDED": (409, "2025-01-10 is before 2025-02-01, the last date this batch recorded"),
    "REQUEST_ID_REUSED": (409, "this idempotency key was used for another request; nothing was written"),
    "CONCURRENT_UPDATE": (409, "another command changed the same records at the same time; nothing was written"),
    "RETIREMENT_INCOMPLETE": (422, "a retirement needs a beneficiary"),
    "NOTHING_TO_CANCEL": (409, "batch GEC-202501-SIP-PV-0001-T has no active or frozen units to cancel"),
    "SOLD_UNITS_NOT_NAMED": (409, "units another platform reported sold may be cancelled only by naming them"),
    "DOUBLE_CLAIM": (409, "kWh of SIP-PV-DUAL-01 in 2025-01 are claimed already (GEC batch GEC-202501-…)"),
    "ALREADY_ISSUED": (409, "GECs for SIP-PV-0001 in 2025-01 are issued already"),
    "NO_READINGS": (409, "SIP-PV-0001 has no readings for 2025-03"),
    "MONTH_NOT_ENDED": (409, "2026-12 has not ended"),
    "EARLIER_MONTH_OPEN": (409, "2025-01 of SIP-PV-0001 is not issued yet"),
    "PARTICIPANT_EXISTS": (409, "participant SIP-GEN already exists"),
    "ACCOUNT_EXISTS": (409, "account acct:sip-gen already exists"),
    "DEVICE_EXISTS": (409, "device SIP-PV-0001 already exists"),
    "CONTRACT_EXISTS": (409, "contract GP-2025-SIP-0001 already exists"),
    "PROGRAMME_EXISTS": (409, "programme SIP-PHCER already exists"),
    "PROJECT_EXISTS": (409, "project CCER-JS-DSOW-01 already exists"),
    "ROLE_INVALID": (422, "role 'buyer' is not one of consumer, generator, registry, trader, verifier"),
    "DEVICE_CODE_INVALID": (422, "device 'x' is not valid"),
    "IMPORT_REJECTED": (422, "2 of 3 rows are bad; nothing was imported"),
    "CSV_HEADER_INVALID": (422, "the uploaded CSV lacks column(s) end"),
    "MEDIA_TYPE_UNSUPPORTED": (415, "send the file as Content-Type: text/csv"),
    "BODY_TOO_LARGE": (422, "a CSV body may hold at most 16777216 bytes"),
    "MONTH_NOT_CONTRACTED": (409, "GP-2025-SIP-0001 contracts nothing for 2025-13"),
    "ALREADY_SETTLED": (409, "GP-2025-SIP-0001 settled 2025-01 already"),
    "CONTRACT_EMPTY": (422, "a contract needs contracted MWh for at least one month"),
    "FACTOR_UNKNOWN": (422, "emission factor NO-SUCH is not known"),
    "METHODOLOGY_NOT_IN_PROGRAMME": (409, "SIP-PHCER has no methodology 'forestry'"),
    "OUTSIDE_CREDITING_PERIOD": (409, "2036-01 is outside the crediting period"),
    "PERIOD_ALREADY_VERIFIED": (409, "reductions for 2025-01-01..2025-03-31 are registered already"),
    "CCER_NOT_ELECTED": (409, "JS-DSOW-01 has not elected CCER"),
    "ELECTION_NOT_APPLICABLE": (409, "only deep-sea offshore wind and CSP may elect"),
    "CASE_ALREADY_RESOLVED": (409, "case DC-BE82449A988F is resolved already"),
    "EXTERNAL_NOT_DISPUTED": (409, "the other registry's claim is not disputed"),
    "STATUS_INVALID": (422, "status 'closed' is not one of open, resolved"),
    "AGREEMENT_NOT_FOUND": (404, "unknown agreement SIP-CZ-NONE"),
    "AGREEMENT_EXISTS": (409, "agreement SIP-CZ-2026 is already recorded with other terms"),
    "TERMS_INVALID": (422, "an agreement has exactly two parties"),
    "NOT_A_PARTY": (422, "this registry (suzhou.example/log) is not a party to SIP-CZ-2026"),
    "AGREEMENT_NOT_CONFIRMED": (
        409,
        "agreement SIP-CZ-2026 is not in force: the partner has not been shown to record the same terms",
    ),
    "AGREEMENT_NOT_VALID": (409, "agreement SIP-CZ-2026 is valid from 2026-01-01 to 2028-12-31, not on 2029-01-02"),
    "TERMS_DIFFER": (409, "chuzhou.example/log recorded other terms for SIP-CZ-2026"),
    "NOT_RECOGNISED": (409, "chuzhou.example/log does not recognise GEC under SIP-CZ-2026"),
    "TIMEOUT_INVALID": (409, "a timeout of 2026-05-01 is before the transfer's date 2026-06-01"),
    "UNITS_IN_TRANSIT": (409, "cannot transfer SIP-PHCER-1:1-100: those units are in_transit"),
    "PACKET_NOT_FOUND": (404, "SIP-CZ-2026 has sent no packet #9"),
    "PACKET_UNKNOWN": (409, "SIP-CZ-2026 never sent packet #9"),
    "PACKET_MISMATCH": (409, "the acknowledgement is for another packet #1 than the one sent"),
    "PACKET_NOT_FOR_CHANNEL": (409, "the packet is not for channel SIP-CZ-2026 from suzhou.example/log"),
    "PACKET_OUT_OF_ORDER": (409, "channel SIP-CZ-2026 is ordered: packet #1 is next, not #2"),
    "PARTNER_EQUIVOCATION": (409, "packet #1 was already exported; the partner now shows it refused"),
    "ALREADY_IMPORTED": (409, "suzhou.example/log event 41 was already imported"),
    "PARTNER_LOG_INCONSISTENT": (
        409,
        "the checkpoint of suzhou.example/log at size 90 is not consistent with the one of size 80 relied on before",
    ),
    "PARTNER_EVENT_INVALID": (409, "the proved entry is not a OneClaim event"),
    "PARTNER_EVENT_WRONG_KIND": (409, "the proved event is a TransferReceived, not a TransferOut"),
    "PROOF_WRONG_LOG": (409, "the proof is of log other.example/log, not suzhou.example/log"),
    "PROOF_MALFORMED": (422, "the consistency proof is a list of base64 SHA-256 hashes"),
    "TLOG_PROOF_MALFORMED": (409, "the proof from suzhou.example/log does not verify: not a tlog-proof"),
    "TLOG_PROOF_SIGNATURE": (409, "the checkpoint is not signed by a policy's log"),
    "TLOG_PROOF_ORIGIN": (409, "the checkpoint's origin is no log's key name"),
    "TLOG_PROOF_NO_EVENT": (409, "the proof carries no event (extra)"),
    "QUORUM_NOT_MET": (409, "the checkpoint is cosigned by none; the policy wants jx"),
    "INCLUSION_PROOF_INVALID": (409, "the event is not at index 41"),
    # the enterprise's side (api/enterprise.py)
    "USCC_INVALID": (422, "the unified social credit code's check character is wrong"),
    "SECTOR_INVALID": (422, "a carbon account needs its sector (up to 64 characters)"),
    "CARBON_ACCOUNT_EXISTS": (409, "carbon_account SIP-FAB-01 already exists"),
    "CARBON_ACCOUNT_NOT_FOUND": (404, "unknown carbon_account SIP-FAB-01"),
    "USCC_SALT_UNAVAILABLE": (409, "this server was started without the registry's credit-code salt"),
    "PARTICIPANT_NOT_YOURS": (403, "SIP-FAB-01 is not SIP-BIO-02"),
    "YEAR_INVALID": (422, "a reporting year is four digits (e.g. 2025), got '25'"),
    "REPORT_INCOMPLETE": (422, "name the verifier (a participant code)"),
    "REPORT_NOT_FOUND": (409, "SIP-FAB-01 has no verified emissions report for 2025"),
    "DIGEST_INVALID": (422, "inventory_sha256 must be a SHA-256 in lowercase hex"),
    "QUANTITY_OUT_OF_RANGE": (422, "scope1 must be a whole number of kgCO2e from 0 to 10^15, got -1"),
    "FACTOR_NOT_VALID": (409, "factor SIP-2020-PURCHASED is valid from 2020-01-01 to its replacement, not for 2019"),
    "RATING_NEEDS_VALUE_ADDED": (409, "SIP-FAB-01's 2025 report gives no value added: no carbon efficiency to rate"),
    "BENCHMARK_NOT_FOUND": (409, "no 2025 benchmark for the sector textiles"),
    "RATING_SCHEME_UNKNOWN": (422, "unknown scheme 'X'"),
    "OBLIGATION_EXISTS": (409, "JS-STEEL-01's 2025 ETS obligation is already recorded"),
    "OBLIGATION_INCOMPLETE": (422, "name the obligation's source (the allocation notice)"),
    "OBLIGATION_NOT_FOUND": (409, "JS-STEEL-01 has no ETS obligation for 2025"),
    "ETS_OFFSET_CAP_EXCEEDED": (
        409,
        "surrendering 1,020,000 kg of CCER against 2025 is 5.10% of the 20,000,000 kg"
        " obligation; at most 5% may be offset, so 1,000,000 kg remain",
    ),  # fmt: skip
    "ETS_UNIT_NOT_ELIGIBLE": (409, "GEC-202501-SIP-PV-0001-T/R1 is GEC; only CCER offsets an ETS obligation"),
    "ETS_RULE_NOT_IN_FORCE": (409, "no ETS offset rule is in force on 2020-01-01"),
    "RETIREMENT_NOT_FOR_SURRENDER": (409, "the units were retired for voluntary; an ETS surrender needs ets_offset"),
    "RETIREMENT_ALREADY_USED": (
        409,
        "B/R1 already backs neutrality_claim NC-SIP-FAB-01-2025-1; a retirement backs one claim",
    ),  # fmt: skip
    "RETIREMENT_NOT_FOUND": (404, "unknown retirement B/R9"),
    "RETIREMENT_ID_INVALID": (422, "a retirement id is <batch>/R<n>, got 'B'"),
    "RULE_SET_UNKNOWN": (422, "unknown rule_set 'PAS2060'"),
    "RULE_SET_NOT_IN_FORCE": (409, "ISO14068-1:2023 is in force from 2023-11-01"),
    "SUBJECT_INVALID": (422, "name the claim's subject (the organisation or product, up to 256 characters)"),
    "BOUNDARY_INVALID": (422, "a carbon-neutral claim's boundary includes scope1 and scope2"),
    "CLAIM_EMPTY": (422, "a claim cites at least one retirement"),
    "RETIREMENT_CITED_TWICE": (422, "a claim cites each retirement once"),
    "INSTRUMENT_NOT_CLAIMABLE": (
        409,
        "B/R1 is X, which ISO14068-1:2023 counts neither for electricity nor as an offset",
    ),  # fmt: skip
    "RETIREMENT_NOT_FOR_CLAIMANT": (409, "B/R1 was retired for SIP-BIO-02, not for the claimant SIP-FAB-01"),
    "RETIREMENT_PERIOD_MISMATCH": (409, "B/R1 was retired for the period 2024, not 2025"),
    "RETIREMENT_PURPOSE_NOT_CLAIMABLE": (
        409,
        "B/R1 was retired for ets_offset; ISO14068-1:2023 counts offsets retired for carbon_neutrality, voluntary",
    ),  # fmt: skip
    "RETIREMENT_OUTSIDE_WINDOW": (
        409,
        "B/R1 was retired on 2027-01-05; a 2025 claim counts retirements from 2025-01-01 to 2026-12-31",
    ),  # fmt: skip
    "CLAIM_SHORTFALL": (
        409,
        "the claim does not add up: residual emissions 394,176 kg, offsets retired 300,000 kg, short by 94,176 kgCO2e",
    ),  # fmt: skip
    "CLAIM_NOT_FOUND": (404, "unknown claim NC-SIP-FAB-01-2025-9"),
    "ALERT_NOT_FOUND": (404, "unknown alert 0123456789abcdef"),
    "NOTE_INVALID": (422, "say what was found (a note of 1 to 1,000 characters)"),
    "ALERT_ALREADY_ACKNOWLEDGED": (409, "alert 0123456789abcdef is already acknowledged"),
}
"""An example problem for each code a route documents: its HTTP status and a detail."""

_MOVE = ["BATCH_NOT_FOUND", "ACCOUNT_NOT_FOUND", "ACCOUNT_NOT_YOURS", "SELECTION_INVALID", "SERIAL_MALFORMED",
         "INSUFFICIENT_UNITS", "UNITS_EXPIRED", "UNITS_RETIRED", "UNITS_FROZEN", "DATE_IN_FUTURE",
         "DATE_BEFORE_LAST_RECORDED", "REQUEST_ID_REUSED", "CONCURRENT_UPDATE"]  # fmt: skip
_ROWS = ["IMPORT_REJECTED", "DEVICE_NOT_FOUND", "CONCURRENT_UPDATE"]

_PROOF = [
    "AGREEMENT_NOT_FOUND",
    "PROOF_MALFORMED",
    "TLOG_PROOF_MALFORMED",
    "TLOG_PROOF_SIGNATURE",
    "TLOG_PROOF_ORIGIN",
    "TLOG_PROOF_NO_EVENT",
    "QUORUM_NOT_MET",
    "INCLUSION_PROOF_INVALID",
    "PROOF_WRONG_LOG",
    "PARTNER_LOG_INCONSISTENT",
    "PARTNER_EVENT_INVALID",
    "PARTNER_EVENT_WRONG_KIND",
    "CONCURRENT_UPDATE",
]
"""What a route that takes a partner's proof answers when the proof does not hold."""

_ACCOUNT = ["CARBON_ACCOUNT_NOT_FOUND", "PARTICIPANT_NOT_YOURS"]
_CITE = ["RETIREMENT_ID_INVALID", "RETIREMENT_NOT_FOUND", "BATCH_NOT_FOUND", "RETIREMENT_ALREADY_USED",
         "DATE_IN_FUTURE", "CONCURRENT_UPDATE"]  # fmt: skip
"""What a route that cites retirements answers when one cannot be used."""

ROUTE_CODES: dict[str, list[str]] = {
    "record_agreement": ["TERMS_INVALID", "NOT_A_PARTY", "AGREEMENT_EXISTS"],
    "confirm_agreement": [*_PROOF, "TERMS_DIFFER"],
    "send_transfer": [
        *_MOVE,
        "AGREEMENT_NOT_FOUND",
        "AGREEMENT_NOT_CONFIRMED",
        "AGREEMENT_NOT_VALID",
        "NOT_RECOGNISED",
        "TIMEOUT_INVALID",
        "UNITS_IN_TRANSIT",
    ],
    "packets": ["AGREEMENT_NOT_FOUND"],
    "decisions": ["AGREEMENT_NOT_FOUND"],
    "receive_transfer": [
        *_PROOF,
        "PACKET_NOT_FOR_CHANNEL",
        "PACKET_OUT_OF_ORDER",
        "PARTNER_EQUIVOCATION",
        "ALREADY_IMPORTED",
        "AGREEMENT_NOT_CONFIRMED",
    ],
    "acknowledge_transfer": [*_PROOF, "PACKET_UNKNOWN", "PACKET_MISMATCH", "PARTNER_EQUIVOCATION"],
    "checkpoint": ["NO_CHECKPOINT"],
    "log_policy": ["NO_VERIFIER_KEY"],
    "inclusion_proof": [
        "SEQ_OUT_OF_RANGE",
        "TREE_SIZE_OUT_OF_RANGE",
        "NO_CHECKPOINT",
        "CHECKPOINT_NOT_FOUND",
        "SEQ_NOT_COVERED",
    ],
    "consistency_proof": ["TREE_SIZE_OUT_OF_RANGE"],
    "provenance": ["SERIAL_MALFORMED", "BATCH_NOT_FOUND", "SERIAL_UNKNOWN"],
    "record_events": [
        "BATCH_NOT_FOUND",
        "DEVICE_NOT_FOUND",
        "CASE_NOT_FOUND",
        "DISCLOSURE_NOT_FOUND",
        "PROJECT_NOT_FOUND",
        "PROGRAMME_NOT_FOUND",
    ],  # fmt: skip
    "holdings": ["ACCOUNT_NOT_FOUND", "ACCOUNT_NOT_YOURS"],
    "claims_check": ["DEVICE_NOT_FOUND"],
    "issue_gec": [
        "DEVICE_NOT_FOUND",
        "ACCOUNT_NOT_FOUND",
        "ALREADY_ISSUED",
        "NO_READINGS",
        "MONTH_NOT_ENDED",
        "EARLIER_MONTH_OPEN",
        "DOUBLE_CLAIM",
        "REQUEST_ID_REUSED",
        "CONCURRENT_UPDATE",
    ],  # fmt: skip
    "elect": ["DEVICE_NOT_FOUND", "ELECTION_NOT_APPLICABLE", "REQUEST_ID_REUSED"],
    "issue_inclusion": [
        "PROGRAMME_NOT_FOUND",
        "DEVICE_NOT_FOUND",
        "ACCOUNT_NOT_FOUND",
        "SELECTION_INVALID",
        "METHODOLOGY_NOT_IN_PROGRAMME",
        "DOUBLE_CLAIM",
        "REQUEST_ID_REUSED",
    ],  # fmt: skip
    "issue_ccer": [
        "PROJECT_NOT_FOUND",
        "ACCOUNT_NOT_FOUND",
        "OUTSIDE_CREDITING_PERIOD",
        "PERIOD_ALREADY_VERIFIED",
        "DOUBLE_CLAIM",
        "REQUEST_ID_REUSED",
    ],  # fmt: skip
    "settle": ["CONTRACT_NOT_FOUND", "MONTH_NOT_CONTRACTED", "UNITS_EXPIRED", "DATE_IN_FUTURE", "CONCURRENT_UPDATE"],
    "transfer": [*_MOVE, "SAME_ACCOUNT", "ALREADY_SOLD"],
    "retire": [*_MOVE, "RETIREMENT_INCOMPLETE"],
    "cancel": [
        "BATCH_NOT_FOUND",
        "SERIAL_MALFORMED",
        "NOTHING_TO_CANCEL",
        "SOLD_UNITS_NOT_NAMED",
        "REQUEST_ID_REUSED",
    ],  # fmt: skip
    "add_participant": ["PARTICIPANT_EXISTS", "ROLE_INVALID", "REQUEST_ID_REUSED"],
    "open_account": ["ACCOUNT_EXISTS", "PARTICIPANT_NOT_FOUND", "REQUEST_ID_REUSED"],
    "register_device": ["DEVICE_EXISTS", "DEVICE_CODE_INVALID", "PARTICIPANT_NOT_FOUND", "REQUEST_ID_REUSED"],
    "sign_contract": ["CONTRACT_EXISTS", "DEVICE_NOT_FOUND", "NOT_TRADABLE", "CONTRACT_EMPTY", "REQUEST_ID_REUSED"],
    "establish_programme": ["PROGRAMME_EXISTS", "FACTOR_UNKNOWN", "REQUEST_ID_REUSED"],
    "register_project": [
        "PROJECT_EXISTS",
        "PARTICIPANT_NOT_FOUND",
        "DEVICE_NOT_FOUND",
        "CCER_NOT_ELECTED",
        "REQUEST_ID_REUSED",
    ],  # fmt: skip
    "import_readings": _ROWS,
    "import_corrections": _ROWS,
    "upload_readings": [*_ROWS, "CSV_HEADER_INVALID", "MEDIA_TYPE_UNSUPPORTED", "BODY_TOO_LARGE"],
    "upload_corrections": [*_ROWS, "CSV_HEADER_INVALID", "MEDIA_TYPE_UNSUPPORTED", "BODY_TOO_LARGE"],
    "import_external": ["IMPORT_REJECTED"],
    "expire": ["DATE_IN_FUTURE"],
    "cases": ["STATUS_INVALID"],
    "case_trace": ["CASE_NOT_FOUND"],
    "resolve_case": ["CASE_NOT_FOUND", "CASE_ALREADY_RESOLVED", "EXTERNAL_NOT_DISPUTED", "REQUEST_ID_REUSED"],
    "disclosure": ["DISCLOSURE_NOT_FOUND"],
    "audit_bundle": ["NO_VERIFIER_KEY", "NO_CHECKPOINT"],
    "tiles_checkpoint": ["NO_CHECKPOINT"],
    "entry_bundle": ["TILE_NOT_FOUND", "TILE_PATH_INVALID"],
    "hash_tile": ["TILE_NOT_FOUND", "TILE_PATH_INVALID"],
    # the enterprise's side
    "open_carbon_account": [
        "USCC_INVALID",
        "SECTOR_INVALID",
        "PARTICIPANT_NOT_FOUND",
        "CARBON_ACCOUNT_EXISTS",
        "USCC_SALT_UNAVAILABLE",
    ],  # fmt: skip
    "report_emissions": [
        *_ACCOUNT,
        "PARTICIPANT_NOT_FOUND",
        "YEAR_INVALID",
        "REPORT_INCOMPLETE",
        "DIGEST_INVALID",
        "QUANTITY_OUT_OF_RANGE",
        "CONCURRENT_UPDATE",
    ],  # fmt: skip
    "carbon_account": [*_ACCOUNT, "NO_CHECKPOINT", "SEQ_NOT_COVERED"],
    "avoided": [*_ACCOUNT, "FACTOR_UNKNOWN", "FACTOR_NOT_VALID"],
    "rating": [
        *_ACCOUNT,
        "REPORT_NOT_FOUND",
        "RATING_NEEDS_VALUE_ADDED",
        "BENCHMARK_NOT_FOUND",
        "RATING_SCHEME_UNKNOWN",
    ],  # fmt: skip
    "record_obligation": [
        *_ACCOUNT,
        "YEAR_INVALID",
        "OBLIGATION_EXISTS",
        "OBLIGATION_INCOMPLETE",
        "QUANTITY_OUT_OF_RANGE",
        "CONCURRENT_UPDATE",
    ],  # fmt: skip
    "surrender": [
        *_ACCOUNT,
        *_CITE,
        "OBLIGATION_NOT_FOUND",
        "ETS_OFFSET_CAP_EXCEEDED",
        "ETS_UNIT_NOT_ELIGIBLE",
        "RETIREMENT_NOT_FOR_SURRENDER",
        "ETS_RULE_NOT_IN_FORCE",
    ],  # fmt: skip
    "make_claim": [
        *_ACCOUNT,
        *_CITE,
        "REPORT_NOT_FOUND",
        "RULE_SET_UNKNOWN",
        "RULE_SET_NOT_IN_FORCE",
        "SUBJECT_INVALID",
        "BOUNDARY_INVALID",
        "CLAIM_EMPTY",
        "RETIREMENT_CITED_TWICE",
        "INSTRUMENT_NOT_CLAIMABLE",
        "RETIREMENT_NOT_FOR_CLAIMANT",
        "RETIREMENT_PERIOD_MISMATCH",
        "RETIREMENT_PURPOSE_NOT_CLAIMABLE",
        "RETIREMENT_OUTSIDE_WINDOW",
        "CLAIM_SHORTFALL",
        "YEAR_INVALID",
    ],  # fmt: skip
    "claim_certificate": ["CLAIM_NOT_FOUND", "PARTICIPANT_NOT_YOURS", "NO_CHECKPOINT", "SEQ_NOT_COVERED"],
    "alert": ["ALERT_NOT_FOUND", "NO_CHECKPOINT", "SEQ_NOT_COVERED"],
    "acknowledge": ["ALERT_NOT_FOUND", "NOTE_INVALID", "ALERT_ALREADY_ACKNOWLEDGED"],
}
"""The refusals each route documents (by route function name); show routes add their kind's
NOT_FOUND (see `codes_for`)."""

CREDENTIALS = ["UNAUTHENTICATED", "TOKEN_EXPIRED", "TOKEN_REVOKED", "FORBIDDEN"]


def codes_for(name: str, public: bool) -> list[str]:
    codes = ["REQUEST_INVALID", "LEDGER_BUSY", *ROUTE_CODES.get(name, [])]
    if name.startswith("show_"):
        codes.append(f"{name.removeprefix('show_').upper()}_NOT_FOUND")
    return codes if public else [*codes, *CREDENTIALS]


def responses(name: str, public: bool) -> dict[int, Any]:
    """OpenAPI responses for a route: per status, application/problem+json with an example of
    each code it documents."""
    out: dict[int, Any] = {}
    for code in codes_for(name, public):
        status, detail = EXAMPLES[code]
        example = {"type": f"urn:oneclaim:problem:{code}", "title": code, "status": status, "detail": detail,
                   "code": code}  # fmt: skip
        entry = out.setdefault(status, {"description": "A refusal (RFC 9457 problem).",
                                        "content": {"application/problem+json": {"examples": {}}}})  # fmt: skip
        entry["content"]["application/problem+json"]["examples"][code] = {"summary": detail, "value": example}
    return out
