"""The top frames by own CPU of a py-spy speedscope profile, per process or for one.

    py-spy record --subprocesses --format speedscope -o storm.json -- \\
        .venv/bin/python bench/escalation_storm.py --cases 300 --processes 1
    .venv/bin/python bench/profile_top.py storm.json --match worker_process

Own time: the samples whose innermost frame is that frame. "Inclusive" groups by a frame
anywhere on the stack (a module, e.g. `temporalio/worker/workflow_sandbox`), for totals.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def main(path: Path, match: str, top: int, inclusive: list[str]) -> None:
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    own: Counter[int] = Counter()
    under: Counter[str] = Counter()
    total = 0.0
    for profile in doc["profiles"]:
        if match not in profile["name"]:
            continue
        for stack in profile["samples"]:
            weight = 1  # py-spy weights a sample by its count of idle-merged ticks: count samples
            if not stack:
                continue
            total += weight
            own[stack[-1]] += weight
            files = {frames[i].get("file", "") for i in stack}
            for key in inclusive:
                if any(key in f for f in files):
                    under[key] += weight
    print(f"{total:.0f} samples in profiles matching {match!r}")
    print(f"{'own %':>6}  frame")
    for idx, weight in own.most_common(top):
        f = frames[idx]
        where = f"{f.get('file', '?').split('site-packages/')[-1]}:{f.get('line', '?')}"
        print(f"{100 * weight / total:6.1f}  {f['name']}  ({where})")
    if inclusive:
        print(f"{'incl %':>6}  stacks through")
        for key in inclusive:
            print(f"{100 * under[key] / max(total, 1):6.1f}  {key}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--match", default="", help="only profiles whose name has this")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--inclusive", nargs="*", default=[], help="file substrings to total")
    args = parser.parse_args()
    main(args.profile, args.match, args.top, args.inclusive)
