"""A background worker: every few seconds it asks the API (at API_URL) for the items and reports."""

import json
import os
import signal
import sys
import time
import urllib.request

API_URL = os.environ["API_URL"]
INTERVAL = float(os.environ.get("WORKER_INTERVAL", "3"))


def stop(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough: no second exit during the first
    sys.exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    while True:
        time.sleep(INTERVAL)
        try:
            with urllib.request.urlopen(f"{API_URL}/api/items", timeout=2) as resp:
                items = json.load(resp)["items"]
            print(f"processed {len(items)} items from {API_URL}")
        except OSError as exc:
            print(f"API not reachable: {exc}")


if __name__ == "__main__":
    main()
