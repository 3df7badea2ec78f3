"""RFC 6962 / RFC 9162 conformance vectors from transparency-dev/merkle (testdata/).

The vectors live outside the project, in ../shared/vectors/rfc6962 (see its README); they are
read in place, never copied. Each file is one test: `wantErr: false` must verify, `wantErr: true`
must raise ProofError.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger.tlog.merkle import ProofError, verify_consistency, verify_inclusion
from tests.support import SHARED_VECTORS, missing_evidence

VECTORS = SHARED_VECTORS


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json")) if VECTORS.is_dir() else []


def _params(kind: str) -> list:
    files = _files(kind)
    if not files:
        return [pytest.param(None, id=f"{kind}-vectors-absent")]
    return [pytest.param(f, id=f.relative_to(VECTORS).as_posix()) for f in files]


def _load(path: Path | None) -> dict:
    if path is None:
        missing_evidence("RFC 6962 inclusion and consistency vectors", VECTORS)
    return json.loads(path.read_text())


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _proof(vector: dict) -> list[bytes]:
    return [_b64(h) for h in vector["proof"] or []]


def _expect(vector: dict, check) -> None:
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("path", _params("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    v = _load(path)
    _expect(
        v,
        lambda: verify_inclusion(v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v), _b64(v["root"])),
    )


@pytest.mark.parametrize("path", _params("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    v = _load(path)
    _expect(
        v,
        lambda: verify_consistency(v["size1"], v["size2"], _proof(v), _b64(v["root1"]), _b64(v["root2"])),
    )


def test_vector_set_is_complete() -> None:
    """Guard against a silently empty or partial vector folder."""
    if not VECTORS.is_dir():
        missing_evidence("the RFC 6962 vector set", VECTORS)
    inclusion, consistency = _files("inclusion"), _files("consistency")
    assert len(inclusion) >= 80 and len(consistency) >= 80
    every = [json.loads(p.read_text()) for p in inclusion + consistency]
    assert any(not v["wantErr"] for v in every) and any(v["wantErr"] for v in every)
