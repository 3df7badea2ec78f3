// The explorer's log-status page: it fetches the current checkpoint and the log's policy from
// the public API, verifies the checkpoint's signature and the witnesses' cosignatures here, and
// compares it with the last checkpoint this browser verified (localStorage): a consistency
// proof must link the two, or the page says the log forked (a split view shown to this visitor).
import * as tlog from "./tlog.js";

const $ = (id) => document.getElementById(id);
const STORE = "oneclaim.explorer.seen";

function show(state, message) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = message;
}

async function text(path) {
  const answer = await fetch(path, { cache: "no-store" });
  if (!answer.ok) throw new tlog.VerifyError("UNAVAILABLE", `${path} answered ${answer.status}`);
  return answer.text();
}

function seen() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}

async function check() {
  const policy = await tlog.parsePolicy(await text("/v1/log/policy"));
  const verified = await tlog.verifyCheckpoint(await text("/v1/checkpoint"), policy);
  const { checkpoint } = verified;
  const cosigned = verified.cosigned.map((c) => `${c.witness} (${new Date(c.time * 1000).toISOString()})`);
  const root = tlog.b64encode(checkpoint.root);
  const before = seen()[checkpoint.origin];
  let relation = "first visit · 首次访问";
  if (before && before.size === checkpoint.size && before.root !== root) {
    throw Object.assign(new tlog.VerifyError("FORKED", `size ${before.size} was shown to you with another root before`),
      { before });
  }
  if (before && before.size !== checkpoint.size) {
    const [m, n, r1, r2] = before.size < checkpoint.size
      ? [before.size, checkpoint.size, before.root, root] : [checkpoint.size, before.size, root, before.root];
    const proof = JSON.parse(await text(`/v1/proofs/consistency?old=${m}&new=${n}`));
    try {
      await tlog.verifyConsistency(m, n, proof.hashes.map(tlog.b64decode), tlog.b64decode(r1), tlog.b64decode(r2));
    } catch (e) {
      throw Object.assign(new tlog.VerifyError("FORKED", `the log of size ${checkpoint.size} does not extend the one of`
        + ` size ${before.size} you saw before: ${e.message}`), { before });
    }
    relation = `consistent with size ${before.size} seen before · 与上次所见一致`;
  } else if (before) {
    relation = `the same as seen before · 与上次所见相同`;
  }
  if (!before || checkpoint.size >= before.size) {
    localStorage.setItem(STORE, JSON.stringify({ ...seen(), [checkpoint.origin]: { size: checkpoint.size, root } }));
  }
  $("cp-origin").textContent = checkpoint.origin;
  $("cp-size").textContent = checkpoint.size.toLocaleString("en");
  $("cp-root").textContent = tlog.hex(checkpoint.root);
  $("cp-key").textContent = `${policy.log.name}+${policy.log.keyId.toString(16).padStart(8, "0")}`;
  $("cp-witnesses").textContent = cosigned.join(", ") || "none required · 无";
  $("cp-seen").textContent = relation;
  $("checkpoint").hidden = false;
  show("verified", `Verified: signed by the log, ${cosigned.length} witness cosignature(s) · 已验证`);
}

$("forget").addEventListener("click", () => {
  localStorage.removeItem(STORE);
  show("checking", "Forgotten; reload to verify afresh · 已清除，请刷新");
});

check().catch((e) => {
  const forked = e.code === "FORKED";
  $("checkpoint").hidden = true; // nothing unverified is shown
  show(forked ? "forked" : "failed", `${forked ? "The log forked" : "Verification failed"} · `
    + `${forked ? "日志分叉" : "验证失败"}: ${e instanceof tlog.VerifyError ? e.message : `ERROR: ${e}`}`);
});
