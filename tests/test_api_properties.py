"""Property-based tests of the HTTP API with schemathesis, from its own OpenAPI document, against
a live server (tests/test_api.py's `served`): whatever the input, no 500; every error is
problem+json with a code the project defines; and a refused request writes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from api import problems
from api.app import HTTP_CODES, create_app
from tests.test_api import PROBLEM, Served, served  # noqa: F401 - the live server fixture

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = schemathesis.openapi.from_dict(create_app("sqlite:///unused.sqlite").openapi())


def known_codes() -> set[str]:
    """Every stable code the ledger and the API can answer with, read from their sources."""
    codes = {"REQUEST_INVALID", *HTTP_CODES.values()}
    for package in ("ledger", "api"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "problems.py":  # the documentation of the codes, not a source of them
                continue
            text = path.read_text()
            codes |= set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', text))  # as code= and one_of(...) give them
            codes |= set(re.findall(r'code(?::\s*str)?\s*=\s*"([A-Z][A-Z0-9_]+)"', text))  # one word: UNAUTHENTICATED
            codes |= {f"{kind}_NOT_FOUND" for kind in re.findall(r'"([a-z]+)", code\)', text)}  # _get's codes
    return codes


KNOWN = known_codes()


@SCHEMA.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_api_and_a_refusal_writes_nothing(case, served: Served) -> None:  # noqa: F811
    """With the operator's token, which most routes allow, so that inputs reach the ledger (the
    matrix in tests/test_api.py covers the other roles)."""
    writes = case.method.upper() == "POST"
    before = served.log_size() if writes else None
    answer = case.call(base_url=served.url, headers={"Authorization": f"Bearer {served.tokens['operator']}"})
    assert answer.status_code < 500, (case.method, case.formatted_path, answer.text)
    if answer.status_code >= 400:
        media = answer.headers["content-type"]
        assert (media[0] if isinstance(media, list) else media) == PROBLEM, answer.text
        code = answer.json()["code"]
        assert code in KNOWN or re.fullmatch(r"[A-Z][A-Z_]*_(NOT_FOUND|EXISTS|CODE_INVALID)", code), code
        if writes:
            assert served.log_size() == before, (case.method, case.formatted_path, code)


def test_the_known_codes_are_read_from_the_sources() -> None:
    assert {"DOUBLE_CLAIM", "UNAUTHENTICATED", "TOKEN_REVOKED", "TILE_PATH_INVALID", "BATCH_NOT_FOUND"} <= KNOWN
    assert httpx.codes.INTERNAL_SERVER_ERROR == 500  # the property's bound


def test_every_route_documents_its_refusals_with_an_example_of_each_code() -> None:
    """api/problems.py: each code documented is one the sources answer with, and every route's
    OpenAPI lists problem+json examples, with the credential refusals where it needs a token."""
    for code, (status, detail) in problems.EXAMPLES.items():
        assert code in KNOWN or re.fullmatch(r"[A-Z][A-Z_]*_(NOT_FOUND|EXISTS)", code), f"{code} is in no source"
        assert (400 <= status < 500 or (code, status) == ("LEDGER_BUSY", 503)) and detail  # busy: retry later
    for codes in problems.ROUTE_CODES.values():
        assert set(codes) <= set(problems.EXAMPLES)
    document = create_app("sqlite:///unused.sqlite").openapi()
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            examples = {
                name
                for answer in op["responses"].values()
                for name in answer.get("content", {}).get(PROBLEM, {}).get("examples", {})
            }
            assert {"REQUEST_INVALID", "LEDGER_BUSY"} <= examples, (method, path)
            if "public" not in op["x-roles"]:
                assert {"UNAUTHENTICATED", "TOKEN_EXPIRED", "FORBIDDEN"} <= examples, (method, path)
