"""The explorer in a real browser (issue 18): Debian's chromium, driven by selenium, against a live
`oneclaim serve` on loopback, through a proxy the test controls. The log-status page verifies the
checkpoint in the browser; on the next visit it proves the new checkpoint consistent with the one
it saw. Then the server lies: a checkpoint of the same size with another root, signed with the
log's real key (the operator as the attacker), and the page says the log forked; a checkpoint
whose root was altered, and the page says the signature fails."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from ledger.app import Ledger
from ledger.tlog.note import Checkpoint, sign_note
from oneclaim.home import Home
from oneclaim.serve_cli import serving_process
from tests.anchor_support import home_service
from tests.compat import ROOFTOP, TODAY, scenario
from tests.registry_support import GEN, GENERATOR, RETIREMENT, gecs, market, pv
from tests.support import claims_by_month, missing_evidence, run

pytest_plugins = ["tests.anchor_fixtures"]  # home: a home with its managed chain up
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "explorer"
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


class Proxy:
    """A loopback HTTP proxy in front of the API that serves `lies[path]` instead, when set, and
    passes a JSON answer through `rewrites[path]` (a function of the parsed body), when set."""

    def __init__(self, upstream: str) -> None:
        self.lies: dict[str, str] = {}
        self.rewrites: dict[str, Callable[[dict], dict]] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = unquote(self.path.split("?")[0])
                if path in proxy.lies:
                    status, body, kind = 200, proxy.lies[path].encode(), "text/plain; charset=utf-8"
                else:
                    answer = httpx.get(upstream + self.path, timeout=30)
                    status, body = answer.status_code, answer.content
                    kind = answer.headers.get("content-type", "application/octet-stream")
                    if path in proxy.rewrites and status == 200:
                        body = json.dumps(proxy.rewrites[path](answer.json())).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (CHROMIUM.exists() and DRIVER.exists()):
        missing_evidence("the explorer in a real browser (Debian's chromium and chromium-driver)", CHROMIUM)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1200,1600", f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _status(driver, url: str) -> tuple[str, str]:
    """Load the page and wait for what it reports: its status element leaving "checking"."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") not in ("checking", None)
    )
    element = driver.find_element(By.ID, "status")
    return element.get_attribute("data-state"), element.text


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def _accessibility_violations(driver) -> list[str]:
    """axe-core (npm, run in the page): the rules it finds broken, e.g. a missing label."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: scripts/_venv.sh installs the npm packages")
    driver.execute_script(AXE.read_text())
    driver.set_script_timeout(60)
    run_axe = "const done = arguments[arguments.length - 1]; axe.run(document).then((r) => done(r.violations));"
    return [f"{v['id']}: {v['help']}" for v in driver.execute_async_script(run_axe)]


def test_the_explorer_verifies_the_log_in_the_browser_and_sees_a_fork(tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    home = tmp_path / "home"
    origin = "oneclaim.test/explorer"
    run("init", "--origin", origin, "--home", str(home))
    ledger = Home.at(home).ledger()
    try:
        market(ledger)
    finally:
        ledger.close()
    run("log", "sign", "--home", str(home))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serving_process("serve", "--home", str(home)) as (url, _):
        proxy = Proxy(url)
        try:
            page = f"{proxy.url}/explorer/"
            state, text = _status(browser, page)
            assert state == "verified", text
            assert "first visit" in browser.find_element(By.ID, "cp-seen").text
            size = int(browser.find_element(By.ID, "cp-size").text.replace(",", ""))
            browser.save_screenshot(str(ARTIFACTS / "status-verified.png"))
            assert _accessibility_violations(browser) == []
            body = browser.find_element(By.TAG_NAME, "body")
            body.send_keys("\t")  # the keyboard reaches the search field first, then every control
            reached = [browser.switch_to.active_element.get_attribute("id")]
            for _ in range(8):
                browser.switch_to.active_element.send_keys("\t")
                reached.append(browser.switch_to.active_element.get_attribute("id"))
            assert reached[0] == "q" and "forget" in reached, reached

            # the log grows; the next visit proves the new checkpoint extends the one seen
            ledger = Home.at(home).ledger()
            try:
                ledger.add_participant("EXPLORER-NEW", "新参与方", "consumer", "江苏", "苏州")
                ledger.sign_checkpoint(Home.at(home).signer(), origin)
                head, _, root = ledger.log.head()
            finally:
                ledger.close()
            state, text = _status(browser, page)
            assert state == "verified", text
            assert f"consistent with size {size} seen before" in browser.find_element(By.ID, "cp-seen").text

            # the operator signs another tree of the same size with its real key: a split view
            forged = sign_note(Checkpoint(origin=origin, size=head, root=bytes(32 - 1) + b"\x01").text(),
                               Home.at(home).signer())  # fmt: skip
            assert root != bytes(31) + b"\x01"
            proxy.lies["/v1/checkpoint"] = forged
            state, text = _status(browser, page)
            assert state == "forked" and "FORKED" in text, text
            browser.save_screenshot(str(ARTIFACTS / "status-forked.png"))

            # a checkpoint whose root was altered after signing: the signature fails
            real = httpx.get(f"{url}/v1/checkpoint").text
            lines = real.split("\n")
            lines[2] = ("B" if lines[2][0] == "A" else "A") + lines[2][1:]
            proxy.lies["/v1/checkpoint"] = "\n".join(lines)
            state, text = _status(browser, page)
            assert state == "failed" and "SIGNATURE_INVALID" in text, text

            # honest again: the page verifies (what this browser saw is unchanged by the lies)
            proxy.lies.clear()
            state, text = _status(browser, page)
            assert state == "verified", text
        finally:
            proxy.close()


def test_the_explorer_is_not_published_without_its_files() -> None:
    """The static files the server mounts are in the repository (and the package)."""
    for name in ("index.html", "explorer.js", "tlog.js", "style.css"):
        assert (ROOT / "api" / "explorer" / name).is_file(), name
    assert shutil.which("node") is not None


def test_the_offline_verifier_is_one_file_that_checks_a_downloaded_proof_from_disk(tmp_path: Path, browser) -> None:
    import base64
    import subprocess
    import sys

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    built = subprocess.run([sys.executable, str(ROOT / "api" / "explorer" / "build.py"), "--check"])
    assert built.returncode == 0, "api/explorer/offline.html is stale: run python api/explorer/build.py"
    page = (ROOT / "api" / "explorer" / "offline.html").read_text()
    assert "<script src" not in page and "import " not in page.split('<script type="module">')[1]  # one file
    home = tmp_path / "home"
    run("init", "--origin", "oneclaim.test/offline", "--home", str(home))
    ledger = Home.at(home).ledger()
    try:
        market(ledger)
        ledger.sign_checkpoint(Home.at(home).signer(), "oneclaim.test/offline")
        proof = ledger.log.tlog_proof(3)
    finally:
        ledger.close()
    policy = f"log {Home.at(home).verifier_key()}\nquorum none\n"

    def verify(proof_text: str, policy_text: str) -> tuple[str, str]:
        browser.get((ROOT / "api" / "explorer" / "offline.html").as_uri())  # from disk: no server at all
        for field, value in (("policy", policy_text), ("proof", proof_text)):
            browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, field), value)
        browser.find_element(By.ID, "verify").click()
        WebDriverWait(browser, 60).until(
            lambda d: d.find_element(By.ID, "result").get_attribute("data-state") != "idle"
        )
        result = browser.find_element(By.ID, "result")
        return result.get_attribute("data-state"), result.text

    state, text = verify(proof, policy)
    assert state == "verified" and "entry 3 of oneclaim.test/offline" in text, text
    browser.save_screenshot(str(ARTIFACTS / "offline-verified.png"))
    lines = proof.split("\n")
    event = base64.b64decode(lines[1][len("extra ") :])
    lines[1] = "extra " + base64.b64encode(event.replace(b'"originator_version":', b'"originator_version":7')).decode()
    state, text = verify("\n".join(lines), policy)
    assert state == "failed" and "INCLUSION_PROOF_INVALID" in text, text
    from ledger.tlog.note import generate_signer

    state, text = verify(proof, f"log {generate_signer('oneclaim.test/offline').verifier_key()}\nquorum none\n")
    assert state == "failed" and "NOT_SIGNED" in text, text


# ---------------------------------------------------------------------------------- rows


def _ready(driver, url: str | None = None) -> None:
    """Load `url` (or reload) and wait for what the page reports: its view done (body data-ready)."""
    from selenium.webdriver.support.ui import WebDriverWait

    if url is None:
        driver.refresh()
    else:
        driver.get(url)
    WebDriverWait(driver, 120).until(lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "yes")


def _rows(driver) -> dict[int, tuple[str, str]]:
    """seq -> (state, text) of every row shown."""
    from selenium.webdriver.common.by import By

    return {int(r.get_attribute("data-seq")): (r.get_attribute("data-state"), r.text)
            for r in driver.find_elements(By.CSS_SELECTOR, "li.row")}  # fmt: skip


def _swap_extra(proof: str, old: bytes, new: bytes) -> str:
    lines = proof.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("extra "))
    event = base64.b64decode(lines[at][6:])
    assert old in event, (old, event[:200])
    lines[at] = "extra " + base64.b64encode(event.replace(old, new)).decode()
    return "\n".join(lines)


SERIAL = "GEC-202501-SIP-PV-0001-T:61"  # tests/compat.py: issued, sold to the consumer, retired


def _disclosed(ledger: Ledger) -> str:
    """A second offshore wind farm whose January GECs meet CCER reductions for the same MWh: some
    are cancelled, and the GEC–CCER disclosure (公示) says which. Returns its code."""
    device, project = "GD-OFFSHORE-02", "CCER-GD-0002"
    pv(ledger, device, "deep_sea_offshore_wind", capacity_kw=5_000, schemes=("GEC", "CCER"))
    gecs(ledger, device, 2025, 1, 500_000)
    assert ledger.elect(device, "CCER", "2025-01-01") is True
    ledger.register_ccer_project(project, "CCER-01-001-V01", GENERATOR, [device], "2025-01-01", "2031-12-31",
                                 factor="SIP-2020-PURCHASED", on=date(2025, 1, 1))  # fmt: skip
    return ledger.issue_ccer(project, "2025-01-01", "2025-01-31", 200_000, GEN).code


def test_the_explorer_proves_every_row_and_shows_a_lie_on_exactly_its_row(home: Path, browser) -> None:
    """The compat scenario (every kind of record), anchored on the managed chain, served; the page
    proves each row of a serial's timeline, a batch, a device's claims pool, a case and the anchor.
    Then the proxy lies, one way at a time, and the page shows the failure on exactly that row."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ledger = Ledger(Home.at(home).db_url, clock=lambda: TODAY)
    try:
        scenario(ledger)
        disclosure = _disclosed(ledger)
        expected_pool = claims_by_month(ledger.claims_check(ROOFTOP))
        (case,) = [c.code for c in ledger.registered("case")]
    finally:
        ledger.close()
    anchored = home_service(home).once()  # a real transaction on the managed chain; signs the head
    assert anchored is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serving_process("serve", "--home", str(home)) as (url, _):
        proxy = Proxy(url)
        try:
            explorer = f"{proxy.url}/explorer/"
            _ready(browser, explorer)
            assert browser.find_element(By.ID, "status").get_attribute("data-state") == "verified"
            (anchor,) = browser.find_elements(By.CSS_SELECTOR, "#anchors li")
            assert anchor.get_attribute("data-state") == "verified", anchor.text
            assert f"tree size {anchored['tree_size']}" in anchor.text and anchored["tx_hash"] in anchor.text
            browser.save_screenshot(str(ARTIFACTS / "records.png"))

            # a visitor searches a serial with the keyboard alone and sees its timeline, every row proved
            search = browser.find_element(By.ID, "q")
            search.send_keys(SERIAL, Keys.ENTER)
            from selenium.webdriver.support.ui import WebDriverWait

            WebDriverWait(browser, 60).until(lambda d: "serial/" in d.current_url)
            _ready(browser)
            assert browser.find_element("tag name", "body").get_attribute("data-ed25519") == "webcrypto"
            provenance = httpx.get(f"{url}/v1/serials/{SERIAL}/provenance", params={"proof": "true"}).json()
            rows = _rows(browser)
            assert set(rows) == {e["seq"] for e in provenance["events"]} and len(rows) == 3
            assert {state for state, _ in rows.values()} == {"verified"}, rows
            kinds = [text.split("\n")[0] for _, text in rows.values()]
            assert any("Issued" in k for k in kinds) and any("Transferred" in k for k in kinds)
            retired = next(text for _, text in rows.values() if "Retired" in text)
            assert "green_consumption_claim" in retired and "sha256:" in retired
            for personal in (RETIREMENT["beneficiary"], RETIREMENT["location"]):
                assert personal not in browser.page_source
            assert "retired, held by acct:sz-factory" in browser.find_element(By.ID, "serial-now").text
            assert _accessibility_violations(browser) == []
            browser.save_screenshot(str(ARTIFACTS / "serial-timeline.png"))

            # the download is exactly the proof the row was verified with
            moved = next(e for e in provenance["events"] if e["type"] == "Transferred")
            link = browser.find_element(By.CSS_SELECTOR, f'li.row[data-seq="{moved["seq"]}"] a.proof')
            browser.set_script_timeout(30)
            fetched = browser.execute_async_script(
                "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(done);",
                link.get_attribute("href"),
            )
            assert fetched == moved["tlog_proof"]
            assert link.get_attribute("download").endswith(f"-{moved['seq']}.tlog-proof")

            path = f"/v1/serials/{SERIAL}/provenance"

            def lie(change: Callable[[dict], None]) -> dict[int, tuple[str, str]]:
                def rewrite(body: dict) -> dict:
                    row = next(e for e in body["events"] if e["seq"] == moved["seq"])
                    change(row)
                    return body

                proxy.rewrites[path] = rewrite
                _ready(browser)
                return _rows(browser)

            batch_events = httpx.get(f"{url}/v1/batches/{SERIAL.split(':')[0]}/events", params={"proof": "true"}).json()
            device_event = httpx.get(f"{url}/v1/devices/{ROOFTOP}/events", params={"proof": "true"}).json()["events"][0]
            other_units = next(
                e for e in batch_events["events"] if e["type"] == "Transferred" and e["seq"] != moved["seq"]
            )
            lies = {
                # the event's bytes altered: its leaf is not in the tree
                "INCLUSION_PROOF_INVALID": lambda row: row.update(tlog_proof=_swap_extra(
                    row["tlog_proof"], b'"to_account":"acct:sz-factory"', b'"to_account":"acct:js-trader"')),
                # a genuine proof, of another record's event
                "WRONG_RECORD": lambda row: row.update(seq=device_event["seq"], tlog_proof=device_event["tlog_proof"]),
                # a genuine proof of this batch's event, which did not touch this serial
                "NOT_THIS_SERIAL": lambda row: row.update(seq=other_units["seq"], tlog_proof=other_units["tlog_proof"]),
                # a genuine proof of another entry, under the row's seq
                "SEQ_MISMATCH": lambda row: row.update(tlog_proof=other_units["tlog_proof"]),
            }  # fmt: skip
            for code, change in lies.items():
                rows = lie(change)
                failed = {seq: text for seq, (state, text) in rows.items() if state == "failed"}
                assert len(failed) == 1 and code in next(iter(failed.values())), (code, rows)
                assert sum(state == "verified" for state, _ in rows.values()) == 2, (code, rows)
                assert browser.find_element(By.ID, "view-status").get_attribute("data-state") == "failed"
                if code == "INCLUSION_PROOF_INVALID":
                    assert "acct:js-trader" not in next(iter(failed.values()))  # nothing unproved is shown
                    assert "not shown: 1 row(s) not proved" in browser.find_element(By.ID, "serial-now").text
                    browser.save_screenshot(str(ARTIFACTS / "serial-lie.png"))
            proxy.rewrites.clear()

            # a batch's page: an event left out is seen, since versions run 1, 2, 3, ...
            code = SERIAL.split(":")[0]
            _ready(browser, f"{explorer}#/batch/{code}")
            assert browser.find_element(By.ID, "view-status").get_attribute("data-state") == "verified"
            assert "retired 10" in browser.find_element(By.ID, "batch-totals").text
            proxy.rewrites[f"/v1/batches/{code}/events"] = lambda b: {**b, "events": b["events"][:2] + b["events"][3:]}
            _ready(browser)
            status = browser.find_element(By.ID, "view-status")
            assert status.get_attribute("data-state") == "failed" and "EVENTS_MISSING" in status.text, status.text
            proxy.rewrites.clear()

            # a device's claims pool, recomputed in the browser from its proved events: the registry's figures
            _ready(browser, f"{explorer}#/device/{ROOFTOP}")
            assert browser.find_element(By.ID, "view-status").get_attribute("data-state") == "verified"
            shown = {
                r.get_attribute("data-month"): {c.get_attribute("data-kind"): int(c.text)
                                                for c in r.find_elements(By.TAG_NAME, "td")}
                for r in browser.find_elements(By.CSS_SELECTOR, "#pool tbody tr")
            }  # fmt: skip
            assert {m: {k: v for k, v in p.items() if v} for m, p in shown.items()} == {
                m: {k: v for k, v in p.items() if v} for m, p in expected_pool.items()
            }
            assert "EXTERNAL:INCLUSION" in browser.find_element(By.ID, "pool").text  # another registry's claim
            assert _accessibility_violations(browser) == []
            browser.save_screenshot(str(ARTIFACTS / "device-pool.png"))

            # a double-counting case, with what it overlapped and how it was resolved
            _ready(browser, f"{explorer}#/case/{case}")
            assert browser.find_element(By.ID, "view-status").get_attribute("data-state") == "verified"
            text = browser.find_element(By.ID, "view").text
            assert "OVERLAPPING_CLAIM" in text and "ours_cancelled" in text and "JS-PHCER-PLATFORM" in text
            browser.save_screenshot(str(ARTIFACTS / "case.png"))

            # a CCER batch links its GEC–CCER disclosure, which names the GECs cancelled for it
            _ready(browser, f"{explorer}#/batch/{disclosure}")
            browser.find_element(By.LINK_TEXT, f"disclosure {disclosure} · 公示").click()
            WebDriverWait(browser, 60).until(lambda d: "disclosure/" in d.current_url)
            _ready(browser)
            assert browser.find_element(By.ID, "view-status").get_attribute("data-state") == "verified"
            text = browser.find_element(By.ID, "view").text
            assert "Disclosed" in text and "GEC-202501-GD-OFFSHORE-02-T" in text
            browser.save_screenshot(str(ARTIFACTS / "disclosure.png"))
        finally:
            proxy.close()


