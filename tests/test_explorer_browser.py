"""The explorer in a real browser (issue 18): Debian's chromium, driven by selenium, against a live
`oneclaim serve` on loopback, through a proxy the test controls. The log-status page verifies the
checkpoint in the browser; on the next visit it proves the new checkpoint consistent with the one
it saw. Then the server lies: a checkpoint of the same size with another root, signed with the
log's real key (the operator as the attacker), and the page says the log forked; a checkpoint
whose root was altered, and the page says the signature fails."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ledger.tlog.note import Checkpoint, sign_note
from oneclaim.home import Home
from oneclaim.serve_cli import serving_process
from tests.registry_support import market
from tests.support import missing_evidence, run

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "explorer"
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


class Proxy:
    """A loopback HTTP proxy in front of the API that serves `lies[path]` instead, when set."""

    def __init__(self, upstream: str) -> None:
        self.lies: dict[str, str] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                if path in proxy.lies:
                    status, body, kind = 200, proxy.lies[path].encode(), "text/plain; charset=utf-8"
                else:
                    answer = httpx.get(upstream + self.path, timeout=30)
                    status, body = answer.status_code, answer.content
                    kind = answer.headers.get("content-type", "application/octet-stream")
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
                 "--disable-quic", f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
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
            browser.find_element(By.TAG_NAME, "body").send_keys("\t")  # the keyboard reaches the button
            assert browser.switch_to.active_element.get_attribute("id") == "forget"

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
