"""`make migration m="..."`: generate a migration from the tables, to be read and named."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from storage.migrate import alembic_config, upgrade


def main(message: str) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'new.db'}"
        upgrade(url)
        command.revision(alembic_config(url), message=message, autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(" ".join(sys.argv[1:])))
