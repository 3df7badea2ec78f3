// The explorer's verifier (issue 18): RFC 9162 proofs, C2SP signed notes, checkpoints,
// cosignatures and tlog-proofs, checked in the visitor's own browser (or under node) with
// WebCrypto: SHA-256 and Ed25519. A browser whose WebCrypto lacks Ed25519 verifies signatures
// with @noble/ed25519 instead (npm; `oneclaim serve` serves it at vendor/noble-ed25519/index.js,
// loaded only then). It shares no code with the server; the same RFC 6962 vectors as the Python
// verifier run against it (tests/js/tlog.test.mjs).
//
// Every function that checks something throws a VerifyError with a stable `code` and a message
// saying what was wrong; it returns only when the check passed.

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export class VerifyError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

// ------------------------------------------------------------------ Ed25519

/** Which implementation verified the signatures: "webcrypto", or "noble" where the browser's
 * WebCrypto has no Ed25519 (set once a key is imported; the page shows it). */
export const ed25519 = { implementation: null };
let noble = null;

async function nobleEd25519() {
  if (noble === null) {
    try {
      noble = await import(new URL("./vendor/noble-ed25519/index.js", import.meta.url).href);
    } catch (e) {
      throw new VerifyError("ED25519_UNSUPPORTED", "this browser's WebCrypto has no Ed25519, and the @noble/ed25519"
        + ` fallback could not be loaded (${e.message})`);
    }
  }
  return noble;
}

async function importEd25519(raw) {
  try {
    const key = await subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    ed25519.implementation = "webcrypto";
    return { webcrypto: key };
  } catch (e) {
    if (e.name !== "NotSupportedError") throw e;
  }
  await nobleEd25519();
  ed25519.implementation = "noble";
  return { raw };
}

async function verifyEd25519(key, signature, message) {
  if (key.webcrypto) return subtle.verify({ name: "Ed25519" }, key.webcrypto, signature, message);
  try {
    return await noble.verifyAsync(signature, message, key.raw);
  } catch {
    return false; // a malformed signature or key is one that does not verify
  }
}

// ------------------------------------------------------------------ bytes and hashes

export function b64decode(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new VerifyError("BASE64_INVALID", `not canonical base64: ${String(text).slice(0, 40)}`);
  }
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  if (b64encode(out) !== text) throw new VerifyError("BASE64_INVALID", "base64 is not in its canonical form");
  return out;
}

export function b64encode(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest("SHA-256", bytes));
}

/** RFC 9162 §2.1.1: the leaf hash of an entry's bytes. */
export async function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), entry));
}

/** RFC 9162 §2.1.1: an interior node. */
export async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

// ------------------------------------------------------------------ RFC 9162 proofs

function checkHash(name, h) {
  if (!(h instanceof Uint8Array) || h.length !== 32) throw new VerifyError("PROOF_INVALID", `${name} is not 32 bytes`);
}

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

function isPowerOfTwo(n) {
  const b = BigInt(n);
  return b > 0n && (b & (b - 1n)) === 0n;
}

function inclusionLength(index, size) {
  // RFC 9162: the levels below where index and size-1 part (inner), then the right border
  const inner = bitLength(BigInt(index) ^ BigInt(size - 1));
  const border = popcount(Math.floor(index / 2 ** inner));
  return inner + border;
}

function popcount(n) {
  let c = 0;
  while (n > 0) {
    c += n & 1;
    n = Math.floor(n / 2);
  }
  return c;
}

function checkSize(name, n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new VerifyError("PROOF_INVALID", `${name} ${n} is not a tree size`);
}

