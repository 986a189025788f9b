"""Times `handoff analyze` against VADER on the same messages, in one run.

Run it through `scripts/analysis-speed`. It builds N messages (100,000 by
default) by cycling deterministically through every text of the evaluation
datasets (UCI, then VADER's ground truth, then the Bitext instructions, each
in file order), writes them as JSON lines, and measures wall-clock time with
time.perf_counter:

  a. `BIN analyze < file > /dev/null` as one subprocess, end to end (process
     start, config, reading, analysing, writing);
  b. VADER's `SentimentIntensityAnalyzer().polarity_scores(text)` over the
     same texts in this process (its import and lexicon load are timed
     once, apart, and not counted).

It runs R rounds (3 by default), each timing a then b, and reports the best
and the median of each; the ratio of the bests is the headline, since on a
shared machine the best run is the one least disturbed by others.

Shares the loaders and set-up (venv, binary) with analysis_eval.py.
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
import analysis_eval as ev  # noqa: E402


def main(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/analysis-speed",
        description="Time `handoff analyze` and VADER on the same messages.",
    )
    ev.add_common_args(parser)
    parser.add_argument("--count", metavar="N", type=int, default=100_000, help="messages to time (default 100000)")
    parser.add_argument("--rounds", metavar="R", type=int, default=3, help="timed rounds of each (default 3)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    ev.resolve_paths(args)
    ev.check_data(args.data)
    ev.ensure_venv_and_reexec()

    binary = ev.ensure_bin(args)
    cmd = ev.handoff_command(binary, args.config)
    paths, sets = ev.load_datasets(args.data)
    pool = ev.all_texts(sets)
    messages = [pool[i % len(pool)] for i in range(args.count)]

    import importlib.metadata

    print("# handoff analyze vs VADER: speed\n")
    print(f"Command: `{ev.command_line(argv)}` (cwd {os.getcwd()})  ")
    print(f"handoff: `{shlex.join(cmd)}` ({ev.handoff_version(binary)})  ")
    print(
        f"vaderSentiment {importlib.metadata.version('vaderSentiment')} "
        f"(Python {sys.version.split()[0]}, venv {ev.VENV})  "
    )
    print(f"Data dir: {args.data}  ")
    print(
        f"Messages: {args.count}, cycling through the {len(pool)} texts of "
        + ", ".join(f"{name} ({len(rows)})" for name, rows in sets.items())
        + "\n"
    )
    sys.stdout.flush()

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    with ev.scratch_dir() as tmp:
        infile, errfile = Path(tmp) / "in.jsonl", Path(tmp) / "stderr.txt"
        ev.write_jsonl(messages, infile)
        input_mb = infile.stat().st_size / 1e6

        def time_handoff():
            with open(infile, "rb") as fin, open(errfile, "wb") as ferr:
                start = time.perf_counter()
                result = subprocess.run(
                    cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=ferr, cwd=tmp, env=ev.handoff_env()
                )
                seconds = time.perf_counter() - start
            if result.returncode != 0:
                stderr = errfile.read_text(errors="replace").strip()
                ev.fail(f"{shlex.join(cmd)} exited {result.returncode}:\n{stderr[-2000:]}")
            return seconds

        start = time.perf_counter()
        analyzer = SentimentIntensityAnalyzer()
        load_s = time.perf_counter() - start

        def time_vader():
            start = time.perf_counter()
            for text in messages:
                analyzer.polarity_scores(text)
            return time.perf_counter() - start

        # Rounds alternate the two, so that a slower stretch of a shared
        # machine hits both rather than one.
        handoff_runs, vader_runs = [], []
        for round_ in range(1, args.rounds + 1):
            ev.note(f"round {round_}/{args.rounds}: handoff analyze, then VADER, on {args.count} messages")
            handoff_runs.append(time_handoff())
            vader_runs.append(time_vader())

    n = args.count
    best_h, best_v = min(handoff_runs), min(vader_runs)
    med_h, med_v = statistics.median(handoff_runs), statistics.median(vader_runs)
    rows = [
        [
            "handoff analyze (subprocess, end to end)",
            n,
            f"{best_h:.3f}",
            f"{med_h:.3f}",
            f"{n / best_h:,.0f}",
        ],
        [
            f"VADER polarity_scores (in-process; lexicon load {load_s:.3f} s not counted)",
            n,
            f"{best_v:.3f}",
            f"{med_v:.3f}",
            f"{n / best_v:,.0f}",
        ],
    ]
    print(f"Rounds: {args.rounds}, alternating handoff and VADER.\n")
    print(ev.table(["system", "messages", "best s", "median s", "messages/s (best)"], rows) + "\n")
    print(
        ev.table(
            ["handoff / VADER (messages/s)", "best of each", "median of each", "cores (os.cpu_count())"],
            [["ratio", f"{best_v / best_h:.2f}x", f"{med_v / med_h:.2f}x", os.cpu_count()]],
        )
        + "\n"
    )
    print(
        f"Input file: {input_mb:.1f} MB of JSON lines. VADER is pure Python on one core; "
        "handoff's time includes starting the process and writing every result line to /dev/null."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
