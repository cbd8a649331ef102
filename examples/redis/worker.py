"""Takes jobs off the Redis list "jobs" (BRPOP, oldest first), does the work (upper-cases the text) and
stores the result where the API finds it."""

import json
import os

from resp import Redis

REDIS_URL = os.environ["REDIS_URL"]


def main() -> None:
    with Redis(REDIS_URL, timeout=None) as r:
        print(f"worker waiting for jobs at {REDIS_URL}")
        while True:
            _, raw = r.command("BRPOP", "jobs", 0)
            job = json.loads(raw)
            result = {"status": "done", "id": job["id"], "result": job["text"].upper()}
            r.command("SET", f"result:{job['id']}", json.dumps(result))
            print(f"processed job {job['id']}: {job['text']!r} -> {result['result']!r}")


if __name__ == "__main__":
    main()