/** RFC 9162 §2.1.3.2: the root that `proof` gives for `leaf` at `index` in a tree of `size`. */
export async function rootFromInclusion(index, size, leaf, proof) {
  checkSize("index", index);
  checkSize("size", size);
  if (index >= size) throw new VerifyError("PROOF_INVALID", `index ${index} is not below tree size ${size}`);
  checkHash("leaf hash", leaf);
  proof.forEach((p, i) => checkHash(`proof hash ${i}`, p));
  const want = inclusionLength(index, size);
  if (proof.length !== want) {
    throw new VerifyError("PROOF_INVALID", `the proof has ${proof.length} hashes; leaf ${index} in size ${size} needs ${want}`);
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn !== 0 && fn % 2 === 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new VerifyError("PROOF_INVALID", "the inclusion proof is too short");
  return r;
}

export async function verifyInclusion(index, size, leaf, proof, root) {
  checkHash("root", root);
  const got = await rootFromInclusion(index, size, leaf, proof);
  if (!equal(got, root)) throw new VerifyError("INCLUSION_PROOF_INVALID", `the event is not at index ${index} under this root`);
}

/** RFC 9162 §2.1.4.2, with the edge cases of the transparency-dev/merkle vectors. */
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  checkSize("size1", size1);
  checkSize("size2", size2);
  if (size2 < size1) throw new VerifyError("PROOF_INVALID", `size2 ${size2} is below size1 ${size1}`);
  if (size1 === 0) throw new VerifyError("PROOF_INVALID", "a consistency proof from the empty tree proves nothing");
  if (size1 === size2) {
    if (proof.length !== 0) throw new VerifyError("PROOF_INVALID", "equal sizes need an empty proof");
    if (!equal(root1, root2)) throw new VerifyError("CONSISTENCY_PROOF_INVALID", "equal sizes, different roots");
    return;
  }
  checkHash("root1", root1);
  checkHash("root2", root2);
  proof.forEach((p, i) => checkHash(`proof hash ${i}`, p));
  const path = [...proof];
  if (isPowerOfTwo(size1)) path.unshift(root1); // the old tree is the seed subtree: the proof leaves it out
  if (path.length === 0) throw new VerifyError("PROOF_INVALID", "empty consistency proof");
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) throw new VerifyError("PROOF_INVALID", "the consistency proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn !== 0 && fn % 2 === 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new VerifyError("PROOF_INVALID", "the consistency proof is too short");
  if (!equal(fr, root1) || !equal(sr, root2)) {
    throw new VerifyError("CONSISTENCY_PROOF_INVALID", `the tree of size ${size2} does not extend the tree of size ${size1}`);
  }
}

// ------------------------------------------------------------------ C2SP signed notes

const SIG_PREFIX = "\u2014 "; // an em dash and a space

async function keyId(name, typeAndKey) {
  const digest = await sha256(concat(enc.encode(name + "\n"), typeAndKey));
  return ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0;
}

/** `name+hash+base64(type || key)`: type 0x01 (a note signer) or 0x04 (a cosigner). */
export async function parseVerifierKey(vkey) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(String(vkey)); // base64 may hold "+" itself
  const parts = m ? m.slice(1) : [];
  if (!m) {
    throw new VerifyError("KEY_INVALID", `not a verifier key: ${String(vkey).slice(0, 60)}`);
  }
  const typeAndKey = b64decode(parts[2]);
  if (typeAndKey.length !== 33 || ![1, 4].includes(typeAndKey[0])) {
    throw new VerifyError("KEY_INVALID", "a verifier key is base64(0x01 or 0x04 || 32-byte Ed25519 key)");
  }
  const id = await keyId(parts[0], typeAndKey);
  if (id !== parseInt(parts[1], 16)) throw new VerifyError("KEY_INVALID", `the key hash of ${parts[0]} does not match`);
  const key = await importEd25519(typeAndKey.slice(1));
  return { name: parts[0], keyId: id, type: typeAndKey[0], key };
}

