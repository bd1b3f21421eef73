"""`make run`: all of Caseloop on one machine (DESIGN §10, the embedded default).

Starts the Temporal dev server (SQLite file under .data/, Temporal UI on :8233, Caseloop's search
attributes registered), applies the migrations, starts the worker and the web app, loads the demo
data and prints where to go. Ctrl-C stops everything cleanly; .data/ is kept for the next run.

    python scripts/run.py                             # everything (what `make run` does)
    python scripts/run.py --no-seed                   # everything but the demo data
    python scripts/run.py temporal                    # only the Temporal dev server
    python scripts/run.py register-search-attributes  # on any server (idempotent)

The parts are in scripts/devstack/.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.devstack.main import main  # noqa: E402  (needs ROOT on sys.path)

if __name__ == "__main__":
    sys.exit(main())
