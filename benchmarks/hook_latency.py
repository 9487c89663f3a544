"""Wall time of one `memory-server hook UserPromptSubmit`, as Claude Code pays it before every prompt.

    .venv/bin/python benchmarks/hook_latency.py            # 20 runs after 2 warm-ups
    .venv/bin/python benchmarks/hook_latency.py --runs 50

Starts `memory-server serve` on a fresh data directory and a free port, gives one user a few facts (so the
hook has a profile to fetch and render), then times the console script end to end with perf_counter around
each subprocess: Python start, imports, reading stdin, /v1/profile with `q` and `max_tokens`, the JSON on
stdout; then the same with the URL and user read from a config file (MEMORY_SERVER_CONFIG). To split that
figure: the profile request alone (from this process), the hook against a closed port (start-up, imports and the
log line), and `python -c pass` as the floor. The commands take turns, so that other work on the machine weighs on
each alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.server import defaults_env, free_port, launch, serve_command  # noqa: E402

BIN = Path(sys.executable).parent
FACTS = ["I am a nurse and I live in Berlin.", "I am learning Rust this month.", "I prefer tabs over spaces."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = defaults_env()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        serve = serve_command(port, "--data-dir", f"{tmp}/data")
        server = launch(serve, port, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = server.base
        try:
            for fact in FACTS:
                body = {"user_id": "ana", "wait": True, "messages": [{"role": "user", "content": fact}]}
                _post(f"{url}/v1/interactions", body)
            hook_env = env | {"MEMORY_SERVER_URL": url, "MEMORY_SERVER_USER": "ana", "MEMORY_SERVER_STATE_DIR": tmp}
            payload = json.dumps(
                {
                    "session_id": "bench",
                    "transcript_path": f"{tmp}/t.jsonl",
                    "cwd": tmp,
                    "hook_event_name": "UserPromptSubmit",
                    "prompt": "Which language am I learning?",
                }
            )
            hook = [str(BIN / "memory-server"), "hook", "UserPromptSubmit"]
            Path(f"{tmp}/memory.yaml").write_text(f"agent:\n  url: {url}\n  user: ana\n")
            by_file = env | {"MEMORY_SERVER_CONFIG": f"{tmp}/memory.yaml", "MEMORY_SERVER_STATE_DIR": tmp}
            down = hook_env | {"MEMORY_SERVER_URL": f"http://127.0.0.1:{free_port()}"}
            cases = [
                (hook, payload, hook_env),
                (hook, payload, by_file),
                (hook, payload, down),
                ([sys.executable, "-c", "pass"], "", env),
            ]
            (hook_times, out), (file_times, file_out), (startup, _), (floor, _) = _time(cases, args.runs)
            profile = [
                _post(f"{url}/v1/profile", {"user_id": "ana", "q": "Which language am I learning?", "max_tokens": 400})
                for _ in range(args.runs)
            ]
        finally:
            server.stop()
    for answer in (out, file_out):
        context = json.loads(answer)["hookSpecificOutput"]["additionalContext"]
        assert "Rust" in context, context
    print(f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {args.runs} runs after 2 warm-ups.\n")
    print("| command | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|")
    rows = (
        ("memory-server hook UserPromptSubmit", hook_times),
        ("the same, URL and user from a config file (PyYAML)", file_times),
        ("of which: /v1/profile with q over HTTP (in this process)", profile),
        ("the same hook, server down (start-up, imports, log line)", startup),
        ("python -c pass (floor)", floor),
    )
    for name, times in rows:
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | {max(times):.1f} |")


def _time(cases: list[tuple[list[str], str, dict[str, str]]], runs: int) -> list[tuple[list[float], str]]:
    """Each case's wall times in ms and last stdout; the cases take turns, so a change in load hits them alike."""
    results: list[tuple[list[float], str]] = [([], "") for _ in cases]
    for i in range(runs + 2):
        for n, (command, stdin, env) in enumerate(cases):
            started = time.perf_counter()
            done = subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, check=True)
            if i >= 2:
                results[n][0].append((time.perf_counter() - started) * 1000)
            results[n] = (results[n][0], done.stdout)
    return results


def _post(url: str, body: dict) -> float:
    """Milliseconds the request took."""
    started = time.perf_counter()
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(request, timeout=60).read()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
