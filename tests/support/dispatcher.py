"""Run one ``nudge_dispatch_due`` in its own process, starting when a "go" file appears.

``python -m tests.support.dispatcher <ready file> <go file> [batch size]``: touches the ready file
once Django is set up, waits (at most 30 s) for the go file, dispatches, prints the report.
"""

import os
import sys
import time
from pathlib import Path


def main() -> None:
    ready, go = Path(sys.argv[1]), Path(sys.argv[2])
    batch_size = int(sys.argv[3]) if len(sys.argv) > 3 else None
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance_crm.settings")
    import django

    django.setup()
    from nudges.services import nudge_dispatch_due

    ready.touch()
    deadline = time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no go signal within 30 s")
        time.sleep(0.005)
    print(nudge_dispatch_due(batch_size=batch_size), flush=True)


if __name__ == "__main__":
    main()
