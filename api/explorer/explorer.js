// The explorer (issue 18). It reads only public routes, and shows nothing it has not verified
// here, in the visitor's browser:
// - the log's checkpoint: the log's signature and the witnesses' cosignatures under the published
//   policy, and consistency with the last checkpoint this browser verified (localStorage), so a
//   split view shown to this visitor is seen (the page says the log forked);
// - every row: its event's C2SP tlog-proof, the leaf recomputed from the event's own bytes, the
//   inclusion proof against a checkpoint proved consistent with the one above, the event being of
//   the record asked for (its id is derived from the code), and for a serial, touching that serial.
//   What a row shows is read from those bytes, not from the operator's summary. A row that fails
//   shows as failed, with what failed, and nothing else.
import * as tlog from "./tlog.js";
import * as rec from "./records.js";

const $ = (id) => document.getElementById(id);
const STORE = "oneclaim.explorer.seen";
const MAX_EVENTS = 2000; // a record's events the page fetches and proves at most

const page = { policy: null, current: null, notes: new Map(), links: new Map(), proved: 0, provingMs: 0 };

// ------------------------------------------------------------------ fetching

async function get(path, as = "json") {
  const answer = await fetch(path, { cache: "no-store" });
  if (!answer.ok) {
    let code = "UNAVAILABLE";
    try {
      code = (await answer.json()).code || code;
    } catch {
      /* not problem+json */
    }
    throw Object.assign(new tlog.VerifyError(code, `${path} answered ${answer.status}`), { status: answer.status });
  }
  return as === "json" ? answer.json() : answer.text();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function show(id, state, message) {
  const status = $(id);
  status.dataset.state = state;
  status.textContent = message;
}

// ------------------------------------------------------------------ checkpoints

function seen() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}

function forked(message) {
  return new tlog.VerifyError("FORKED", message);
}

/** Prove that the tree (size, root) of `a` and `b` are one history: the same root at the same
 * size, else a consistency proof from the smaller to the larger. */
async function consistent(a, b) {
  if (a.size === b.size) {
    if (tlog.hex(a.root) !== tlog.hex(b.root)) throw forked(`two roots for size ${a.size}`);
    return;
  }
  const [m, n] = a.size < b.size ? [a, b] : [b, a];
  const key = `${m.size}:${tlog.hex(m.root)}:${n.size}:${tlog.hex(n.root)}`;
  if (page.links.has(key)) return;
  const proof = await get(`/v1/proofs/consistency?old=${m.size}&new=${n.size}`);
  try {
    await tlog.verifyConsistency(m.size, n.size, proof.hashes.map(tlog.b64decode), m.root, n.root);
  } catch (e) {
    throw forked(`the tree of size ${n.size} does not extend the one of size ${m.size}: ${e.message}`);
  }
  page.links.set(key, true);
}

/** The log's current checkpoint, verified and related to what this browser saw before. */
async function checkLog() {
  page.policy = await tlog.parsePolicy(await get("/v1/log/policy", "text"));
  const note = await get("/v1/checkpoint", "text");
  const verified = await tlog.verifyCheckpoint(note, page.policy);
  const { checkpoint } = verified;
  const before = seen()[checkpoint.origin];
  let relation = "first visit · 首次访问";
  if (before) {
    try {
      await consistent({ size: before.size, root: tlog.b64decode(before.root) }, checkpoint);
    } catch (e) {
      throw Object.assign(e, { before });
    }
    relation = before.size === checkpoint.size
      ? "the same as seen before · 与上次所见相同"
      : `consistent with size ${before.size} seen before · 与上次所见一致`;
  }
  if (!before || checkpoint.size >= before.size) {
    const root = tlog.b64encode(checkpoint.root);
    localStorage.setItem(STORE, JSON.stringify({ ...seen(), [checkpoint.origin]: { size: checkpoint.size, root } }));
  }
  page.current = checkpoint;
  page.notes.set(note, verified);
  const cosigned = verified.cosigned.map((c) => `${c.witness} (${new Date(c.time * 1000).toISOString()})`);
  $("cp-origin").textContent = checkpoint.origin;
  $("cp-size").textContent = checkpoint.size.toLocaleString("en");
  $("cp-root").textContent = tlog.hex(checkpoint.root);
  $("cp-key").textContent = `${page.policy.log.name}+${page.policy.log.keyId.toString(16).padStart(8, "0")}`;
  $("cp-witnesses").textContent = cosigned.join(", ") || "none required · 无";
  $("cp-seen").textContent = relation;
  $("checkpoint").hidden = false;
  show("status", "verified", `Verified: signed by the log, ${cosigned.length} witness cosignature(s) · 已验证`);
}