/** A note's text and signature lines, parsed (no cryptography). */
export function splitNote(note) {
  const at = note.lastIndexOf("\n\n");
  if (at < 0) throw new VerifyError("NOTE_MALFORMED", "no blank line separates the text from the signatures");
  const text = note.slice(0, at + 1);
  const block = note.slice(at + 2);
  if (!block.endsWith("\n")) throw new VerifyError("NOTE_MALFORMED", "the signature block does not end with a newline");
  const lines = block.slice(0, -1).split("\n").map((line) => {
    if (!line.startsWith(SIG_PREFIX)) throw new VerifyError("NOTE_MALFORMED", `not a signature line: ${line.slice(0, 40)}`);
    const [name, sig] = line.slice(SIG_PREFIX.length).split(" ");
    const raw = b64decode(sig || "");
    if (raw.length < 5) throw new VerifyError("NOTE_MALFORMED", `the signature of ${name} is too short`);
    return { name, keyId: ((raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]) >>> 0, sig: raw.slice(4) };
  });
  return { text, lines };
}

/** c2sp.org/signed-note: signatures of unknown keys are ignored; one of a known key must
 * verify, else the note is refused; at least one must verify. Returns the text and who signed. */
export async function openNote(note, verifiers) {
  const { text, lines } = splitNote(note);
  const signed = [];
  for (const line of lines) {
    const v = verifiers.find((k) => k.type === 1 && k.name === line.name && k.keyId === line.keyId);
    if (!v) continue;
    if (!(await verifyEd25519(v.key, line.sig, enc.encode(text)))) {
      throw new VerifyError("SIGNATURE_INVALID", `the signature of ${v.name} does not verify`);
    }
    signed.push(v.name);
  }
  if (signed.length === 0) throw new VerifyError("NOT_SIGNED", "the note carries no signature of a key you trust");
  return { text, signed, lines };
}

/** c2sp.org/tlog-checkpoint: origin, size, base64 root, extension lines. */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "" || !/^[1-9][0-9]*$|^0$/.test(lines[1])) {
    throw new VerifyError("CHECKPOINT_MALFORMED", "a checkpoint is origin, size and root, each on its line");
  }
  const root = b64decode(lines[2]);
  if (root.length !== 32) throw new VerifyError("CHECKPOINT_MALFORMED", "the root is not 32 bytes");
  return { origin: lines[0], size: Number(lines[1]), root };
}

/** c2sp.org/tlog-cosignature (cosignature/v1): a witness's timestamped signature of the
 * checkpoint text. Returns the timestamp; throws if the line does not verify. */
export async function verifyCosignature(text, line, witness) {
  if (line.sig.length !== 72) throw new VerifyError("COSIGNATURE_INVALID", `${witness.name}'s cosignature is not 72 bytes`);
  let time = 0n;
  for (const b of line.sig.slice(0, 8)) time = (time << 8n) | BigInt(b);
  const message = enc.encode(`cosignature/v1\ntime ${time}\n${text}`);
  if (!(await verifyEd25519(witness.key, line.sig.slice(8), message))) {
    throw new VerifyError("COSIGNATURE_INVALID", `${witness.name}'s cosignature does not verify`);
  }
  return Number(time);
}

// ------------------------------------------------------------------ c2sp.org/tlog-proof

/** `c2sp.org/tlog-proof@v1`, `index N`, optional `extra B64`, hashes, a blank line, the note. */
export function parseTlogProof(text) {
  const at = text.indexOf("\n\n");
  if (at < 0) throw new VerifyError("TLOG_PROOF_MALFORMED", "no blank line before the checkpoint");
  const head = text.slice(0, at).split("\n");
  if (head[0] !== "c2sp.org/tlog-proof@v1") throw new VerifyError("TLOG_PROOF_MALFORMED", "not a tlog-proof");
  let i = 1;
  let extra = null;
  if (head[i]?.startsWith("extra ")) extra = b64decode(head[i++].slice(6));
  const m = /^index (0|[1-9][0-9]*)$/.exec(head[i++] || "");
  if (!m) throw new VerifyError("TLOG_PROOF_MALFORMED", "no index line");
  const hashes = head.slice(i).map(b64decode);
  return { index: Number(m[1]), extra, hashes, checkpoint: text.slice(at + 2) };
}

// ------------------------------------------------------------------ c2sp.org/tlog-policy

/** A policy: `log KEY [url]`, `witness NAME KEY [url]`, `group NAME K|all MEMBER...`,
 * `quorum NAME|none`. */
