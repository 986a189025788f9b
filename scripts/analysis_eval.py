"""Compares `handoff analyze` with VADER on public labelled data, in one run.

Run it through `scripts/analysis-eval` (see `usage` below). It reads the
public datasets from the data dir (default `../shared/data` beside the repo,
not copied into it), runs `BIN analyze` once over every text, scores the same
texts with VADER (vaderSentiment 3.3.2 in a venv under `target/vader-venv`)
and prints Markdown tables:

  * two-class sentiment accuracy on the UCI sentences,
  * three-class sentiment accuracy and per-class recall on VADER's own
    ground truth (tweets, Amazon review snippets),
  * three-class sentiment accuracy on handoff's own hand-labelled support
    messages (tests/fixtures/support_sentiment.tsv, in the repo),
  * human-request precision/recall/F1 on Bitext (`contact_human_agent`),
  * intent accuracy and F1 on the Bitext held-out rows,
  * then, under "errors", human-request mistakes on the Bitext tuning rows
    and every sentiment mistake on the support messages.

Bitext rows whose 0-based data-row index is a multiple of 4 are the tuning
rows (look at them, tune on them); the others are held out (report on them).
The support messages are ours and not held out: all of their mistakes are
listed.

`scripts/analysis_speed.py` imports the loaders and the set-up helpers from
here, so nothing in this module may import vaderSentiment at import time.
Standard library only (vaderSentiment is loaded inside the venv).
"""

import argparse
import collections
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / "target" / "vader-venv"
VADER_REQUIREMENT = "vaderSentiment==3.3.2"
DEFAULT_BIN = REPO / "target" / "release" / "handoff"
DEFAULT_DATA = REPO.parent / "shared" / "data"

UCI_SETS = ["amazon", "imdb", "yelp"]
VADER_SETS = {
    "tweets": "sentiment/vader/tweets_GroundTruth.txt",
    "amazon snippets": "sentiment/vader/amazonReviewSnippets_GroundTruth.txt",
}
BITEXT = "intents/bitext/Bitext_Sample_Customer_Support_Training_Dataset.csv"
# handoff's own hand-written, hand-labelled support messages (in the repo, MIT).
SUPPORT_SET = REPO / "tests" / "fixtures" / "support_sentiment.tsv"