/** A checkpoint a proof carries: verified under the policy, and one history with the page's. */
async function provedCheckpoint(note) {
  let verified = page.notes.get(note);
  if (!verified) {
    verified = await tlog.verifyCheckpoint(note, page.policy);
    page.notes.set(note, verified);
  }
  await consistent(verified.checkpoint, page.current);
  return verified.checkpoint;
}

// ------------------------------------------------------------------ rows

/** Verify one row's tlog-proof: what it proves, or throws a VerifyError saying what failed. */
async function verifyRow(proofText, expect) {
  const proof = tlog.parseTlogProof(proofText);
  if (!proof.extra) throw new tlog.VerifyError("EVENT_NOT_PUBLIC", "the proof carries no event bytes");
  if (expect.seq !== undefined && proof.index !== expect.seq) {
    throw new tlog.VerifyError("SEQ_MISMATCH", `the proof is of entry ${proof.index}, not ${expect.seq}`);
  }
  const checkpoint = await provedCheckpoint(proof.checkpoint);
  await tlog.verifyInclusion(proof.index, checkpoint.size, await tlog.leafHash(proof.extra), proof.hashes,
    checkpoint.root);
  const event = rec.parseEvent(proof.extra);
  if (event.originatorId !== expect.originatorId) {
    throw new tlog.VerifyError("WRONG_RECORD", `the event is of record ${event.originatorId}, not of ${expect.name}`);
  }
  if (expect.version !== undefined && event.version !== expect.version) {
    throw new tlog.VerifyError("VERSION_MISMATCH", `the event is version ${event.version}, not ${expect.version}`);
  }
  if (expect.index !== undefined && !rec.touches(event, expect.index)) {
    throw new tlog.VerifyError("NOT_THIS_SERIAL", `the event does not touch serial ${expect.index + 1}`);
  }
  return { event, seq: proof.index, checkpoint };
}

function download(proofText, seq) {
  const origin = (page.current?.origin || "log").replace(/[^A-Za-z0-9.-]+/g, "_");
  const url = URL.createObjectURL(new Blob([proofText], { type: "text/plain" }));
  return el("a", { href: url, download: `${origin}-${seq}.tlog-proof`, className: "proof",
    text: `tlog-proof #${seq} ↓`, title: "Download this row's proof · 下载证明" }); // prettier-ignore
}

/** Verify each item's proof, in order; returns the rows (verified, failed or pending). The time
 * it takes is added to the page's (performance.now() is coarse, so the loop is timed whole). */
async function proveAll(items, expectOf) {
  const rows = [];
  const started = performance.now();
  for (const item of items) {
    let row;
    if (!item.tlog_proof) row = { state: "pending", seq: item.seq };
    else {
      try {
        row = { state: "verified", ...(await verifyRow(item.tlog_proof, expectOf(item))), proof: item.tlog_proof };
      } catch (e) {
        if (e.code === "FORKED") throw e;
        row = { state: "failed", seq: item.seq, error: e instanceof tlog.VerifyError ? e.message : `ERROR: ${e}` };
      }
    }
    rows.push(row);
  }
  page.proved += rows.filter((r) => r.state !== "pending").length;
  page.provingMs += performance.now() - started;
  return rows;
}