export async function parsePolicy(text) {
  const policy = { log: null, witnesses: new Map(), groups: new Map(), quorum: null };
  for (const raw of String(text).split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [word, ...rest] = line.split(/\s+/);
    if (word === "log") {
      policy.log = await parseVerifierKey(rest[0]);
      if (policy.log.type !== 1) throw new VerifyError("POLICY_INVALID", "the log's key is not a note-signing key");
    }
    else if (word === "witness") {
      const key = await parseVerifierKey(rest[1]);
      if (key.type !== 4) throw new VerifyError("POLICY_INVALID", `witness ${rest[0]}'s key is not a cosignature/v1 key`);
      policy.witnesses.set(rest[0], key);
    }
    else if (word === "group") {
      const [name, k, ...members] = rest;
      const need = k === "all" ? members.length : Number(k);
      if (!Number.isSafeInteger(need) || need < 1 || need > members.length) {
        throw new VerifyError("POLICY_INVALID", `group ${name} needs 1 to ${members.length} of its members`);
      }
      policy.groups.set(name, { need, members });
    } else if (word === "quorum") policy.quorum = rest[0];
    else throw new VerifyError("POLICY_INVALID", `unknown policy line: ${line.slice(0, 40)}`);
  }
  if (!policy.log) throw new VerifyError("POLICY_INVALID", "the policy names no log key");
  if (policy.quorum === null) throw new VerifyError("POLICY_INVALID", "the policy has no quorum line");
  return policy;
}

/** Whether the witnesses in `cosigned` (names) meet the policy's quorum. */
export function quorumMet(policy, cosigned, name = policy.quorum, depth = 0) {
  if (name === "none") return true;
  if (depth > 32) throw new VerifyError("POLICY_INVALID", "the policy's groups nest too deep");
  if (policy.witnesses.has(name)) return cosigned.includes(name);
  const group = policy.groups.get(name);
  if (!group) throw new VerifyError("POLICY_INVALID", `the quorum names ${name}, which is no witness or group`);
  return group.members.filter((m) => quorumMet(policy, cosigned, m, depth + 1)).length >= group.need;
}

/** A checkpoint note checked under a policy: signed by its log, and cosigned by witnesses that
 * meet the quorum. Returns the checkpoint and the cosigners with their times. */
export async function verifyCheckpoint(note, policy) {
  const { text, lines } = await openNote(note, [policy.log]);
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== policy.log.name) {
    throw new VerifyError("WRONG_LOG", `the checkpoint is of ${checkpoint.origin}, not ${policy.log.name}`);
  }
  const cosigned = [];
  for (const [name, w] of policy.witnesses) {
    const line = lines.find((l) => l.name === w.name && l.keyId === w.keyId);
    if (line) cosigned.push({ witness: name, time: await verifyCosignature(text, line, w) });
  }
  if (!quorumMet(policy, cosigned.map((c) => c.witness))) {
    throw new VerifyError("QUORUM_NOT_MET", `cosigned by ${cosigned.map((c) => c.witness).join(", ") || "none"};`
      + ` the policy's quorum ${policy.quorum} is not met`);
  }
  return { checkpoint, cosigned, text };
}

/** Verify a tlog-proof under a policy: the checkpoint (verifyCheckpoint), and the event (given,
 * or the proof's extra) at its index. */
export async function verifyTlogProof(text, policy, event = null) {
  const proof = parseTlogProof(text);
  const bytes = event ?? proof.extra;
  if (!bytes) throw new VerifyError("TLOG_PROOF_NO_EVENT", "the proof carries no event and none was given");
  const { checkpoint, cosigned } = await verifyCheckpoint(proof.checkpoint, policy);
  await verifyInclusion(proof.index, checkpoint.size, await leafHash(bytes), proof.hashes, checkpoint.root);
  return { index: proof.index, checkpoint, cosigned, event: bytes };
}

export function utf8(bytes) {
  return dec.decode(bytes);
}
