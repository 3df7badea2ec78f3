// The explorer's verifier (api/explorer/tlog.js) against the RFC 6962 vectors that the Python
// verifier passes (../shared/vectors/rfc6962, transparency-dev/merkle's testdata), and against
// notes, cosignatures and tlog-proofs the Python code wrote (ONECLAIM_JS_FIXTURE, made by
// tests/test_explorer_js.py). Run by `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import * as tlog from "../../api/explorer/tlog.js";

const VECTORS = process.env.ONECLAIM_VECTORS;
const b64 = (s) => tlog.b64decode(s);

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".json") ? [path] : [];
  });
}

async function outcome(check) {
  try {
    await check();
    return false;
  } catch (e) {
    if (!(e instanceof tlog.VerifyError)) throw e;
    return true;
  }
}

test("every RFC 6962 inclusion vector: accepted exactly when it should be", { skip: !VECTORS }, async () => {
  const all = files(join(VECTORS, "inclusion"));
  assert.ok(all.length > 50, `only ${all.length} inclusion vectors`);
  for (const path of all) {
    const v = JSON.parse(readFileSync(path, "utf8"));
    const failed = await outcome(async () => {
      const proof = (v.proof || []).map(b64);
      await tlog.verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash || ""), proof, b64(v.root || ""));
    });
    assert.equal(failed, v.wantErr, `${path}: ${v.desc}`);
  }
});

test("every RFC 6962 consistency vector: accepted exactly when it should be", { skip: !VECTORS }, async () => {
  const all = files(join(VECTORS, "consistency"));
  assert.ok(all.length > 50, `only ${all.length} consistency vectors`);
  for (const path of all) {
    const v = JSON.parse(readFileSync(path, "utf8"));
    const failed = await outcome(async () => {
      const proof = (v.proof || []).map(b64);
      await tlog.verifyConsistency(v.size1, v.size2, proof, b64(v.root1 || ""), b64(v.root2 || ""));
    });
    assert.equal(failed, v.wantErr, `${path}: ${v.desc}`);
  }
});

const FIXTURE = process.env.ONECLAIM_JS_FIXTURE;
const fixture = FIXTURE && existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : null;

test("a checkpoint and a tlog-proof the Python code signed verify, cosignature and all", { skip: !fixture }, async () => {
  const log = await tlog.parseVerifierKey(fixture.log_key);
  const witness = await tlog.parseVerifierKey(fixture.witness_key);
  const { signed, text } = await tlog.openNote(fixture.checkpoint, [log]);
  assert.deepEqual(signed, [log.name]);
  assert.equal(tlog.parseCheckpoint(text).size, fixture.size);
  const policy = await tlog.parsePolicy(`log ${fixture.log_key}\nwitness w1 ${fixture.witness_key}\nquorum w1\n`);
  const got = await tlog.verifyTlogProof(fixture.tlog_proof, policy);
  assert.equal(got.index, fixture.index);
  assert.equal(got.cosigned[0].witness, "w1");
  assert.equal(got.cosigned[0].time, 1_796_400_000);
  assert.equal(witness.name, "witness.test/w1");
  assert.equal(tlog.hex(await tlog.leafHash(got.event)), fixture.leaf_hex);
  assert.equal(JSON.parse(tlog.utf8(got.event)).topic, fixture.topic);
});

test("tampered notes and proofs are refused, each with its code", { skip: !fixture }, async () => {
  const log = await tlog.parseVerifierKey(fixture.log_key);
  const witness = await tlog.parseVerifierKey(fixture.witness_key);
  const policy = await tlog.parsePolicy(`log ${fixture.log_key}\nwitness w1 ${fixture.witness_key}\nquorum w1\n`);
  assert.ok(witness.keyId > 0);
  const code = async (check) => {
    try {
      await check();
    } catch (e) {
      return e.code;
    }
    return "accepted";
  };
  const lines = fixture.tlog_proof.split("\n");
  const extraAt = lines.findIndex((l) => l.startsWith("extra "));
  const event = tlog.b64decode(lines[extraAt].slice(6));
  const altered = new TextEncoder().encode(tlog.utf8(event).replace('"originator_version":', '"originator_version":9'));
  assert.notDeepEqual(altered, event);
  assert.equal(await code(() => tlog.verifyTlogProof(fixture.tlog_proof, policy, altered)), "INCLUSION_PROOF_INVALID");
  const otherRoot = fixture.checkpoint.replace(/\n([A-Za-z0-9+/=]{44})\n/, (_, r) => `\n${r.startsWith("A") ? "B" : "A"}${r.slice(1)}\n`);
  assert.equal(await code(() => tlog.openNote(otherRoot, [log])), "SIGNATURE_INVALID");
  const stranger = await tlog.parseVerifierKey(fixture.stranger_key);
  assert.equal(await code(() => tlog.openNote(fixture.checkpoint, [stranger])), "NOT_SIGNED");
  const twoOfTwo = await tlog.parsePolicy(`log ${fixture.log_key}\nwitness w1 ${fixture.witness_key}\n`
    + `witness w2 ${fixture.other_witness_key}\ngroup both all w1 w2\nquorum both\n`);
  assert.equal(await code(() => tlog.verifyTlogProof(fixture.tlog_proof, twoOfTwo)), "QUORUM_NOT_MET");
  const oneOfTwo = await tlog.parsePolicy(`log ${fixture.log_key}\nwitness w1 ${fixture.witness_key}\n`
    + `witness w2 ${fixture.other_witness_key}\ngroup any 1 w1 w2\nquorum any\n`);
  assert.equal((await tlog.verifyTlogProof(fixture.tlog_proof, oneOfTwo)).index, fixture.index);
  assert.equal(await code(() => tlog.parsePolicy(`log ${fixture.log_key}\nwitness w1 ${fixture.stranger_key}\nquorum w1\n`)),
    "POLICY_INVALID"); // a note key where a cosigner's key belongs
});