function renderRows(rows, code) {
  const list = el("ol", { id: "rows", className: "rows" });
  for (const row of rows) {
    const item = el("li", { className: "row", "data-state": row.state, "data-seq": String(row.seq) });
    if (row.state === "verified") {
      const { event } = row;
      item.append(
        el("p", { className: "row-head" }, el("span", { className: "badge", text: "✓ verified · 已验证" }),
          el("strong", { text: ` ${rec.label(event)}` }), ` ${rec.dateOf(event)} · seq ${row.seq} · v${event.version} `,
          download(row.proof, row.seq)), // prettier-ignore
        el("dl", {}, ...rec.fields(event, code).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
      );
    } else if (row.state === "failed") {
      item.append(el("p", { className: "row-head" }, el("span", { className: "badge", text: "✗ failed · 验证失败" }),
        ` seq ${row.seq}: `, el("span", { className: "error", text: row.error }))); // prettier-ignore
    } else {
      item.append(el("p", { className: "row-head" }, el("span", { className: "badge", text: "… pending · 待签入" }),
        ` seq ${row.seq}: not in a signed checkpoint yet; nothing shown · 尚未签入检查点`)); // prettier-ignore
    }
    list.append(item);
  }
  return list;
}

function summarise(rows) {
  const failed = rows.filter((r) => r.state === "failed").length;
  const verified = rows.filter((r) => r.state === "verified").length;
  const pending = rows.length - failed - verified;
  const text = `${verified} of ${rows.length} row(s) verified in this browser · ${verified}/${rows.length} 条已验证`
    + (failed ? `; ${failed} FAILED · ${failed} 条验证失败` : "") + (pending ? `; ${pending} pending · 待签入` : "");
  show("view-status", failed ? "failed" : "verified", text);
}

/** Every event of a record, with proofs, following the pages. */
async function allEvents(kind, code) {
  const events = [];
  let after = 0;
  while (events.length < MAX_EVENTS) {
    const answer = await get(`/v1/${kind}/${encodeURIComponent(code)}/events?proof=true&limit=1000&after_version=${after}`);
    events.push(...answer.events);
    if (answer.next_after_version === null) break;
    after = answer.next_after_version;
  }
  return events;
}

/** A record's events as listed must run 1, 2, 3, …: one left out is seen (each row's proof must
 * then be of the version listed: verifyRow checks it). */
function complete(events) {
  if (events.some((e, i) => e.version !== i + 1)) {
    throw new tlog.VerifyError("EVENTS_MISSING", "the record's events do not run 1, 2, 3, …: some were left out");
  }
}

/** The proved events, if every row was proved; else null (no figure is derived from a part). */
function allProved(rows) {
  return rows.every((r) => r.state === "verified") ? rows.map((r) => r.event) : null;
}

function notDerived(rows) {
  const n = rows.filter((r) => r.state !== "verified").length;
  return el("strong", { text: `not shown: ${n} row(s) not proved · ${n} 条未验证，不予计算` });
}

// ------------------------------------------------------------------ views

function heading(text) {
  return el("h2", { id: "view-title", text, tabIndex: -1 });
}

function statusLine() {
  return el("div", { id: "view-status", role: "status", "data-state": "checking", text: "Verifying… 验证中…" });
}

function link(hash, text) {
  return el("a", { href: `#/${hash}`, text });
}

async function viewSerial(view, serial) {
  const { batch, index } = rec.parseSerial(serial);
  view.append(heading(`Serial ${serial} · 序列号`), statusLine());
  const answer = await get(`/v1/serials/${encodeURIComponent(serial)}/provenance?proof=true`);
  const originatorId = await rec.recordId("batch", batch);
  const rows = await proveAll(answer.events, (e) => ({ seq: e.seq, originatorId, name: `batch ${batch}`, index }));
  const proved = allProved(rows);
  const now = proved && rec.batchUnits([...proved].sort((a, b) => a.version - b.version)).parts
    .find((p) => p.start <= index && index < p.end);
  view.append(el("p", { id: "serial-now" }, "Now, from the proved events · 当前（据已验证事件）: ",
    proved ? el("strong", { text: now ? `${now.state}, held by ${now.holder}` : "unknown" }) : notDerived(rows),
    " · ", link(`batch/${batch}`, `batch ${batch}`))); // prettier-ignore
  view.append(renderRows(rows, batch));
  summarise(rows);
}

async function viewBatch(view, code, only = null) {
  view.append(heading(only ? `Retirement ${only} · 核销记录` : `Batch ${code} · 批次`), statusLine());
  const events = await allEvents("batches", code);
  complete(events);
  const originatorId = await rec.recordId("batch", code);
  const rows = await proveAll(events, (e) => ({ seq: e.seq, originatorId, name: `batch ${code}`, version: e.version }));
  const proved = allProved(rows);
  const totals = proved && rec.batchUnits(proved).totals;
  const disclosure = proved?.find((e) => e.type === "Issued")?.state.origin?.disclosure;
  view.append(el("p", { id: "batch-totals" }, "Units now, from the proved events · 各状态数量: ",
    totals ? el("strong", { text: Object.entries(totals).map(([st, n]) => `${st} ${n}`).join(", ") }) : notDerived(rows),
    disclosure ? " · " : null, disclosure ? link(`disclosure/${disclosure}`, `disclosure ${disclosure} · 公示`) : null));
  const shown = only
    ? rows.filter((r) => r.state !== "verified" || r.event.state.retirement_id === only)
    : rows;
  if (only && !shown.some((r) => r.state === "verified" && r.event.type === "Retired")) {
    throw new tlog.VerifyError("RETIREMENT_NOT_FOUND", `no proved event of ${code} records ${only}`);
  }
  view.append(renderRows(shown, code));
  if (only) view.append(openingForm(shown.find((r) => r.event?.type === "Retired").event));
  summarise(shown);
}

/** A certifier holding a beneficiary's opening (the value and its salt) checks it here. */
function openingForm(retired) {
  const form = el("form", { id: "opening" });
  const value = el("input", { id: "opening-value", name: "value", autocomplete: "off" });
  const salt = el("input", { id: "opening-salt", name: "salt", autocomplete: "off", pattern: "[0-9a-f]{32}" });
  const result = el("p", { id: "opening-result", role: "status", text: "" });
  form.append(el("h3", { text: "Check a beneficiary's opening · 核对受益方" }),
    el("label", { htmlFor: "opening-value", text: "Beneficiary · 受益方" }), value,
    el("label", { htmlFor: "opening-salt", text: "Salt (hex) · 盐值" }), salt,
    el("button", { type: "submit", text: "Check · 核对" }), result); // prettier-ignore
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const bytes = new Uint8Array([...hexBytes(salt.value), ...new TextEncoder().encode(value.value)]);
      const ok = `sha256:${tlog.hex(await tlog.sha256(bytes))}` === retired.state.beneficiary;
      result.dataset.state = ok ? "verified" : "failed";
      result.textContent = ok ? "It opens the proved commitment · 与已验证承诺值一致" : "It does not open it · 不一致";
    } catch (e) {
      result.dataset.state = "failed";
      result.textContent = e.message;
    }
  });
  return form;
}

