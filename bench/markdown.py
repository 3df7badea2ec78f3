"""Print saved results as Markdown tables (for docs/benchmarks.md):

python -m bench.markdown [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench import report
from bench.__main__ import DEFAULT_OUT, render


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_OUT
    report.MARKDOWN = True
    sys.stdout.write(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
