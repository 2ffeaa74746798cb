"""The writer the kill test (test_catalog_store_kill.py) starts and SIGKILLs: it streams changes
into a store through a follower, printing each acknowledged version, and writes a checkpoint
every 10 changes. ``python _store_writer.py STORE_URL TRIAL``."""

from __future__ import annotations

import sys

from grlm.ground.updates import CatalogChange


def change_of(trial: int, n: int) -> CatalogChange:
    """The n-th change of a trial: a new item, and every third one removes an earlier item."""
    item = f"t{trial}-{n}"
    remove = [f"t{trial}-{n - 2}"] if n >= 2 and n % 3 == 0 else []
    terms = [f"w{n % 7}", f"v{n % 5}", f"u{n % 3}"]
    return CatalogChange(upsert={item: terms}, remove=remove, priors={item: float(n % 4)})


def main(url: str, trial: int) -> None:
    from grlm.store import StoreFollower, open_store

    follower = StoreFollower.restore(open_store(url))
    n = 0
    while True:
        version = follower.commit(change_of(trial, n))
        print(version, n, flush=True)  # the acknowledgement
        if n % 10 == 9:
            follower.write_checkpoint()
        n += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