# handoff's intent taxonomy, in order, read from the shipped taxonomy itself
# (each `[[intent]]` table's `name = "..."` line) so the two cannot drift.
TAXONOMY = re.findall(
    r'^name = "([^"]+)"$',
    (REPO / "src" / "analysis" / "default_intents.toml").read_text(encoding="utf-8"),
    flags=re.MULTILINE,
)
# Bitext's 27 intents folded into that taxonomy. Bitext has no examples of
# fraud_security or technical_issue; predicting either on a Bitext row is
# simply wrong.
BITEXT_TO_TAXONOMY = {
    **dict.fromkeys(["check_invoice", "get_invoice", "check_payment_methods", "payment_issue"], "billing"),
    **dict.fromkeys(["check_refund_policy", "get_refund", "track_refund"], "refund"),
    **dict.fromkeys(["cancel_order", "delete_account", "check_cancellation_fee"], "cancellation"),
    **dict.fromkeys(
        [
            "delivery_options",
            "delivery_period",
            "track_order",
            "change_order",
            "place_order",
            "change_shipping_address",
            "set_up_shipping_address",
        ],
        "shipping",
    ),
    **dict.fromkeys(["recover_password", "registration_problems"], "account_access"),
    "complaint": "complaint",
    "review": "feedback",
    "contact_human_agent": "human_agent",
    **dict.fromkeys(
        [
            "newsletter_subscription",
            "create_account",
            "edit_account",
            "switch_account",
            "contact_customer_service",
        ],
        "general",
    ),
}
HUMAN_INTENT = "contact_human_agent"
CLASSES = ["negative", "neutral", "positive"]
MAX_ERRORS_LISTED = 15
# Per file, how many records the loader left out (unlabelled ones).
SKIPPED = {}


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def note(message):
    """Progress for the person running the script; stdout keeps the report."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- arguments


def add_common_args(parser):
    parser.add_argument(
        "--data",
        metavar="DIR",
        help=f"dataset dir (default: ../shared/data beside the repo, i.e. {DEFAULT_DATA})",
    )
    parser.add_argument(
        "--bin",
        metavar="PATH",
        help="handoff binary, called as `PATH analyze` (default: target/release/handoff, "
        "built with `cargo build --release --locked --bin handoff` when missing)",
    )
    parser.add_argument("--config", metavar="FILE", help="passed to handoff as `--config FILE`")


def command_line(argv):
    """The command as typed: the wrapper exports its own $0."""
    argv0 = os.environ.get("ANALYSIS_ARGV0", sys.argv[0])
    return shlex.join([argv0, *argv])


def resolve_paths(args):
    """Makes every user path absolute (relative to the caller's cwd), before
    anything changes directory or re-executes."""
    data = Path(args.data).resolve() if args.data else DEFAULT_DATA.resolve()
    args.data = str(data)
    if args.bin:
        # A bare name is looked up on PATH, like a shell would.
        found = shutil.which(args.bin) if os.sep not in args.bin else None
        args.bin = found or str(Path(args.bin).resolve())
    if args.config:
        args.config = str(Path(args.config).resolve())
        if not Path(args.config).is_file():
            fail(f"--config {args.config}: no such file")


def data_paths(data_dir):
    data = Path(data_dir)
    paths = {f"uci/{name}": data / f"sentiment/uci/{name}.json" for name in UCI_SETS}
    paths.update({f"vader/{name}": data / rel for name, rel in VADER_SETS.items()})
    paths["bitext"] = data / BITEXT
    return paths


def check_data(data_dir):
    if not in_venv():  # said once, not again after the re-exec
        note(f"reading datasets from {data_dir}")
    if not Path(data_dir).is_dir():
        fail(
            f"data dir {data_dir} does not exist. The public datasets are not in the repo; "
            "pass --data DIR pointing at the folder that holds sentiment/ and intents/ "
            "(by default ../shared/data beside the repo)."
        )
    missing = [str(p) for p in data_paths(data_dir).values() if not p.is_file()]
    if missing:
        fail(f"data dir {data_dir} lacks these files:\n  " + "\n  ".join(missing))


# ------------------------------------------------------------------- set-up


def in_venv():
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv_and_reexec():
    """Creates target/vader-venv with vaderSentiment 3.3.2 when it lacks it,
    then re-runs this script with the venv's Python (a no-op inside it)."""
    if in_venv():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        note(f"creating venv {VENV}")
        run_setup([sys.executable, "-m", "venv", str(VENV)], "python3 -m venv (on Debian: apt-get install python3-venv)")
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('vaderSentiment'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if version != VADER_REQUIREMENT.split("==")[1]:
        note(f"installing {VADER_REQUIREMENT} into {VENV}")
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
        run_setup([str(python), "-m", "pip", "install", "--quiet", VADER_REQUIREMENT], "pip install", env=env)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    os.execve(str(python), [str(python), sys.argv[0], *sys.argv[1:]], env)


def run_setup(cmd, what, env=None):
    # Set-up output goes to stderr so stdout stays the report.
    result = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, env=env)
    if result.returncode != 0:
        fail(f"{what} failed (exit {result.returncode}): {shlex.join(cmd)}")


def ensure_bin(args):
    """Returns the handoff binary's path, building the default one if missing."""
    if args.bin:
        if not os.access(args.bin, os.X_OK):
            fail(f"--bin {args.bin}: not an executable file")
        return args.bin
    if not DEFAULT_BIN.exists():
        cmd = ["cargo", "build", "--release", "--locked", "--bin", "handoff"]
        note(f"{DEFAULT_BIN} is missing: running {shlex.join(cmd)}")
        result = subprocess.run(cmd, cwd=REPO, stdout=sys.stderr, stderr=sys.stderr)
        if result.returncode != 0 or not DEFAULT_BIN.exists():
            fail(f"{shlex.join(cmd)} failed (exit {result.returncode})")
    else:
        warn_if_stale(DEFAULT_BIN)
    return str(DEFAULT_BIN)


def warn_if_stale(binary):
    built = binary.stat().st_mtime
    sources = [REPO / "Cargo.toml", REPO / "Cargo.lock"]
    for folder in ["src", "adapters"]:
        sources.extend(p for p in (REPO / folder).rglob("*") if p.is_file())
    newer = [p for p in sources if p.stat().st_mtime > built]
    if newer:
        note(
            f"warning: {binary} is older than {len(newer)} source file(s) "
            f"(e.g. {newer[0].relative_to(REPO)}); rebuild with `cargo build --release --locked --bin handoff`"
        )


def handoff_command(binary, config):
    return [binary, *(["--config", config] if config else []), "analyze"]


def handoff_env():
    # analyze needs no config: keep a config named by the caller's environment
    # out of the measurement unless --config names one.
    env = dict(os.environ)
    env.pop("HANDOFF_CONFIG", None)
    return env


def handoff_version(binary):
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_jsonl(texts, path):
    with open(path, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}) + "\n")


