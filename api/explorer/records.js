// OneClaim's records as the explorer reads them from event bytes it has already proved
// (explorer.js proves them with tlog.js): the id each record's events carry, what an event says,
// whether it touches a serial, what a batch's units are now, and a device's claims pool per
// month. Nothing here reads an operator's summary; every figure comes from proved events.
import { VerifyError, hex, utf8 } from "./tlog.js";

const subtle = globalThis.crypto.subtle;
const NAMESPACE_URL = "6ba7b8119dad11d180b400c04fd430c8"; // RFC 4122's URL namespace

/** The names each kind of record is identified by: uuid5(URL, `oneclaim:<name>:<code>`). */
export const ID_NAMES = {
  batch: "batch",
  device: "device",
  case: "case",
  disclosure: "disclosure",
  project: "ccer-project",
  programme: "inclusion-programme",
};

/** RFC 4122 name-based UUID, version 5 (SHA-1), as 32 hex digits. */
export async function uuid5(name) {
  const ns = Uint8Array.from(NAMESPACE_URL.match(/../g), (h) => parseInt(h, 16));
  const text = new TextEncoder().encode(name);
  const input = new Uint8Array(ns.length + text.length);
  input.set(ns);
  input.set(text, ns.length);
  const digest = new Uint8Array(await subtle.digest("SHA-1", input)).slice(0, 16);
  digest[6] = (digest[6] & 0x0f) | 0x50;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  return hex(digest);
}

export async function recordId(kind, code) {
  if (!ID_NAMES[kind]) throw new VerifyError("KIND_UNKNOWN", `no record kind ${kind}`);
  return uuid5(`oneclaim:${ID_NAMES[kind]}:${code}`);
}

/** An event's canonical bytes, read: its record, version, topic, kind ("Batch.Retired"), type
 * ("Retired") and state. */
export function parseEvent(bytes) {
  let event;
  try {
    event = JSON.parse(utf8(bytes));
  } catch (e) {
    throw new VerifyError("EVENT_MALFORMED", `the event is not JSON: ${e.message}`);
  }
  const { originator_id: id, originator_version: version, topic, state } = event;
  if (typeof id !== "string" || !Number.isSafeInteger(version) || typeof topic !== "string" || typeof state !== "object"
      || state === null) {
    throw new VerifyError("EVENT_MALFORMED", "the event lacks its originator, version, topic or state");
  }
  const kind = topic.split(":")[1] || topic;
  return { originatorId: id, version, topic, kind, type: kind.split(".").pop(), state };
}

/** `<batch code>:<n>` → the batch and the 0-based index. */
export function parseSerial(serial) {
  const m = /^(.+):([1-9][0-9]*)$/.exec(String(serial).trim());
  if (!m) throw new VerifyError("SERIAL_MALFORMED", `${serial} is not <batch code>:<n>`);
  return { batch: m[1], index: Number(m[2]) - 1 };
}

/** The serial notation of 0-based half-open spans: CODE:first-last, both inclusive. */
export function serials(code, spans) {
  return (spans || []).map(([s, e]) => (e - s === 1 ? `${code}:${s + 1}` : `${code}:${s + 1}-${e}`));
}

function spansOf(event) {
  const st = event.state;
  if (event.type === "Issued") return [[0, st.quantity]];
  return st.ranges || st.spans || null;
}

/** Whether a batch event touches the unit at `index`. An event of the batch that names no units
 * (a retirement's use by a claim) is of the batch as a whole. */
export function touches(event, index) {
  const spans = spansOf(event);
  return spans === null || spans.some(([s, e]) => s <= index && index < e);
}

// ------------------------------------------------------------------ what an event says

const LABELS = {
  Issued: "Issued · 核发",
  Transferred: "Transferred · 转让",
  Retired: "Retired · 核销",
  RetirementUsed: "Claimed with · 用于声明",
  Cancelled: "Cancelled · 注销",
  Frozen: "Frozen · 冻结",
  Expired: "Expired · 过期",
  SaleReported: "Sale reported elsewhere · 他处报告出售",
  SentOut: "Sent to a partner registry · 跨区转出",
  Exported: "Exported · 已转出",
  Returned: "Returned · 退回",
  Registered: "Registered · 登记",
  ReadingRecorded: "Meter reading · 计量数据",
  ReadingCorrected: "Reading corrected · 计量更正",
  GECIssued: "GECs issued · 绿证核发",
  Claimed: "Claimed · 声明占用",
  ClaimReleased: "Claim released · 释放",
  ExternalClaimsRecorded: "Claims from other registries · 外部声明",
  DisputedClaimAccepted: "Disputed claim accepted · 争议声明采纳",
  Elected: "GEC–CCER election · 选择",
  JoinedCCERProject: "Joined a CCER project · 加入CCER项目",
  Opened: "Case opened · 立案",
  Resolved: "Case resolved · 结案",
  Published: "Disclosed · 公示",
  Anchored: "Anchored on chain · 上链锚定",
};

