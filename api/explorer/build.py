"""Writes api/explorer/offline.html: src/offline.html with tlog.js inlined, so that the offline
verifier is one file an auditor opens from disk (no network, no second file to fetch).

    python api/explorer/build.py          # rewrite offline.html
    python api/explorer/build.py --check  # exit 1 if offline.html is not what the sources give

tests/test_explorer_browser.py runs the check, so the committed file never drifts from tlog.js.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARK = "/*@@TLOG@@*/"


def built() -> str:
    template = (HERE / "src" / "offline.html").read_text()
    library = (HERE / "tlog.js").read_text()
    if MARK not in template or "</script" in library:
        raise SystemExit("src/offline.html lacks its mark, or tlog.js would end the inline script")
    return template.replace(MARK, "// tlog.js, inlined by api/explorer/build.py\n" + library)


def main(argv: list[str]) -> int:
    target = HERE / "offline.html"
    if "--check" in argv:
        return 0 if target.is_file() and target.read_text() == built() else 1
    target.write_text(built())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