function hexBytes(text) {
  if (!/^([0-9a-f]{2})+$/.test(text)) throw new tlog.VerifyError("SALT_INVALID", "the salt is hex digits");
  return Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
}

const COLOURS = ["#1a7f37", "#0969da", "#8250df", "#bf3989", "#9a6700", "#cf222e", "#57606a"];

function chart(pool) {
  const width = 640;
  const height = 220;
  const top = Math.max(1, ...pool.months.map((m) => m.metered));
  const bar = Math.min(60, Math.max(8, Math.floor((width - 60) / Math.max(1, pool.months.length)) - 8));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 30}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", "pool-caption");
  const rect = (x, y, w, h, fill, title) => {
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    for (const [k, v] of Object.entries({ x, y, width: w, height: Math.max(0, h), fill })) r.setAttribute(k, v);
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = title;
    r.append(t);
    svg.append(r);
  };
  pool.months.forEach((m, i) => {
    const x = 50 + i * (bar + 8);
    let y = height;
    const layers = [...pool.instruments.map((k, j) => [k, m.claimed[k] || 0, COLOURS[j % COLOURS.length]]),
      ["free", Math.max(0, m.free), "#d0d7de"]]; // prettier-ignore
    for (const [name, kwh, colour] of layers) {
      const h = (kwh / top) * (height - 10);
      y -= h;
      rect(x, y, bar, h, colour, `${m.month} ${name}: ${kwh.toLocaleString("en")} kWh`);
    }
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("x", x);
    label.setAttribute("y", height + 20);
    label.setAttribute("font-size", "11");
    label.textContent = m.month;
    svg.append(label);
  });
  return svg;
}

function poolTable(pool) {
  const head = el("tr", {}, el("th", { scope: "col", text: "Month · 月份" }), el("th", { scope: "col", text: "Metered kWh · 上网电量" }),
    ...pool.instruments.map((k) => el("th", { scope: "col", text: k })), el("th", { scope: "col", text: "Free kWh · 未占用" })); // prettier-ignore
  const body = pool.months.map((m) => el("tr", { "data-month": m.month }, el("th", { scope: "row", text: m.month }),
    el("td", { text: String(m.metered), "data-kind": "metered" }),
    ...pool.instruments.map((k) => el("td", { text: String(m.claimed[k] || 0), "data-kind": k })),
    el("td", { text: String(m.free), "data-kind": "free" }))); // prettier-ignore
  return el("table", { id: "pool" }, el("caption", { id: "pool-caption",
    text: "Claims pool per month, from the proved events: metered on-grid kWh and what each instrument claims · 每月声明占用" }),
  el("thead", {}, head), el("tbody", {}, ...body)); // prettier-ignore
}