export function label(event) {
  return LABELS[event.type] || event.type;
}

const FIELD_LABELS = {
  instrument: "Instrument · 品种", quantity: "Units · 数量", holder: "Holder · 持有账户", valid_through: "Valid through · 有效期至",
  from_account: "From · 转出", to_account: "To · 转入", sale: "Sale · 出售", on: "Date · 日期", account: "Account · 账户",
  purpose: "Purpose · 用途", reporting_period: "Period · 期间", beneficiary: "Beneficiary (commitment) · 受益方（承诺值）",
  location: "Location (commitment) · 地点（承诺值）", retirement_id: "Retirement · 核销编号", reason: "Reason · 原因",
  as_of: "As of · 截至", channel: "Channel · 通道", sequence: "Packet · 序号", source: "Source · 来源",
  reference: "Reference · 编号", sold_on: "Sold on · 出售日", use: "Used by · 用于", code: "Code · 编号",
  technology: "Technology · 技术", capacity_kw: "Capacity kW · 装机容量", province: "Province · 省", city: "City · 市",
  owner: "Owner · 所有者", commissioned_on: "Commissioned · 投产", start: "From · 起", end: "To · 止",
  on_grid_kwh: "On-grid kWh · 上网电量", self_consumed_kwh: "Self-consumed kWh · 自用电量", month: "Month · 月份",
  batches: "Batches · 批次", kind: "Kind · 类型", subject: "Subject · 对象", overlap_kwh: "Overlap kWh · 重叠电量",
  outcome: "Outcome · 结果", by: "By · 处理方", project: "Project · 项目", ccer_batch: "CCER batch · CCER批次",
  kg_co2e: "kgCO2e · 减排量", kwh: "kWh · 电量", tree_size: "Tree size · 树大小", root_hash: "Root · 根哈希",
  tx_hash: "Transaction · 交易", block_number: "Block · 区块", chain_id: "Chain · 链", contract: "Contract · 合约",
  scheme: "Scheme · 机制", effective_from: "From · 起", corrects_version: "Corrects version · 更正版本",
  cancelled: "GECs cancelled · 注销的绿证", device: "Device · 设备", factor: "Emission factor · 排放因子",
  period: "Period · 期间", traded_untouched: "Sold GECs left with their buyers · 已售绿证（未注销）",
  interval: "Interval · 区间", ours: "Claims here · 本登记声明", theirs: "The claim reported · 外部声明",
  tradable: "Tradable · 可交易", schemes: "Schemes · 机制", accepted: "Accepted · 采纳", disputed: "Disputed · 争议",
  claim: "Claim · 声明", carry_kwh: "Carried kWh · 结转电量", claim_id: "Claim · 声明", allocations: "kWh by reading · 分配",
  rule: "Rule · 规则", crediting_start: "Crediting from · 计入期起", crediting_end: "Crediting to · 计入期止",
}; // prettier-ignore

const HIDDEN = new Set(["timestamp", "originator_topic", "request", "ranges", "spans", "origin"]);

