"""Tests for ledger.tlog.note: C2SP signed-note, tlog-checkpoint, tlog-cosignature.

Independent vectors (we did not produce them; each verifies cryptographically):

* GO_*: golang/mod, sumdb/note/note_test.go (commit 02c991387e35f9e4c0a9b7ce137717055f8d716d),
  TestSign / TestOpen / TestNewVerifier / TestNewSigner.
* SPEC_FOO_*: the example.com/foo key and note from the C2SP signed-note example.
* REAL_*: a production checkpoint of arche2025h1.staging.ct.transparency.dev with
  the log's Ed25519 signature and a cosignature/v1 (type 0x04) from the witness
  remora.n621.de, as recorded in florolf/tlog-scales, tests/test_signing.py.
* TD_*: verifier keys from transparency-dev/formats, note/note_cosigv1_test.go.
* The cosigned message layout from the c2sp.org/tlog-cosignature example.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

import ledger.tlog.note as note_module
from ledger.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    add_signature_lines,
    add_signatures,
    cosign,
    cosignature_message,
    generate_signer,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    verify_cosignature,
)

EM = "\u2014"

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_PETER_SIG = (
    f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
GO_SIGNED = GO_TEXT + "\n" + GO_PETER_SIG

SPEC_FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_FOO_NOTE = (
    "This is an example message.\n\n"
    f"{EM} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

REAL_LOG_VKEY = "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
REAL_WITNESS_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
REAL_TEXT = "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
REAL_WITNESS_LINE = (
    f"{EM} remora.n621.de "
    "2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
)
REAL_NOTE = (
    REAL_TEXT + "\n" + f"{EM} arche2025h1.staging.ct.transparency.dev "
    "zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n"
    + f"{EM} arche2025h1.staging.ct.transparency.dev "
    "ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n"
    + f"{EM} transparency.dev/DEV:witness-little-garden "
    "2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n"
    + f"{EM} witness1.smartit.nu/witness1 "
    "pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n"
    + REAL_WITNESS_LINE
    + f"{EM} witness.stagemole.eu "
    "Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n"
)
REAL_WITNESS_TIMESTAMP = 1779573024

TD_COSIG_VKEY = REAL_WITNESS_VKEY  # also in transparency-dev/formats as a valid 0x04 key
TD_PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"

SPEC_CHECKPOINT_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def error_code(fn: Callable[..., object], *args: object) -> str:
    with pytest.raises(NoteError) as info:
        fn(*args)
    assert info.value.message  # every error says what was wrong
    return info.value.code


def sig_line(name: str, key_id: int, sig: bytes) -> str:
    return f"{EM} {name} {base64.b64encode(key_id.to_bytes(4, 'big') + sig).decode()}\n"


# --- Go's vectors --------------------------------------------------------------


def test_go_verifier_key_parses_and_round_trips() -> None:
    v = parse_verifier_key(GO_VKEY)
    assert (v.name, v.key_hash, v.key_type) == ("PeterNeumann", 0xC74F20A3, ALG_ED25519)
    assert v.verifier_key() == GO_VKEY


def test_go_private_key_string_round_trips_and_matches_verifier_key() -> None:
    signer = Signer.from_private_key_string(GO_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_hash == 0xC74F20A3
    assert signer.verifier_key() == GO_VKEY
    assert signer.private_key_string() == GO_SKEY


def test_go_sign_is_byte_identical() -> None:
    signer = Signer.from_private_key_string(GO_SKEY)
    assert signer.sign(GO_TEXT) == GO_PETER_SIG
    assert sign_note(GO_TEXT, signer) == GO_SIGNED


def test_go_resign_replaces_existing_signature_by_same_key() -> None:
    signer = Signer.from_private_key_string(GO_SKEY)
    stale = GO_TEXT + "\n" + sig_line("PeterNeumann", 0xC74F20A3, b"BADSIGNATURE")
    assert add_signatures(stale, signer) == GO_SIGNED


def test_go_open_accepts_go_note() -> None:
    peter = parse_verifier_key(GO_VKEY)
    enoch = parse_verifier_key(GO_ENOCH_VKEY)
    both = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    assert open_note(GO_SIGNED, [peter]) == (GO_TEXT, ["PeterNeumann"])
    assert open_note(both.encode(), [peter]) == (GO_TEXT, ["PeterNeumann"])
    assert open_note(both, [peter, enoch]) == (GO_TEXT, ["PeterNeumann", "EnochRoot"])
    assert error_code(open_note, both, []) == "NOTE_NO_VERIFIED_SIGNATURE"


def test_go_open_repeated_and_unknown_signatures() -> None:
    peter = parse_verifier_key(GO_VKEY)
    enoch_abcd = GO_ENOCH_SIG[:60] + "ABCD" + GO_ENOCH_SIG[60:]
    msg = GO_TEXT + "\n" + GO_PETER_SIG * 2 + GO_ENOCH_SIG * 2 + enoch_abcd
    assert open_note(msg, [peter]) == (GO_TEXT, ["PeterNeumann"])


def test_go_open_invalid_signature_from_known_key() -> None:
    peter = parse_verifier_key(GO_VKEY)
    bad = GO_TEXT + "\n" + GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]
    assert error_code(open_note, bad, [peter]) == "NOTE_BAD_SIGNATURE"


def test_go_open_signature_limit() -> None:
    peter = parse_verifier_key(GO_VKEY)
    assert open_note(GO_TEXT + "\n" + GO_PETER_SIG * 100, [peter])[1] == ["PeterNeumann"]
    assert error_code(open_note, GO_TEXT + "\n" + GO_PETER_SIG * 101, [peter]) == "NOTE_MALFORMED"
    assert error_code(open_note, GO_TEXT + "\n" + GO_PETER_SIG * 101, []) == "NOTE_MALFORMED"


@pytest.mark.parametrize(
    "msg",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_PETER_SIG,
        b"\xff" + (GO_TEXT + "\n" + GO_PETER_SIG).encode(),
        GO_TEXT + "\n" + GO_PETER_SIG.replace("PeterNeumann", "Bad Name"),
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_malformed_messages(msg: str | bytes) -> None:
    assert error_code(open_note, msg, [parse_verifier_key(GO_VKEY)]) == "NOTE_MALFORMED"


def test_go_mangled_verifier_keys_are_rejected() -> None:
    # golang/mod TestNewVerifier: every proper substring and every +1 byte fails.
    n = len(GO_VKEY)
    for i in range(n + 1):
        for j in range(i + 1, n + 1):
            if (i, j) != (0, n):
                assert error_code(parse_verifier_key, GO_VKEY[i:j]) == "KEY_MALFORMED"
    for i in range(n):
        mangled = GO_VKEY[:i] + chr(ord(GO_VKEY[i]) + 1) + GO_VKEY[i + 1 :]
        assert error_code(parse_verifier_key, mangled) == "KEY_MALFORMED"
    # Wrong key length and unknown algorithm byte, both with a matching key hash.
    wrong_len = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    unknown_alg = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert error_code(parse_verifier_key, wrong_len) == "KEY_MALFORMED"
    assert error_code(parse_verifier_key, unknown_alg) == "KEY_MALFORMED"


def test_go_mangled_private_keys_are_rejected() -> None:
    # golang/mod TestNewSigner.
    n = len(GO_SKEY)
    for i in range(n + 1):
        for j in range(i + 1, n + 1):
            if (i, j) != (0, n):
                assert error_code(Signer.from_private_key_string, GO_SKEY[i:j]) == "KEY_MALFORMED"
    for i in range(n):
        mangled = GO_SKEY[:i] + chr(ord(GO_SKEY[i]) + 1) + GO_SKEY[i + 1 :]
        assert error_code(Signer.from_private_key_string, mangled) == "KEY_MALFORMED"


# --- other independent vectors --------------------------------------------------


def test_spec_example_note_verifies() -> None:
    v = parse_verifier_key(SPEC_FOO_VKEY)
    assert v.key_hash == 0x530D903A
    assert open_note(SPEC_FOO_NOTE, [v]) == ("This is an example message.\n", ["example.com/foo"])


def test_real_cosigned_checkpoint_verifies() -> None:
    log = parse_verifier_key(REAL_LOG_VKEY)
    witness = parse_verifier_key(REAL_WITNESS_VKEY)
    assert witness.key_type == ALG_COSIGNATURE_V1
    # The first log-named line has a different key ID (another signature type):
    # same name, different ID, so it is ignored rather than rejected.
    text, names = open_note(REAL_NOTE, [log, witness])
    assert text == REAL_TEXT
    assert names == ["arche2025h1.staging.ct.transparency.dev", "remora.n621.de"]
    checkpoint = parse_checkpoint(text)
    assert (checkpoint.origin, checkpoint.size) == (log.name, 1432088532)
    assert checkpoint.text() == REAL_TEXT
    assert verify_cosignature(text, REAL_WITNESS_LINE, witness) == REAL_WITNESS_TIMESTAMP
    assert open_note(REAL_NOTE, [witness]) == (REAL_TEXT, ["remora.n621.de"])


def test_real_cosigned_checkpoint_tampered() -> None:
    log = parse_verifier_key(REAL_LOG_VKEY)
    witness = parse_verifier_key(REAL_WITNESS_VKEY)
    tampered = REAL_NOTE.replace("1432088532", "1432088533")
    assert error_code(open_note, tampered, [log]) == "NOTE_BAD_SIGNATURE"
    assert error_code(open_note, tampered, [witness]) == "NOTE_BAD_SIGNATURE"
    tampered_text = REAL_TEXT.replace("1432088532", "42")
    assert error_code(verify_cosignature, tampered_text, REAL_WITNESS_LINE, witness) == ("NOTE_BAD_SIGNATURE")


def test_transparency_dev_verifier_keys() -> None:
    plus = parse_verifier_key(TD_PLUS_VKEY)  # base64 part contains '+'
    assert (plus.name, plus.key_hash, plus.key_type) == ("TEST", 0x7997405C, ALG_ED25519)
    assert plus.verifier_key() == TD_PLUS_VKEY
    cosigner = parse_verifier_key(TD_COSIG_VKEY)
    assert (cosigner.key_hash, cosigner.key_type) == (0xDA77ADE7, ALG_COSIGNATURE_V1)
    assert cosigner.verifier_key() == TD_COSIG_VKEY
    assert error_code(parse_verifier_key, "rekor.sigstore.dev+12345678+AwEB") == "KEY_MALFORMED"
    assert error_code(parse_verifier_key, "bananas.sigstore.dev+12344556") == "KEY_MALFORMED"


def test_cosignature_message_matches_spec_example() -> None:
    assert cosignature_message(SPEC_CHECKPOINT_TEXT, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


# --- round trips ------------------------------------------------------------


def test_generated_signer_round_trips() -> None:
    signer = generate_signer("example.com/log")
    again = Signer.from_private_key_string(signer.private_key_string())
    assert again.verifier_key() == signer.verifier_key()
    v = parse_verifier_key(signer.verifier_key())
    assert v == signer.verifier()
    note = sign_note("hello\n", signer)
    assert note == "hello\n\n" + signer.sign("hello\n")
    assert open_note(note, [v]) == ("hello\n", ["example.com/log"])
    assert "PRIVATE" not in repr(signer)


def test_signer_from_cryptography_key_matches_go_string() -> None:
    go = Signer.from_private_key_string(GO_SKEY)
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]
    ours = Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))
    assert ours.sign(GO_TEXT) == go.sign(GO_TEXT)


def test_text_with_blank_lines_round_trips() -> None:
    signer = generate_signer("s")
    for text in ["a\n\nb\n", "\n", "a\n\n", "x\n\n\n"]:
        assert open_note(sign_note(text, signer), [signer.verifier()]) == (text, ["s"])


def test_multiple_signers_and_cosigning_by_appending() -> None:
    a, b, c = generate_signer("a.example"), generate_signer("b.example"), generate_signer("c")
    note = sign_note("body\n", a, b)
    assert open_note(note, [a.verifier(), b.verifier()])[1] == ["a.example", "b.example"]
    note = add_signatures(note, c)
    assert note.count("\n" + EM) == 3
    assert open_note(note, [c.verifier()]) == ("body\n", ["c"])
    assert add_signatures(note, c) == note  # re-signing replaces, does not duplicate
    assert sign_note("body\n", a, a) == sign_note("body\n", a)


def test_identical_verifiers_are_not_ambiguous() -> None:
    peter = parse_verifier_key(GO_VKEY)
    assert open_note(GO_SIGNED, [peter, parse_verifier_key(GO_VKEY)])[1] == ["PeterNeumann"]


def test_colliding_verifiers_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(note_module, "_key_id", lambda name, key: 0x12345678)
    one = Verifier("n", b"\x01" * 32)
    two = Verifier("n", b"\x02" * 32)
    assert error_code(open_note, "t\n\n" + sig_line("n", 0x12345678, b"s" * 64), [one, two]) == ("KEY_MALFORMED")


lines_text = st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20), min_size=1).map(
    lambda lines: "".join(line + "\n" for line in lines)
)


@given(text=lines_text)
def test_sign_open_round_trip_property(text: str) -> None:
    signer = Signer.from_private_key_string(GO_SKEY)
    if text.startswith("cosignature/v1\n"):
        return
    assert open_note(sign_note(text, signer), [signer.verifier()]) == (text, ["PeterNeumann"])


# --- each error code from a real malformed input -----------------------------


def test_flipped_signature_byte_is_bad_signature() -> None:
    peter = parse_verifier_key(GO_VKEY)
    raw = bytearray(base64.b64decode(GO_PETER_SIG.split()[-1]))
    for index in (4, 40, len(raw) - 1):  # first, middle and last signature byte
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        line = sig_line("PeterNeumann", 0xC74F20A3, bytes(flipped[4:]))
        assert error_code(open_note, GO_TEXT + "\n" + line, [peter]) == "NOTE_BAD_SIGNATURE"


def test_altered_text_is_bad_signature() -> None:
    altered = GO_SIGNED.replace("problem,", "problem;")
    assert error_code(open_note, altered, [parse_verifier_key(GO_VKEY)]) == "NOTE_BAD_SIGNATURE"


def test_missing_blank_line_is_malformed() -> None:
    no_blank = GO_TEXT + GO_PETER_SIG
    assert error_code(open_note, no_blank, [parse_verifier_key(GO_VKEY)]) == "NOTE_MALFORMED"


def test_text_without_final_newline_is_malformed() -> None:
    signer = Signer.from_private_key_string(GO_SKEY)
    assert error_code(sign_note, "abc", signer) == "NOTE_MALFORMED"
    assert error_code(signer.sign, "") == "NOTE_MALFORMED"
    assert error_code(sign_note, "abc\n") == "NOTE_MALFORMED"  # no signers
    assert error_code(sign_note, "a\rb\n", signer) == "NOTE_MALFORMED"  # control character


def test_unknown_key_hash_is_ignored_and_then_unverified() -> None:
    wrong_hash = GO_TEXT + "\n" + GO_PETER_SIG.replace("x08g", "xxxx")
    code = error_code(open_note, wrong_hash, [parse_verifier_key(GO_VKEY)])
    assert code == "NOTE_NO_VERIFIED_SIGNATURE"


def test_wrong_key_hash_in_verifier_key() -> None:
    assert error_code(parse_verifier_key, GO_VKEY.replace("c74f20a3", "c74f20a4")) == ("KEY_MALFORMED")
    assert error_code(parse_verifier_key, GO_VKEY.replace("c74f20a3", "C74F20A3")) == ("KEY_MALFORMED")


def test_bad_base64() -> None:
    peter = parse_verifier_key(GO_VKEY)
    for b64 in ["not base64!", "x08go", "", "AAAA AAAA"]:
        line = f"{EM} PeterNeumann {b64}\n"
        assert error_code(open_note, GO_TEXT + "\n" + line, [peter]) == "NOTE_MALFORMED"
    # Non-canonical encoding (non-zero padding bits) of an otherwise valid line.
    b64 = GO_PETER_SIG.split()[-1]
    non_canonical = b64[:-2] + "N="  # 'M' -> 'N' only changes the discarded low bits
    assert base64.b64decode(non_canonical) == base64.b64decode(b64)
    line = f"{EM} PeterNeumann {non_canonical}\n"
    assert error_code(open_note, GO_TEXT + "\n" + line, [peter]) == "NOTE_MALFORMED"
    assert error_code(parse_verifier_key, "PeterNeumann+c74f20a3+not-base64") == "KEY_MALFORMED"


def test_bad_verifier_key_algorithm_byte() -> None:
    pub = base64.b64decode(GO_VKEY.split("+", 2)[2])[1:]
    for alg in (0x00, 0x02, 0x05, 0xFF):
        type_and_key = bytes([alg]) + pub  # Go's key with another type byte, hash fixed up
        key_id = note_module._key_id("PeterNeumann", type_and_key)
        vkey = f"PeterNeumann+{key_id:08x}+{base64.b64encode(type_and_key).decode()}"
        assert error_code(parse_verifier_key, vkey) == "KEY_MALFORMED"


@pytest.mark.parametrize("name", ["a+b", "", "a b", "a\tb", "a\u00a0b", "a\u3000b", "a\u2028b", "a\nb", "\x00"])
def test_invalid_key_names(name: str) -> None:
    key = Ed25519PrivateKey.generate()
    assert error_code(Signer, name, key) == "KEY_MALFORMED"
    assert error_code(Verifier, name, b"\x00" * 32) == "KEY_MALFORMED"


def test_signature_line_with_plus_in_name_is_malformed() -> None:
    line = GO_PETER_SIG.replace("PeterNeumann", "Peter+Neumann")
    assert error_code(open_note, GO_TEXT + "\n" + line, []) == "NOTE_MALFORMED"


def test_unicode_names_without_spaces_are_fine() -> None:
    signer = generate_signer("пример.example/λ")
    assert open_note(sign_note("x\n", signer), [signer.verifier()])[1] == ["пример.example/λ"]


def test_signer_rejects_non_ed25519_key() -> None:
    assert error_code(Signer, "name", object()) == "KEY_MALFORMED"


def test_note_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        parse_verifier_key("nonsense")


# --- checkpoints -------------------------------------------------------------


def test_checkpoint_spec_example() -> None:
    checkpoint = parse_checkpoint(SPEC_CHECKPOINT_TEXT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.text() == SPEC_CHECKPOINT_TEXT


def test_checkpoint_with_extensions_and_edge_sizes() -> None:
    root = bytes(range(32))
    for size in (0, 1, 2**64 - 1):
        cp = Checkpoint("o", size, root, ("ext one", "ext-two"))
        assert parse_checkpoint(cp.text()) == cp
    assert Checkpoint("o", 0, root).text().splitlines()[1] == "0"


ROOT_B64 = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"o\n01\n{ROOT_B64}\n",  # leading zero
        f"o\n+1\n{ROOT_B64}\n",  # sign
        f"o\n-1\n{ROOT_B64}\n",
        f"o\n 1\n{ROOT_B64}\n",
        f"o\n1.0\n{ROOT_B64}\n",
        f"o\n\n{ROOT_B64}\n",  # empty size
        f"o\n\u0661\n{ROOT_B64}\n",  # non-ASCII digit
        f"o\n{2**64}\n{ROOT_B64}\n",  # exceeds uint64
        f"\n1\n{ROOT_B64}\n",  # empty origin
        f"o\n1\n{ROOT_B64}",  # no final newline
        "o\n1\n",  # no root line
        f"o\n1\n{base64.b64encode(bytes(31)).decode()}\n",  # short root
        f"o\n1\n{base64.b64encode(bytes(33)).decode()}\n",  # long root
        f"o\n1\n{ROOT_B64.rstrip('=')}\n",  # unpadded root
        f"o\n1\n{ROOT_B64}\n\n",  # empty extension line
        f"o\n1\n{ROOT_B64}\nok\n\n",
        f"o\r\n1\n{ROOT_B64}\n",  # control character
    ],
)
def test_checkpoint_parse_is_strict(text: str) -> None:
    assert error_code(parse_checkpoint, text) == "CHECKPOINT_MALFORMED"


@pytest.mark.parametrize(
    "args",
    [
        ("", 1, bytes(32), ()),
        ("o\nx", 1, bytes(32), ()),
        ("o", -1, bytes(32), ()),
        ("o", 2**64, bytes(32), ()),
        ("o", True, bytes(32), ()),
        ("o", "1", bytes(32), ()),
        ("o", 1, bytes(31), ()),
        ("o", 1, bytearray(32), ()),
        ("o", 1, bytes(32), ("",)),
        ("o", 1, bytes(32), ("a\nb",)),
        ("o", 1, bytes(32), ["ext"]),
    ],
)
def test_checkpoint_constructor_is_strict(args: tuple) -> None:
    assert error_code(Checkpoint, *args) == "CHECKPOINT_MALFORMED"


@given(
    origin=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=10),
        max_size=3,
    ),
)
def test_checkpoint_round_trip_property(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert parse_checkpoint(cp.text()) == cp


# --- cosignatures --------------------------------------------------------------


def make_cosigned(timestamp: int = 1_700_000_000) -> tuple[str, Signer, Signer, str]:
    log = generate_signer("example.com/log")
    witness = generate_signer("witness.example/w1")
    text = Checkpoint("example.com/log", 5, bytes(range(32)), ("ext",)).text()
    line = cosign(text, witness, timestamp)
    note = add_signature_lines(sign_note(text, log), line)
    return note, log, witness, line


def test_cosignature_round_trip() -> None:
    note, log, witness, line = make_cosigned()
    cosigner = witness.cosignature_verifier()
    assert parse_verifier_key(cosigner.verifier_key()) == cosigner
    assert cosigner.key_type == ALG_COSIGNATURE_V1
    assert cosigner.key_hash != witness.key_hash  # type byte is part of the key ID
    assert line.endswith("\n") and line.startswith(f"{EM} witness.example/w1 ")
    text, names = open_note(note, [log.verifier(), cosigner])
    assert names == ["example.com/log", "witness.example/w1"]
    assert verify_cosignature(text, line, cosigner) == 1_700_000_000
    assert verify_cosignature(text, line[:-1], cosigner) == 1_700_000_000
    raw = base64.b64decode(line.split()[-1])
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[:4], "big") == cosigner.key_hash
    assert int.from_bytes(raw[4:12], "big") == 1_700_000_000


def test_cosignature_timestamp_bounds() -> None:
    _, _, witness, _ = make_cosigned()
    text = parse_checkpoint(SPEC_CHECKPOINT_TEXT).text()
    for ts in (0, 2**63 - 1):
        assert verify_cosignature(text, cosign(text, witness, ts), witness.cosignature_verifier()) == ts
    for ts in (-1, 2**63, True):
        assert error_code(cosign, text, witness, ts) == "NOTE_MALFORMED"


def test_cosignature_tamper_rejected() -> None:
    note, log, witness, line = make_cosigned()
    cosigner = witness.cosignature_verifier()
    text = open_note(note, [log.verifier()])[0]
    # Changed extension line, size, or root: the whole checkpoint text is signed.
    for old, new in [("ext", "exu"), ("\n5\n", "\n6\n")]:
        changed = text.replace(old, new)
        assert error_code(verify_cosignature, changed, line, cosigner) == "NOTE_BAD_SIGNATURE"
        assert error_code(open_note, note.replace(old, new, 1), [cosigner]) == "NOTE_BAD_SIGNATURE"
    # Changed timestamp inside the line.
    raw = bytearray(base64.b64decode(line.split()[-1]))
    raw[11] ^= 0x01
    moved = sig_line(witness.name, cosigner.key_hash, bytes(raw[4:]))
    assert error_code(verify_cosignature, text, moved, cosigner) == "NOTE_BAD_SIGNATURE"
    # Timestamp beyond 2^63 - 1.
    raw[4] = 0x80
    huge = sig_line(witness.name, cosigner.key_hash, bytes(raw[4:]))
    assert error_code(verify_cosignature, text, huge, cosigner) == "NOTE_MALFORMED"
    # Truncated: a plain 64-byte signature under the cosigner key ID.
    short = sig_line(witness.name, cosigner.key_hash, bytes(64))
    assert error_code(verify_cosignature, text, short, cosigner) == "NOTE_MALFORMED"
    assert error_code(verify_cosignature, text, line + line, cosigner) == "NOTE_MALFORMED"


def test_cosignature_key_checks() -> None:
    note, log, witness, line = make_cosigned()
    text = open_note(note, [log.verifier()])[0]
    other = generate_signer("witness.example/w2").cosignature_verifier()
    assert error_code(verify_cosignature, text, line, other) == "NOTE_UNKNOWN_KEY"
    # The witness's plain (0x01) key has another key ID: not a cosigner key ...
    assert error_code(verify_cosignature, text, line, witness.verifier()) == "KEY_MALFORMED"
    # ... and in open_note it simply does not match the cosignature line.
    cosig_only = text + "\n" + line
    assert error_code(open_note, cosig_only, [witness.verifier()]) == "NOTE_NO_VERIFIED_SIGNATURE"
    # A plain signature presented under the cosigner's key ID fails.
    forged = sig_line(witness.name, witness.cosignature_verifier().key_hash, bytes(72))
    assert error_code(open_note, text + "\n" + forged, [witness.cosignature_verifier()]) == ("NOTE_BAD_SIGNATURE")


def test_cosign_requires_a_checkpoint() -> None:
    witness = generate_signer("w")
    assert error_code(cosign, "not a checkpoint\n", witness, 1) == "CHECKPOINT_MALFORMED"
    line = cosign(SPEC_CHECKPOINT_TEXT, witness, 1)
    assert error_code(verify_cosignature, "x\n", line, witness.cosignature_verifier()) == "CHECKPOINT_MALFORMED"


def test_plain_signer_refuses_cosignature_shaped_text() -> None:
    # Domain separation if one key were used in both roles.
    signer = generate_signer("w")
    message = cosignature_message(SPEC_CHECKPOINT_TEXT, 1).decode()
    assert error_code(signer.sign, message) == "NOTE_MALFORMED"


def test_add_signature_lines_validates_lines() -> None:
    signer = generate_signer("s")
    note = sign_note("t\n", signer)
    assert error_code(add_signature_lines, note, "no dash\n") == "NOTE_MALFORMED"
    assert error_code(add_signature_lines, note, signer.sign("t\n")[:-1]) == "NOTE_MALFORMED"
    assert error_code(add_signature_lines, "t\n", signer.sign("t\n")) == "NOTE_MALFORMED"