async function viewDevice(view, code) {
  view.append(heading(`Device ${code} · 发电设备`), statusLine());
  const events = await allEvents("devices", code);
  complete(events);
  const originatorId = await rec.recordId("device", code);
  const rows = await proveAll(events, (e) => ({ seq: e.seq, originatorId, name: `device ${code}`, version: e.version }));
  const verified = allProved(rows);
  if (!verified) {
    view.append(el("p", { id: "pool" }, "Claims pool · 声明占用: ", notDerived(rows)), renderRows(rows, null));
    summarise(rows);
    return;
  }
  const pool = rec.claimsPool(verified);
  const legend = el("ul", { className: "legend" }, ...pool.instruments.map((k, j) => el("li", {},
    el("span", { className: "swatch", style: `background:${COLOURS[j % COLOURS.length]}` }), ` ${k}`)),
  el("li", {}, el("span", { className: "swatch", style: "background:#d0d7de" }), " free · 未占用")); // prettier-ignore
  const batches = verified.filter((e) => e.type === "GECIssued").flatMap((e) => e.state.batches);
  view.append(el("figure", {}, chart(pool), legend), poolTable(pool),
    el("p", {}, "GEC batches · 绿证批次: ", ...batches.flatMap((b) => [link(`batch/${b}`, b), " "]))); // prettier-ignore
  view.append(el("details", {}, el("summary", { text: `The device's ${rows.length} proved events · 设备事件` }),
    renderRows(rows, null))); // prettier-ignore
  summarise(rows);
}

async function viewRecord(view, kind, path, code, title) {
  view.append(heading(`${title} ${code}`), statusLine());
  const events = await allEvents(path, code);
  complete(events);
  const originatorId = await rec.recordId(kind, code);
  const rows = await proveAll(events, (e) => ({ seq: e.seq, originatorId, name: `${kind} ${code}`, version: e.version }));
  const opened = rows.find((r) => r.state === "verified" && r.event.type === "Opened")?.event;
  if (opened?.state.subject) {
    const subject = opened.state.subject;
    view.append(el("p", {}, "Subject · 对象: ", link(/^GEC-|^CCER-|:/.test(subject) ? `batch/${subject}` : `device/${subject}`, subject)));
  }
  view.append(renderRows(rows, null));
  summarise(rows);
}

async function viewHome(view) {
  view.append(heading("Records · 登记记录"), statusLine());
  const lists = [["devices", "device", "Devices · 发电设备"], ["batches", "batch", "Batches · 批次"],
    ["cases", "case", "Double-counting cases · 重复声明案件"]]; // prettier-ignore
  for (const [path, kind, title] of lists) {
    const index = await get(`/v1/index/${path}?limit=50`);
    view.append(el("h3", { text: title }), el("ul", { className: "index" },
      ...index.records.map((r) => el("li", {}, link(`${kind}/${r.code}`, r.code))))); // prettier-ignore
  }
  show("view-status", "verified", "Pick a record: every row of its page is verified here · 选择记录查看（均在本地验证）");
}

// ------------------------------------------------------------------ anchors

async function checkAnchors() {
  const answer = await get("/v1/anchors?proof=true");
  const box = $("anchors");
  box.replaceChildren();
  for (const h of answer.anchorings) {
    const latest = h.anchors.at(-1);
    if (!latest) continue;
    const id = await rec.uuid5(`oneclaim:anchors:${h.chain_id}:${h.contract.toLowerCase()}:${h.log_id}`);
    const item = el("li", { className: "anchor" });
    try {
      if (!latest.tlog_proof) throw new tlog.VerifyError("PENDING", "the anchor's record is not in a signed checkpoint yet");
      const { event } = await verifyRow(latest.tlog_proof, { seq: latest.seq, originatorId: id, name: "the anchor history" });
      const st = event.state;
      const anchored = { size: st.tree_size, root: hexBytes(st.root_hash) };
      await consistent(anchored, page.current);
      item.dataset.state = "verified";
      item.append(`✓ Anchored at tree size ${st.tree_size} on chain ${st.chain_id}, contract ${st.contract}, `
        + `block ${st.block_number}, transaction ${st.tx_hash}; the log records it and the anchored root is consistent`
        + " with the checkpoint verified above · 锚定记录已验证，与检查点一致. Check the transaction on the chain"
        + " with `oneclaim anchor verify` · 请在链上核对交易。");
    } catch (e) {
      if (e.code === "FORKED") throw e;
      item.dataset.state = "failed";
      item.append(`✗ ${e.message}`);
    }
    box.append(item);
  }
  if (!box.children.length) box.append(el("li", { text: "No anchor recorded yet · 尚无锚定" }));
}