function shown(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value) && value.length && value.every((v) => v && Array.isArray(v.serials))) {
    return value.flatMap((v) => v.serials).join(", "); // GECs named by serial (a disclosure)
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** What an event says, as [label, text] pairs, from its proved state. */
export function fields(event, code = null) {
  const st = event.state;
  const out = [];
  const spans = spansOf(event);
  if (code && spans) out.push(["Serials · 序列号", serials(code, spans).join(", ")]);
  if (st.origin && typeof st.origin === "object") {
    for (const [k, v] of Object.entries(st.origin)) out.push([`Origin: ${k} · 来源`, shown(v)]);
  }
  for (const [k, v] of Object.entries(st)) {
    if (HIDDEN.has(k)) continue;
    out.push([FIELD_LABELS[k] || k, shown(v)]);
  }
  return out;
}

/** The business date an event records, if it records one. */
export function dateOf(event) {
  const st = event.state;
  return st.on || st.as_of || st.sold_on || st.month || (typeof st.start === "string" ? st.start.slice(0, 10) : "") || "";
}

// ------------------------------------------------------------------ a batch's units now

const STATE_OF = {
  Retired: "retired", Cancelled: "cancelled", Frozen: "frozen", Expired: "expired", SentOut: "in_transit",
  Exported: "exported", Returned: "active",
}; // prettier-ignore

/** Units per state and holder after a batch's events (all of them, in version order): the same
 * partition the registry keeps, replayed here from proved events. */
export function batchUnits(events) {
  let parts = [];
  const set = (spans, change) => {
    for (const [s, e] of spans) {
      const next = [];
      for (const p of parts) {
        if (p.end <= s || e <= p.start) {
          next.push(p);
          continue;
        }
        if (p.start < s) next.push({ ...p, end: s });
        next.push({ ...p, ...change, start: Math.max(p.start, s), end: Math.min(p.end, e) });
        if (e < p.end) next.push({ ...p, start: e });
      }
      parts = next;
    }
  };
  for (const event of events) {
    const st = event.state;
    if (event.type === "Issued") parts = [{ start: 0, end: st.quantity, holder: st.holder, state: "active" }];
    else if (event.type === "Transferred") set(st.ranges, { holder: st.to_account });
    else if (STATE_OF[event.type] && (st.ranges || []).length) set(st.ranges, { state: STATE_OF[event.type] });
  }
  const totals = {};
  for (const p of parts) totals[p.state] = (totals[p.state] || 0) + (p.end - p.start);
  return { parts, totals };
}

// ------------------------------------------------------------------ a device's claims pool

function chinaMonth(instant) {
  const t = Date.parse(instant);
  if (Number.isNaN(t)) throw new VerifyError("EVENT_MALFORMED", `${instant} is not an instant`);
  return new Date(t + 8 * 3600 * 1000).toISOString().slice(0, 7); // China time, UTC+8
}

/** A device's claims pool from its events (all of them, in version order), per production month:
 * the metered on-grid kWh of its current readings, the kWh each instrument's claims hold on
 * them, and what is free. The same bookkeeping as the registry's pool (ledger/domain/pool.py):
 * a claim holds [reading version, kWh] allocations; a correction moves them to the new reading;
 * a release gives some back. */
export function claimsPool(events) {
  const readings = new Map(); // version -> {month, kwh}
  const claims = new Map(); // id -> {instrument, allocations: Map(version -> kWh)}
  const add = (claim) => claims.set(claim.id, {
    instrument: claim.instrument, allocations: new Map(claim.allocations.map(([v, k]) => [v, k])),
  }); // prettier-ignore
  const external = (source, c) => add({ id: `EXT/${c.key}`, instrument: `EXTERNAL:${c.instrument}`,
    allocations: c.allocations }); // prettier-ignore
  for (const { type, version, state: st } of events) {
    if (type === "ReadingRecorded") readings.set(version, { month: chinaMonth(st.start), kwh: st.on_grid_kwh });
    else if (type === "ReadingCorrected") {
      const old = readings.get(st.corrects_version);
      if (!old) throw new VerifyError("POOL_INCONSISTENT", `version ${version} corrects an unknown reading`);
      readings.delete(st.corrects_version);
      readings.set(version, { ...old, kwh: st.on_grid_kwh });
      for (const c of claims.values()) {
        if (c.allocations.has(st.corrects_version)) {
          c.allocations.set(version, c.allocations.get(st.corrects_version));
          c.allocations.delete(st.corrects_version);
        }
      }
    } else if ((type === "GECIssued" || type === "Claimed") && st.claim) add(st.claim);
    else if (type === "ClaimReleased") {
      const c = claims.get(st.claim_id);
      for (const [v, k] of st.allocations) c.allocations.set(v, c.allocations.get(v) - k);
    } else if (type === "ExternalClaimsRecorded") for (const c of st.accepted) external(st.source, c);
    else if (type === "DisputedClaimAccepted") external(st.source, st.claim);
  }
  const months = new Map();
  const month = (m) => months.get(m) || months.set(m, { month: m, metered: 0, claimed: {}, free: 0 }).get(m);
  for (const r of readings.values()) month(r.month).metered += r.kwh;
  const instruments = new Set();
  for (const c of claims.values()) {
    for (const [v, kwh] of c.allocations) {
      const r = readings.get(v);
      if (!r || !kwh) continue;
      const m = month(r.month);
      m.claimed[c.instrument] = (m.claimed[c.instrument] || 0) + kwh;
      instruments.add(c.instrument);
    }
  }
  for (const m of months.values()) m.free = m.metered - Object.values(m.claimed).reduce((a, b) => a + b, 0);
  return { months: [...months.values()].sort((a, b) => a.month.localeCompare(b.month)), instruments: [...instruments].sort() };
}
