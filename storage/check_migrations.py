"""`make lint`: upgrade a scratch SQLite database from empty and fail if the tables and the
migrations disagree (a model changed without a migration)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from storage.migrate import check, upgrade


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'check.db'}"
        upgrade(url)
        check(url)
    print("migrations match the tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