def scratch_dir():
    """Temp files live under target/ (git-ignored), not outside the repo."""
    (REPO / "target").mkdir(exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="analysis-", dir=REPO / "target")


def vader_version():
    import importlib.metadata

    return importlib.metadata.version("vaderSentiment")


# ------------------------------------------------------------------ loaders


def read_uci(path):
    """Rows labelled 0 or 1; others (each file ends in one empty, unlabelled
    record) are skipped and counted in SKIPPED."""
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    kept = [(row["text"], row["class"]) for row in rows if row.get("class") in (0, 1)]
    SKIPPED[str(path)] = len(rows) - len(kept)
    return kept


def read_vader_truth(path):
    """`id<TAB>mean<TAB>text` lines, CRLF ends; undecodable bytes replaced."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        raw = f.read()
    rows = []
    for number, line in enumerate(raw.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            fail(f"{path}:{number}: expected id<TAB>mean<TAB>text")
        rows.append((parts[2], float(parts[1])))
    return rows


def read_bitext(path):
    """(instruction, bitext intent) in file order; index = 0-based data row."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [(row["instruction"], row["intent"]) for row in csv.DictReader(f)]


def read_support(path):
    """`label<TAB>text` lines; `#` lines and blank lines skipped. Returns
    (text, label, line number) in file order."""
    if not path.is_file():
        fail(f"{path}: no such file (handoff's own support set, part of the repo)")
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for number, line in enumerate(f.read().split("\n"), 1):
            line = line.rstrip("\r")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2 or parts[0] not in CLASSES or not parts[1].strip():
                fail(f"{path}:{number}: expected negative|neutral|positive<TAB>text (one tab)")
            rows.append((parts[1], parts[0], number))
    return rows


def load_datasets(data_dir):
    paths = data_paths(data_dir)
    sets = {}
    for name in UCI_SETS:
        sets[f"uci/{name}"] = read_uci(paths[f"uci/{name}"])
    for name in VADER_SETS:
        sets[f"vader/{name}"] = read_vader_truth(paths[f"vader/{name}"])
    sets["bitext"] = read_bitext(paths["bitext"])
    return paths, sets


def all_texts(sets):
    """Every text of every set, in a fixed order (UCI, VADER, Bitext)."""
    return [text for rows in sets.values() for text, _ in rows]


# -------------------------------------------------------------- run handoff


class Analysis:
    """One parsed `analyze` output line; `error` set for a rejected input."""

    __slots__ = ("error", "label", "score", "intent", "human_request")

    def __init__(self, obj, number):
        if not isinstance(obj, dict):
            fail(f"handoff output line {number} is not a JSON object: {obj!r}")
        self.error = obj.get("error")
        if self.error is not None:
            self.label = self.score = self.intent = self.human_request = None
            return
        try:
            sentiment = obj["sentiment"]
            self.label = sentiment["label"]
            self.score = float(sentiment["score"])
            self.intent = obj["intent"]["name"]
            self.human_request = obj["human_request"]
        except (KeyError, TypeError, ValueError) as e:
            fail(f"handoff output line {number} lacks a field ({e!r}): {json.dumps(obj)[:300]}")
        if self.label not in ("negative", "neutral", "positive") or not isinstance(self.human_request, bool):
            fail(f"handoff output line {number} has an unexpected value: {json.dumps(obj)[:300]}")


