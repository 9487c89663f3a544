"""The HTTP client of this server in the peers benchmark, as a child process of its own.

An application calling this server does not host mem0, its Chroma client and their threads and heap in the
process that makes the call; the driver does. So the driver asks this process, one line at a time, to make each
call and time it: a request on stdin, `{"path": ..., "body": ..., "answer": "profile" | "search"}`, and on stdout
`{"ms": <milliseconds of the POST, answer parsed>, "empty": <no memory in the answer>}`. The first line it writes is
`ready`. An error answer ends the process with the status and body on stderr.
"""

from __future__ import annotations

import json
import sys
import time

import httpx


def is_empty(answer: dict, kind: str) -> bool:
    if kind == "profile":
        return not (answer["profile"]["static"] or answer["profile"]["dynamic"])
    return not answer["searchResults"]["results"]


def main() -> None:
    base = sys.argv[1]
    with httpx.Client(base_url=base, timeout=60) as http:
        print("ready", flush=True)
        for line in sys.stdin:
            ask = json.loads(line)
            started = time.perf_counter()
            response = http.post(ask["path"], json=ask["body"])
            if response.status_code != 200:
                sys.exit(f"{ask['path']} answered {response.status_code}: {response.text}")
            answer = response.json()
            ms = (time.perf_counter() - started) * 1000
            print(json.dumps({"ms": ms, "empty": is_empty(answer, ask["answer"])}), flush=True)


if __name__ == "__main__":
    main()