def test_a_hundred_event_timeline_is_proved_row_by_row_and_its_cost_recorded(tmp_path: Path, browser) -> None:
    """The figures issue 18 asks the browser test for: the time to prove a 100-event timeline in
    the browser and the page's load time, beside Python on the same proofs in the same run. They
    are recorded (artifacts/explorer/performance.json), not asserted: `make bench` (bench/explorer.py)
    holds the target. The test asserts what must hold whatever the speed: every row proved, timed."""
    from bench.explorer import measure, shuttle_home

    home = tmp_path / "home"
    serial = shuttle_home(home)
    with serving_process("serve", "--home", str(home)) as (url, _):
        figures = measure(browser, url, f"{url}/explorer/", serial, Home.at(home).verifier_key())
    assert figures["rows"] == figures["rows_verified"] == figures["rows_timed"] == 100, figures
    assert figures["browser_ms"] > 0 and figures["page_load_ms"] > 0 and figures["python_full_ms_per_row"] > 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "performance.json").write_text(json.dumps(figures, indent=2) + "\n")


NO_ED25519 = """
// a browser whose WebCrypto has no Ed25519 (older Safari and Firefox): importKey refuses it
const importKey = SubtleCrypto.prototype.importKey;
SubtleCrypto.prototype.importKey = function (format, key, algorithm, ...rest) {
  const name = typeof algorithm === "string" ? algorithm : algorithm && algorithm.name;
  if (String(name).toLowerCase() === "ed25519") {
    return Promise.reject(new DOMException("Ed25519 is not supported", "NotSupportedError"));
  }
  return importKey.call(this, format, key, algorithm, ...rest);
};
"""