def run_handoff(cmd, texts, tmp):
    """Runs `cmd` once with every text as a JSON line; one Analysis per text."""
    infile, outfile, errfile = (Path(tmp) / n for n in ("in.jsonl", "out.jsonl", "stderr.txt"))
    write_jsonl(texts, infile)
    note(f"running {shlex.join(cmd)} on {len(texts)} texts")
    with open(infile, "rb") as fin, open(outfile, "wb") as fout, open(errfile, "wb") as ferr:
        result = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=tmp, env=handoff_env())
    if result.returncode != 0:
        stderr = errfile.read_text(errors="replace").strip()
        fail(f"{shlex.join(cmd)} exited {result.returncode}:\n{stderr[-2000:]}")
    with open(outfile, encoding="utf-8", newline="") as f:
        # JSON lines end at "\n" only: str.splitlines() would also split
        # inside texts at U+2028 and other Unicode line breaks.
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(texts):
        fail(f"handoff analyze printed {len(lines)} lines for {len(texts)} inputs")
    out = []
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            fail(f"handoff output line {number} is not JSON ({e}): {line[:300]}")
        out.append(Analysis(obj, number))
    return out


# ------------------------------------------------------------------ metrics


def ratio(num, den):
    return num / den if den else float("nan")


def fmt(x):
    return "n/a" if x != x else f"{x:.3f}"


def prf(tp, fp, fn):
    p, r = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = 2 * p * r / (p + r) if (p + r) and p == p and r == r else 0.0
    return p, r, f1


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def vader_label(compound):
    # VADER's documented thresholds.
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"


def tally_three_class(stats, gold, handoff_label, vader_pred):
    """Counts one row into `stats` ("h": handoff, "v": VADER); a prediction
    of None is a handoff error row, counted wrong."""
    for key, pred in (("h", handoff_label), ("v", vader_pred)):
        s = stats[key]
        s["n"] += 1
        s[f"gold_{gold}"] += 1
        s["correct"] += pred == gold
        s[f"hit_{gold}"] += pred == gold
        if pred is not None:
            s[f"pred_{pred}"] += 1
        s["errors"] += pred is None


def human_label(mean):
    if abs(mean) <= 0.5:
        return "neutral"
    return "positive" if mean > 0 else "negative"


def two_class_section(sets, results, compounds):
    print("## Two-class sentiment (UCI sentences, class 1 = positive, 0 = negative)\n")
    print(
        "Rule A (score): positive iff score > 0, where score is handoff's `sentiment.score` and "
        "VADER's `compound`; a score of exactly 0 counts as negative for both.  \n"
        "Rule B (label): positive iff the label is positive (handoff's `sentiment.label`; VADER: "
        "compound >= 0.05); neutral and negative count as negative.  \n"
        "A handoff error row counts as wrong.\n"
    )
    rows, totals = [], collections.Counter()
    for name in ["uci/amazon", "uci/imdb", "uci/yelp", "all"]:
        if name == "all":
            c = totals
        else:
            c = collections.Counter()
            for (_, gold), a, comp in zip(sets[name], results[name], compounds[name]):
                truth = gold == 1
                c["n"] += 1
                c["errors"] += a.error is not None
                c["h_score"] += a.error is None and (a.score > 0) == truth
                c["h_label"] += a.error is None and (a.label == "positive") == truth
                c["v_score"] += (comp > 0) == truth
                c["v_label"] += (vader_label(comp) == "positive") == truth
                c["zero_h"] += a.error is None and a.score == 0
                c["zero_v"] += comp == 0
            totals.update(c)
        n = c["n"]
        rows.append(
            [
                name,
                n,
                fmt(ratio(c["h_score"], n)),
                fmt(ratio(c["v_score"], n)),
                fmt(ratio(c["h_label"], n)),
                fmt(ratio(c["v_label"], n)),
                f"{c['zero_h']} / {c['zero_v']}",
                c["errors"],
            ]
        )
    header = [
        "dataset",
        "rows",
        "handoff acc (A: score)",
        "VADER acc (A: compound)",
        "handoff acc (B: label)",
        "VADER acc (B: label)",
        "score = 0 (handoff / VADER)",
        "handoff errors",
    ]
    print(table(header, rows) + "\n")


