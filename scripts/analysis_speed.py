"""Times `handoff analyze` against VADER on the same messages, in one run.

Run it through `scripts/analysis-speed`. It builds N messages (100,000 by
default) by cycling deterministically through every text of the evaluation
datasets (UCI, then VADER's ground truth, then the Bitext instructions, each
in file order), writes them as JSON lines, and measures wall-clock time with
time.perf_counter:

  a. `BIN analyze < file > /dev/null` as one subprocess, end to end (process
     start, config, reading, analysing, writing);
  b. VADER's `SentimentIntensityAnalyzer().polarity_scores(text)` over the
     same texts in this process, once without and once with the import and
     lexicon load (which is timed separately, before the loop).

Shares the loaders and set-up (venv, binary) with analysis_eval.py.
"""

import argparse
import os
import shlex
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
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
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

    with ev.scratch_dir() as tmp:
        infile, errfile = Path(tmp) / "in.jsonl", Path(tmp) / "stderr.txt"
        ev.write_jsonl(messages, infile)
        ev.note(f"timing {shlex.join(cmd)} on {args.count} messages")
        with open(infile, "rb") as fin, open(errfile, "wb") as ferr:
            start = time.perf_counter()
            result = subprocess.run(
                cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=ferr, cwd=tmp, env=ev.handoff_env()
            )
            handoff_s = time.perf_counter() - start
        if result.returncode != 0:
            stderr = errfile.read_text(errors="replace").strip()
            ev.fail(f"{shlex.join(cmd)} exited {result.returncode}:\n{stderr[-2000:]}")
        input_mb = infile.stat().st_size / 1e6

    ev.note(f"timing VADER on {args.count} messages")
    start = time.perf_counter()
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    for text in messages:
        analyzer.polarity_scores(text)
    vader_s = time.perf_counter() - start

    n = args.count
    rows = [
        ["handoff analyze (subprocess, end to end)", n, f"{handoff_s:.3f}", f"{n / handoff_s:,.0f}"],
        ["VADER polarity_scores (in-process, lexicon loaded)", n, f"{vader_s:.3f}", f"{n / vader_s:,.0f}"],
        [
            f"VADER incl. import + lexicon load ({load_s:.3f} s)",
            n,
            f"{vader_s + load_s:.3f}",
            f"{n / (vader_s + load_s):,.0f}",
        ],
    ]
    print(ev.table(["system", "messages", "wall s", "messages/s"], rows) + "\n")
    print(
        ev.table(
            ["handoff / VADER (messages/s)", "excluding VADER's load", "including it", "cores (os.cpu_count())"],
            [["ratio", f"{vader_s / handoff_s:.2f}x", f"{(vader_s + load_s) / handoff_s:.2f}x", os.cpu_count()]],
        )
        + "\n"
    )
    print(
        f"Input file: {input_mb:.1f} MB of JSON lines. VADER is pure Python on one core; "
        "handoff's time includes starting the process and writing every result line to /dev/null."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