def test_a_browser_without_ed25519_in_webcrypto_verifies_with_noble_and_still_refuses_a_bad_signature(
    tmp_path: Path, browser
) -> None:
    from bench.explorer import shuttle_home

    home = tmp_path / "home"
    serial = shuttle_home(home)
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NO_ED25519})
    with serving_process("serve", "--home", str(home)) as (url, _):
        _ready(browser, f"{url}/explorer/#/serial/{serial}")
        body = browser.find_element("tag name", "body")
        assert body.get_attribute("data-ed25519") == "noble"  # WebCrypto refused the key: the fallback ran
        states = [state for state, _ in _rows(browser).values()]
        assert len(states) == 100 and set(states) == {"verified"}, states
        browser.set_script_timeout(60)
        refused = browser.execute_async_script(
            """const [note, vkey] = arguments, done = arguments[arguments.length - 1];
            import("/explorer/tlog.js").then(async (tlog) => {
              const key = await tlog.parseVerifierKey(vkey);
              const genuine = await tlog.openNote(note, [key]).then(() => "ok", (e) => e.code);
              const i = note.lastIndexOf(" ") + 20;  // a byte of the signature, past its 4-byte key id
              const bad = note.slice(0, i) + (note[i] === "A" ? "B" : "A") + note.slice(i + 1);
              const altered = await tlog.openNote(bad, [key]).then(() => "ok", (e) => e.code);
              done([tlog.ed25519.implementation, genuine, altered]);
            }, (e) => done(["import failed", String(e)]));""",
            httpx.get(f"{url}/v1/checkpoint").text,
            Home.at(home).verifier_key(),
        )  # fmt: skip
    assert refused == ["noble", "ok", "SIGNATURE_INVALID"], refused