// ------------------------------------------------------------------ routing and search

async function route() {
  const view = $("view");
  view.replaceChildren();
  page.proved = 0;
  page.provingMs = 0;
  document.body.dataset.ready = "no";
  const [kind, ...rest] = decodeURIComponent(location.hash.replace(/^#\/?/, "")).split("/");
  const code = rest.join("/");
  const started = performance.now();
  try {
    if (!kind) await viewHome(view);
    else if (kind === "serial") await viewSerial(view, code);
    else if (kind === "batch") await viewBatch(view, code);
    else if (kind === "retirement") await viewBatch(view, code.split("/R")[0], code);
    else if (kind === "device") await viewDevice(view, code);
    else if (kind === "case") await viewRecord(view, "case", "cases", code, "Case · 案件");
    else if (kind === "disclosure") await viewRecord(view, "disclosure", "disclosures", code, "Disclosure · 公示");
    else throw new tlog.VerifyError("PAGE_UNKNOWN", `no page ${kind}`);
  } catch (e) {
    if (e.code === "FORKED") return fail(e);
    if (!$("view-status")) view.append(statusLine());
    show("view-status", "failed", `Failed · 失败: ${e instanceof tlog.VerifyError ? e.message : `ERROR: ${e}`}`);
  } finally {
    document.body.dataset.verifyMs = page.provingMs.toFixed(3);
    document.body.dataset.rowsVerified = String(page.proved);
    document.body.dataset.viewMs = (performance.now() - started).toFixed(1);
    document.body.dataset.ed25519 = tlog.ed25519.implementation || ""; // webcrypto, or noble without it
    document.body.dataset.ready = "yes";
    $("view-title")?.focus();
  }
}

/** Where a search goes: a serial (CODE:n), a retirement (CODE/Rn), else the first kind of record
 * that knows the code. */
async function search(q) {
  const text = q.trim();
  if (/\/R[1-9][0-9]*$/.test(text)) return `retirement/${text}`;
  if (/:[1-9][0-9]*$/.test(text)) return `serial/${text}`;
  for (const [path, kind] of [["batches", "batch"], ["devices", "device"], ["cases", "case"],
    ["disclosures", "disclosure"]]) { // prettier-ignore
    try {
      await get(`/v1/${path}/${encodeURIComponent(text)}/events?limit=1`);
      return `${kind}/${text}`;
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }
  throw new tlog.VerifyError("NOT_FOUND", `no serial, batch, device, retirement, case or disclosure ${text}`);
}

function fail(e) {
  const isFork = e.code === "FORKED";
  $("checkpoint").hidden = true; // nothing unverified is shown
  $("view").replaceChildren();
  show("status", isFork ? "forked" : "failed", `${isFork ? "The log forked" : "Verification failed"} · `
    + `${isFork ? "日志分叉" : "验证失败"}: ${e instanceof tlog.VerifyError ? e.message : `ERROR: ${e}`}`);
  document.body.dataset.ready = "yes";
}

$("forget").addEventListener("click", () => {
  localStorage.removeItem(STORE);
  show("status", "checking", "Forgotten; reload to verify afresh · 已清除，请刷新");
});

$("search").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    location.hash = `#/${await search($("q").value)}`;
  } catch (e) {
    $("view").replaceChildren(statusLine());
    show("view-status", "failed", e.message);
  }
});

checkLog()
  .then(async () => {
    window.addEventListener("hashchange", route);
    await checkAnchors().catch((e) => (e.code === "FORKED" ? Promise.reject(e) : null));
    await route();
  })
  .catch(fail);