def three_class_section(sets, results, compounds):
    print("## Three-class sentiment (VADER ground truth: mean human rating -4..+4)\n")
    print(
        "Human label: neutral when |mean| <= 0.5, else the sign of the mean. "
        "VADER: compound >= 0.05 positive, <= -0.05 negative, else neutral. "
        "handoff: `sentiment.label`. A handoff error row counts as wrong. "
        "These are the sets VADER was built and validated on, which flatters VADER.\n"
    )
    acc_rows, recall_rows = [], []
    all_stats = {"h": collections.Counter(), "v": collections.Counter()}
    names = [f"vader/{n}" for n in VADER_SETS]
    for name in names + ["all"]:
        if name == "all":
            stats = all_stats
        else:
            stats = {"h": collections.Counter(), "v": collections.Counter()}
            for (_, mean), a, comp in zip(sets[name], results[name], compounds[name]):
                tally_three_class(stats, human_label(mean), a.label, vader_label(comp))
            for key in stats:
                all_stats[key].update(stats[key])
        h, v = stats["h"], stats["v"]
        n = h["n"]
        support = "/".join(str(h[f"gold_{c}"]) for c in CLASSES)
        acc_rows.append(
            [
                name,
                n,
                support,
                fmt(ratio(h["correct"], n)),
                fmt(ratio(v["correct"], n)),
                fmt(ratio(h["hit_negative"], h["gold_negative"])),
                fmt(ratio(v["hit_negative"], v["gold_negative"])),
                fmt(ratio(h["hit_negative"], h["pred_negative"])),
                fmt(ratio(v["hit_negative"], v["pred_negative"])),
                h["errors"],
            ]
        )
        for label, s in (("handoff", h), ("VADER", v)):
            recall_rows.append(
                [name, label]
                + [fmt(ratio(s[f"hit_{c}"], s[f"gold_{c}"])) for c in CLASSES]
                + ["/".join(str(s[f"pred_{c}"]) for c in CLASSES)]
            )
    print(
        table(
            [
                "dataset",
                "rows",
                "human neg/neu/pos",
                "handoff acc",
                "VADER acc",
                "handoff neg recall",
                "VADER neg recall",
                "handoff neg precision",
                "VADER neg precision",
                "handoff errors",
            ],
            acc_rows,
        )
        + "\n"
    )
    print("Per-class recall:\n")
    print(
        table(
            ["dataset", "system", "neg recall", "neu recall", "pos recall", "predicted neg/neu/pos"],
            recall_rows,
        )
        + "\n"
    )


def support_section(rows, results, compounds):
    print(f"## Support messages (handoff's own hand-labelled set, {SUPPORT_SET.relative_to(REPO)})\n")
    print(
        "Label: the customer's mood as a support lead would read it. "
        "VADER: compound >= 0.05 positive, <= -0.05 negative, else neutral. "
        "handoff: `sentiment.label`. A handoff error row counts as wrong. "
        "Written by handoff's developers, not held out: every mistake is listed under errors.\n"
    )
    stats = {"h": collections.Counter(), "v": collections.Counter()}
    for (_, gold, _), a, comp in zip(rows, results, compounds):
        tally_three_class(stats, gold, a.label, vader_label(comp))
    out = []
    for label, s in (("handoff", stats["h"]), ("VADER", stats["v"])):
        out.append(
            [
                label,
                s["n"],
                "/".join(str(s[f"gold_{c}"]) for c in CLASSES),
                fmt(ratio(s["correct"], s["n"])),
                fmt(ratio(s["hit_negative"], s["gold_negative"])),
                fmt(ratio(s["hit_negative"], s["pred_negative"])),
                "/".join(str(s[f"pred_{c}"]) for c in CLASSES),
                s["errors"] if label == "handoff" else "n/a",
            ]
        )
    print(
        table(
            [
                "system",
                "rows",
                "gold neg/neu/pos",
                "accuracy",
                "neg recall",
                "neg precision",
                "predicted neg/neu/pos",
                "handoff errors",
            ],
            out,
        )
        + "\n"
    )


def is_held_out(index):
    return index % 4 != 0


