// The explorer's reading of OneClaim's records (api/explorer/records.js) against what the Python
// registry says of the same events: record ids (uuid5), each batch's units per state, and each
// device's claims pool per month and instrument. The events are every public one of the compat
// scenario (tests/compat.py: every aggregate, most commands), made by tests/test_explorer_js.py
// (ONECLAIM_JS_RECORDS). Run by `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import * as tlog from "../../api/explorer/tlog.js";
import * as rec from "../../api/explorer/records.js";

const PATH = process.env.ONECLAIM_JS_RECORDS;
const records = PATH && existsSync(PATH) ? JSON.parse(readFileSync(PATH, "utf8")) : null;
const eventsOf = (id) => (records.events[id] || []).map((b) => rec.parseEvent(tlog.b64decode(b)));

test("record ids are the registry's uuid5 of each code", { skip: !records }, async () => {
  for (const [code, b] of Object.entries(records.batches)) assert.equal(await rec.recordId("batch", code), b.id, code);
  for (const [code, d] of Object.entries(records.devices)) assert.equal(await rec.recordId("device", code), d.id, code);
  for (const [code, id] of Object.entries(records.cases)) assert.equal(await rec.recordId("case", code), id, code);
  assert.ok(Object.keys(records.cases).length > 0 && Object.keys(records.batches).length > 5);
});

test("a batch's units per state, replayed from its events, are the registry's", { skip: !records }, () => {
  for (const [code, b] of Object.entries(records.batches)) {
    const events = eventsOf(b.id);
    assert.deepEqual(events.map((e) => e.version), events.map((_, i) => i + 1), code);
    const { totals } = rec.batchUnits(events);
    const expected = Object.fromEntries(Object.entries(b.supply).filter(([, n]) => n > 0));
    assert.deepEqual(totals, expected, code);
  }
});

test("a device's claims pool, recomputed from its events, is the registry's, month by month", { skip: !records }, () => {
  let instruments = new Set();
  for (const [code, d] of Object.entries(records.devices)) {
    const pool = rec.claimsPool(eventsOf(d.id));
    const got = Object.fromEntries(pool.months.map((m) => [m.month, { metered: m.metered, free: m.free, ...m.claimed }]));
    assert.deepEqual(got, d.pool, code);
    instruments = new Set([...instruments, ...pool.instruments]);
  }
  // the scenario's pools hold GECs, green power, CCER, carbon inclusion and another registry's claim
  assert.ok(instruments.size >= 4, [...instruments].join(", "));
});

test("serials, what touches them, and malformed input", () => {
  assert.deepEqual(rec.parseSerial("GEC-X:12"), { batch: "GEC-X", index: 11 });
  assert.throws(() => rec.parseSerial("GEC-X:0"), (e) => e.code === "SERIAL_MALFORMED");
  assert.deepEqual(rec.serials("B", [[0, 1], [4, 9]]), ["B:1", "B:5-9"]);
  const moved = { type: "Transferred", state: { ranges: [[3, 5]] } };
  assert.ok(rec.touches(moved, 3) && rec.touches(moved, 4) && !rec.touches(moved, 5) && !rec.touches(moved, 2));
  assert.ok(rec.touches({ type: "Issued", state: { quantity: 10 } }, 9));
  assert.ok(!rec.touches({ type: "Issued", state: { quantity: 10 } }, 10));
  assert.throws(() => rec.parseEvent(new TextEncoder().encode("{}")), (e) => e.code === "EVENT_MALFORMED");
  assert.throws(() => rec.parseEvent(new Uint8Array([0xff])), (e) => e.code === "EVENT_MALFORMED");
});