def human_request_section(rows, results):
    print(f"## Human request (Bitext: positive = intent `{HUMAN_INTENT}`, prediction = `human_request`)\n")
    print(
        "Held-out rows: 0-based data-row index % 4 != 0; tuning rows: index % 4 == 0. "
        "A handoff error row counts as a wrong prediction.\n"
    )
    out = []
    for split, keep in (("all", lambda i: True), ("held-out", is_held_out), ("tuning", lambda i: not is_held_out(i))):
        c = collections.Counter()
        for i, ((_, intent), a) in enumerate(zip(rows, results)):
            if not keep(i):
                continue
            gold = intent == HUMAN_INTENT
            pred = (not gold) if a.error is not None else a.human_request
            c["n"] += 1
            c["pos"] += gold
            c["errors"] += a.error is not None
            c["tp"] += gold and pred
            c["fp"] += (not gold) and pred
            c["fn"] += gold and not pred
        p, r, f1 = prf(c["tp"], c["fp"], c["fn"])
        out.append([split, c["n"], c["pos"], c["tp"], c["fp"], c["fn"], fmt(p), fmt(r), fmt(f1), c["errors"]])
    print(
        table(
            ["rows", "n", "positives", "TP", "FP", "FN", "precision", "recall", "F1", "handoff errors"],
            out,
        )
        + "\n"
    )


def intent_section(rows, results):
    print("## Intent (Bitext held-out rows, Bitext intents mapped to handoff's taxonomy)\n")
    pairs = []
    errors = 0
    for i, ((_, intent), a) in enumerate(zip(rows, results)):
        if not is_held_out(i):
            continue
        gold = BITEXT_TO_TAXONOMY[intent]
        if a.error is not None:
            errors += 1
            pairs.append((gold, "(error)"))
        else:
            pairs.append((gold, a.intent))
    n = len(pairs)
    correct = sum(g == p for g, p in pairs)
    gold_labels = [l for l in TAXONOMY if any(g == l for g, _ in pairs)]
    # Every taxonomy intent gets a row, and so does any other name handoff
    # predicts (a typo or a renamed intent shows up here).
    outside = sorted({p for _, p in pairs} - set(TAXONOMY) - {"(error)"})
    per = {}
    for label in TAXONOMY + outside:
        tp = sum(g == label and p == label for g, p in pairs)
        fp = sum(g != label and p == label for g, p in pairs)
        fn = sum(g == label and p != label for g, p in pairs)
        per[label] = (tp + fn, tp + fp, *prf(tp, fp, fn))
    macro = sum(per[l][4] for l in gold_labels) / len(gold_labels)
    print(
        table(
            ["rows", "accuracy", f"macro-F1 (the {len(gold_labels)} intents Bitext has)", "handoff errors"],
            [[n, fmt(ratio(correct, n)), fmt(macro), errors]],
        )
        + "\n"
    )
    absent = [l for l in TAXONOMY if l not in gold_labels]
    print(
        f"The taxonomy has {len(TAXONOMY)} intents; Bitext has no examples of {', '.join(absent) or 'none'}, "
        "so macro-F1 averages the others (an intent with no examples has no recall). Predictions of "
        "an intent without examples are false positives, visible in its row below and in the accuracy."
        + (f" Predicted names outside the taxonomy: {', '.join(outside)}." if outside else "")
        + "\n"
    )
    print(
        table(
            ["intent", "support", "predicted", "precision", "recall", "F1"],
            [[l, s, pc, fmt(p), fmt(r), fmt(f) if s else "n/a"] for l, (s, pc, p, r, f) in per.items()],
        )
        + "\n"
    )
    support = collections.Counter(g for g, _ in pairs)
    confusions = collections.Counter((g, p) for g, p in pairs if g != p).most_common(10)
    print("Top confusions (gold -> predicted):\n")
    print(
        table(
            ["gold", "predicted", "count", "share of gold"],
            [[g, p, k, fmt(k / support[g])] for (g, p), k in confusions],
        )
        + "\n"
    )


def errors_section(rows, results):
    print("## errors\n")
    print(
        f"Human-request mistakes on the Bitext tuning rows (index % 4 == 0), first {MAX_ERRORS_LISTED} of each; "
        "the held-out rows are left unlisted so the figures above stay honest.\n"
    )
    fps, fns = [], []
    for i, ((text, intent), a) in enumerate(zip(rows, results)):
        if is_held_out(i) or a.error is not None:
            continue
        gold = intent == HUMAN_INTENT
        if a.human_request and not gold:
            fps.append((i, text, intent, a.intent))
        elif gold and not a.human_request:
            fns.append((i, text, intent, a.intent))
    for title, items in (("False positives", fps), ("False negatives", fns)):
        print(f"### {title} ({len(items)} on tuning rows)\n")
        if not items:
            print("(none)")
        for i, text, intent, predicted in items[:MAX_ERRORS_LISTED]:
            print(f"- row {i} [{intent}; handoff intent {predicted}]: {json.dumps(text)}")
        print()
    errs = [(i, text, a.error) for i, ((text, _), a) in enumerate(zip(rows, results)) if a.error is not None]
    if errs:
        print(f"### handoff error objects on Bitext, all rows ({len(errs)})\n")
        for i, text, error in errs[:MAX_ERRORS_LISTED]:
            print(f"- row {i}: {json.dumps(text)} -> {json.dumps(error)}")
        print()


def support_errors_section(rows, results, compounds):
    mistakes = [(row, a, comp) for row, a, comp in zip(rows, results, compounds) if a.label != row[1]]
    print(f"### support set mistakes ({len(mistakes)} of {len(rows)}, all listed)\n")
    print(f"handoff's sentiment label differs from ours; line numbers are in {SUPPORT_SET.relative_to(REPO)}.\n")
    if not mistakes:
        print("(none)")
    for (text, gold, number), a, comp in mistakes:
        got = f"error {json.dumps(a.error)}" if a.error is not None else f"handoff {a.label} ({a.score:.3f})"
        vader = f"VADER {vader_label(comp)} ({comp:.3f})"
        print(f"- line {number} [{gold}; {got}; {vader}]: {json.dumps(text, ensure_ascii=False)}")
    print()


# --------------------------------------------------------------------- main


def main(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/analysis-eval",
        description="Compare `handoff analyze` with VADER on the public sentiment and intent datasets "
        "and on handoff's own support messages.",
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    resolve_paths(args)
    check_data(args.data)
    # Re-executes under target/vader-venv, same arguments and cwd.
    ensure_venv_and_reexec()

    binary = ensure_bin(args)
    cmd = handoff_command(binary, args.config)
    paths, sets = load_datasets(args.data)
    # Kept out of `sets`: analysis_speed.py times the public datasets only.
    support = read_support(SUPPORT_SET)
    texts = all_texts(sets) + [text for text, _, _ in support]

    print("# handoff analyze vs VADER\n")
    print(f"Command: `{command_line(argv)}` (cwd {os.getcwd()})  ")
    print(f"handoff: `{shlex.join(cmd)}` ({handoff_version(binary)}), run once over all {len(texts)} texts  ")
    print(f"vaderSentiment {vader_version()} (Python {sys.version.split()[0]}, venv {VENV})  ")
    print(f"Data dir: {args.data}\n")
    print(
        table(
            ["dataset", "rows", "skipped (no label)", "file"],
            [[name, len(sets[name]), SKIPPED.get(str(paths[name]), 0), paths[name]] for name in sets]
            + [["support (ours)", len(support), 0, SUPPORT_SET.relative_to(REPO)]],
        )
        + "\n"
    )
    sys.stdout.flush()

    with scratch_dir() as tmp:
        flat = run_handoff(cmd, texts, tmp)
    results, start = {}, 0
    for name, rows in sets.items():
        results[name] = flat[start : start + len(rows)]
        start += len(rows)
    support_results = flat[start:]

    note("scoring the sentiment sets with VADER")
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    compounds = {
        name: [analyzer.polarity_scores(text)["compound"] for text, _ in rows]
        for name, rows in sets.items()
        if name != "bitext"
    }
    support_compounds = [analyzer.polarity_scores(text)["compound"] for text, _, _ in support]

    total_errors = sum(a.error is not None for a in flat)
    print(f"handoff returned an error object for {total_errors} of {len(flat)} inputs.\n")
    two_class_section(sets, results, compounds)
    three_class_section(sets, results, compounds)
    support_section(support, support_results, support_compounds)
    human_request_section(sets["bitext"], results["bitext"])
    intent_section(sets["bitext"], results["bitext"])
    errors_section(sets["bitext"], results["bitext"])
    support_errors_section(support, support_results, support_compounds)


if __name__ == "__main__":
    main(sys.argv[1:])
