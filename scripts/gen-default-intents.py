#!/usr/bin/env python3
"""Generate src/analysis/default_intents.toml, the intent taxonomy handoff ships.

Usage: scripts/gen-default-intents.py [DATA_DIR] [--out PATH]

DATA_DIR defaults to ../shared/data relative to the repository root (the
directory above scripts/). It must contain
  intents/bitext/Bitext_Sample_Customer_Support_Training_Dataset.csv
  intents/banking77/train.csv

Held-out rule: only data rows whose 0-based index (first row after the header
is 0) satisfies index % 4 == 0 are used, in both datasets. All other rows are
the evaluation set. As an extra guard, an allowed row whose text (case- and
whitespace-folded) also occurs among the held-out rows is skipped, and no
hand-written example may equal a held-out row.

Output is deterministic: Bitext rows are picked evenly spaced from each
sub-intent's allowed rows in index order; Banking77 rows are hand-picked by
index (that set is noisy, see the comments there); hand-written examples are
listed below. Needs Python 3.11+ (tomllib, used to validate the result).
"""

import argparse
import collections
import csv
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------
# Taxonomy: name, description, keywords, Bitext sub-intents and rows per
# sub-intent, Banking77 row indices, hand-written examples.
# ---------------------------------------------------------------------------

INTENTS = [
    {
        "name": "billing",
        "description": "Invoices, charges, payment methods, failed payments",
        "keywords": [
            "invoice", "invoices", "receipt", "bill", "billing", "billed",
            "charged twice", "double charged", "overcharged", "payment method",
            "payment failed", "payment error", "card declined", "billing date",
            "fee", "vat",
        ],
        "bitext": ["check_invoice", "get_invoice", "check_payment_methods", "payment_issue"],
        "bitext_per_sub": 7,
        "banking77": {
            "card_payment_fee_charged": [2516, 2536, 2596, 2688, 2696],
            "extra_charge_on_statement": [588, 660, 732],
            "transfer_fee_charged": [7200, 7300],
        },
        "hand": [
            "why was i charged twice this month??",
            "I got billed after I cancelled, what is this charge",
            "can you send me a copy of my invoice for march",
            "need a receipt for my expense report",
            "my card got declined paying for the subscription, how do I update it",
            "how do i change the credit card on file",
            "the amount on my bill is wrong, it should be $49 not $79",
            "you charged me for the pro plan but I'm on basic",
            "do you take paypal?",
            "payment failed again, tried 3 different cards",
            "where can i download past invoices",
            "Can you add our VAT number to the invoice please",
            "why did my price go up without any notice",
            "hi, the invoice has the wrong company name on it",
            "when is my next billing date",
            "double charged AGAIN. fix it",
            "there's a charge from you guys on my statement and i dont understand what its for",
        ],
    },
    {
        "name": "refund",
        "description": "Refund requests, refund status, refund and return policy",
        "keywords": [
            "refund", "refunds", "refunded", "money back", "reimbursement",
            "reimburse", "refund policy", "return policy", "chargeback",
            "partial refund", "refund status", "full refund",
        ],
        "bitext": ["check_refund_policy", "get_refund", "track_refund"],
        "bitext_per_sub": 9,
        "banking77": {
            # Rows about cancelling a purchase (5408, 5412, 5420, ...) are left
            # out: they read as cancellation, not refund.
            "request_refund": [5376, 5404, 5436, 5444, 5488],
            "Refund_not_showing_up": [5684, 5716, 5720, 5764, 5820],
        },
        "hand": [
            "I want my money back",
            "can I get a refund? the product never worked",
            "still havent received my refund, its been 2 weeks",
            "how long do refunds take to show up on my card",
            "you said you'd refund me 5 days ago. where is it",
            "i returned the item last week, when do I get refunded",
            "what's your refund policy for annual plans",
            "refund pls, ordered the wrong size",
            "I was promised a full refund and only got half",
            "please refund my last payment, the renewal went through by mistake",
            "is it possible to get a partial refund for the unused months",
            "the refund shows as processed but there's nothing in my bank account",
            "item arrived broken, I want a refund not a replacement",
            "do I need to send it back to get the refund?",
            "Requesting a refund for order 48213, it arrived damaged",
            "money back guarantee?? I'd like to use it",
        ],
    },
    {
        "name": "cancellation",
        "description": "Cancelling orders, subscriptions or accounts, cancellation fees",
        "keywords": [
            "cancel", "cancellation", "cancel subscription", "cancel my order",
            "close my account", "delete my account", "terminate", "termination",
            "auto renewal", "auto-renew", "end my subscription",
            "early termination", "cancellation fee", "stop my subscription",
        ],
        "bitext": ["cancel_order", "delete_account", "check_cancellation_fee"],
        "bitext_per_sub": 12,
        "hand": [
            "how do I cancel my subscription",
            "please cancel my account, I don't want it anymore",
            "stop the auto renewal",
            "I want to cancel my order before it ships",
            "cancel my plan effective immediately",
            "how do I turn off the monthly plan",
            "I'd like to close my account and delete all my data",
            "is there a fee if I cancel before the contract ends?",
            "cancel cancel cancel. how hard can it be",
            "i tried cancelling in settings but theres no button",
            "can you terminate my membership please",
            "don't renew my subscription next month",
            "I ordered by mistake, cancel it pls",
            "How do I end my free trial so I don't get charged?",
            "just delete my account",
            "wanna cancel, how much notice do i need to give",
        ],
    },
    {
        "name": "shipping",
        "description": "Delivery options and times, order tracking, changing orders and shipping addresses",
        "keywords": [
            "shipping", "delivery", "deliver", "package", "parcel", "tracking",
            "tracking number", "shipment", "courier", "ship", "order status",
            "delivery address", "shipping address", "arrive", "eta",
            "express shipping",
        ],
        "bitext": [
            "delivery_options", "delivery_period", "track_order", "change_order",
            "place_order", "change_shipping_address", "set_up_shipping_address",
        ],
        "bitext_per_sub": 5,
        "hand": [
            "where is my package",
            "my order still hasnt arrived, its been 10 days",
            "tracking number isn't working",
            "do u guys ship to canada",
            "how much is express shipping",
            "can I change the delivery address on my order",
            "package says delivered but its not here",
            "when will my order ship?",
            "the courier left my parcel at the wrong house",
            "is there free shipping over $50?",
            "tracking hasn't updated since monday",
            "can i pick up the order in store instead",
            "i need this by friday, can you expedite it",
            "Order #10234 has said 'label created' for a week now",
            "only got 2 of 3 boxes, where's the rest of my shipment",
        ],
    },
    {
        "name": "account_access",
        "description": "Login problems, password resets, lockouts, two-factor codes, sign-up problems",
        "keywords": [
            "password", "log in", "login", "can't log in", "sign in",
            "locked out", "reset password", "forgot password", "2fa",
            "two-factor", "authenticator", "reset link", "sign up",
            "registration", "username",
        ],
        "bitext": ["recover_password", "registration_problems"],
        "bitext_per_sub": 18,
        "hand": [
            "cant log in to my account at all",
            "forgot my password and the reset email never comes",
            "locked out of my account after too many attempts",
            "2FA code isn't arriving on my phone",
            "it keeps saying invalid password but I know its right",
            "got a new phone and lost the authenticator app, how do I get back in",
            "cant sign in with google anymore",
            "my account got locked, please unlock it",
            "how do I reset my pw",
            "the verification link in the email expired",
            "changed my email and now i cant login",
            "password reset link says invalid token",
            "It won't let me log in, says account doesn't exist??",
            "stuck in a login loop, it keeps sending me back to the sign in page",
            "i never got the confirmation email to activate my account",
            "what's my username? i forgot it",
        ],
    },
    {
        "name": "fraud_security",
        "description": "Unrecognised transactions, hacked or compromised accounts, lost or stolen cards and devices, phishing",
        "keywords": [
            "fraud", "fraudulent", "hacked", "compromised", "unauthorized",
            "unauthorised", "stolen", "didn't make", "wasn't me", "not me",
            "phishing", "scam", "suspicious", "someone logged in",
            "identity theft", "breach", "don't recognize", "don't recognise",
        ],
        "bitext": [],
        "banking77": {
            "compromised_card": [4464, 4472, 4484, 4488, 4504, 4512, 4528, 4540],
            "card_payment_not_recognised": [3492, 3536, 3540, 3548, 3556, 3612, 3628],
            "cash_withdrawal_not_recognised": [8788, 8832, 8872, 8884, 8904, 8912, 8928],
            "direct_debit_payment_not_recognised": [4636, 4700, 4704, 4748, 4764, 4772],
            "lost_or_stolen_card": [1484, 1500, 1528, 1540, 1548, 1520],
            # Rows about a phone left at a hotel (5260, 5272, 5300, ...) are
            # about app access, not security; left out.
            "lost_or_stolen_phone": [5252, 5264, 5280, 5308, 5320, 5352],
        },
        "hand": [
            "someone logged into my account",
            "I didn't make this purchase",
            "my account was hacked",
            "I got a password reset email I didn't request",
            "there's a login from another country that wasn't me",
            "somebody changed the email address on my account",
            "I think my card details were stolen",
            "got a phishing email pretending to be you, is it legit?",
            "there are orders on my account i never placed",
            "someone is using my account without my permission",
            "please lock my account, I think it's compromised",
            "unauthorized charges on my card from your site!!",
            "I got a text with a verification code I never asked for",
            "someone called pretending to be your support and asked for my password",
            "my password was changed and it wasnt me",
            "is my data safe? i heard you had a breach",
        ],
    },
    {
        "name": "technical_issue",
        "description": "Bugs, errors, crashes, outages, slowness, sync and integration failures",
        "keywords": [
            "error", "bug", "crash", "crashes", "crashing", "not loading",
            "won't load", "broken", "error 500", "404", "timeout", "sync",
            "integration", "outage", "freezes", "glitch", "slow", "upload",
            "api", "not working",
        ],
        "bitext": [],
        "banking77": {
            # Only rows that read as technical faults; most card_not_working and
            # top_up_failed rows are about declined payments instead.
            "contactless_not_working": [1784, 1788, 1800, 1808],
            "top_up_failed": [8532, 8596],
        },
        "hand": [
            "the app keeps crashing when I open it",
            "getting error 500 when I try to save",
            "page won't load, just a blank white screen",
            "can't upload files, it gets stuck at 99%",
            "sync is broken between my phone and laptop",
            "I think I found a bug: the export button does nothing",
            "everything is super slow today",
            "the slack integration stopped working",
            "webhook isn't firing anymore",
            "API returns 401 even with a valid key",
            "the site is down",
            "app freezes on the loading screen",
            "it says \"something went wrong, please try again later\". what does that mean",
            "notifications stopped coming through",
            "the dashboard shows no data since yesterday",
            "images aren't loading on the product page",
            "csv import fails with 'invalid format' but the file is fine",
            "android app crashes after the latest update",
            "search returns nothing even for stuff I know exists",
            "I keep getting a 404 on the settings page",
            "the checkout button is greyed out and I can't click it",
            "calendar integration duplicated all my events",
            "the app won't open on my iphone since the ios update",
            "connection timed out every time I try to sync",
            "video calls keep dropping after a couple minutes",
            "pdf export comes out blank",
            "the page just keeps spinning forever",
            "the zapier integration throws an error on every run",
            "my changes aren't saving, they disappear when I refresh",
            "getting 'too many requests' errors but I barely use it",
            "the mobile app logs me out every 5 minutes",
            "dark mode makes the text unreadable, looks like a bug",
            "attachments fail to download",
            "the form wont submit, nothing happens when i click send",
            "report generation has been stuck on processing for hours",
            "emails from your system are going out blank",
            "site looks broken on firefox, the buttons overlap",
            "data from yesterday is missing from the app",
            "the desktop app uses 100% cpu and my laptop fan goes crazy",
            "ssl certificate error when I open your site",
            "the barcode scanner in the app doesnt work anymore",
            "is there an outage? nothing is working",
        ],
    },
    {
        "name": "complaint",
        "description": "Dissatisfaction with the product, service or staff; formal complaints",
        "keywords": [
            "complaint", "complain", "unacceptable", "worst", "ridiculous",
            "disappointed", "terrible", "awful", "useless", "fed up",
            "pathetic", "disgusting", "furious", "rude", "formal complaint",
            "never again",
        ],
        "bitext": ["complaint"],
        "bitext_per_sub": 36,
        "hand": [
            "this is unacceptable, I've been waiting three weeks",
            "worst service ever",
            "I'm really disappointed with how this was handled",
            "nobody has answered my emails for a week, ridiculous",
            "I want to make a formal complaint",
            "your support is useless",
            "third time I'm contacting you about the same problem. absolutely fed up",
            "the product is garbage and your staff were rude to me",
            "I've been a customer for 5 years and this is how you treat me?",
            "you keep closing my ticket without fixing anything",
            "this company is a joke",
            "I'm so frustrated, nothing you promised actually happened",
            "how do I escalate a complaint",
            "your delivery driver was extremely rude",
            "i will be reporting this to consumer protection",
            "never ordering from you again",
            "been on hold 45 mins. pathetic",
        ],
    },
    {
        "name": "feedback",
        "description": "Reviews, suggestions, feature requests, praise",
        "keywords": [
            "feedback", "review", "suggestion", "suggest", "feature request",
            "rating", "stars", "survey", "leave a review", "idea",
            "would be nice", "great job", "love the",
        ],
        "bitext": ["review"],
        "bitext_per_sub": 36,
        "hand": [
            "just wanted to say the new update is great",
            "love the app, but it would be nice to have a dark mode",
            "feature request: let us export to excel",
            "where can I leave a review",
            "your support agent Sam was super helpful, thanks!",
            "suggestion: add a way to schedule reports",
            "the new design is confusing, the old one was better imo",
            "thanks for the quick fix!",
            "I'd like to give some feedback on the checkout process",
            "would be cool if the app had a home screen widget",
            "can I suggest a feature?",
            "5 stars, great experience",
            "is there a survey or somewhere I can share my thoughts",
            "really happy with the product so far, keep it up",
            "small idea: remember my last used filter",
        ],
    },
    {
        "name": "human_agent",
        "description": "Asking to talk to a human, live agent or representative",
        "keywords": [
            "human", "real person", "live agent", "agent", "representative",
            "operator", "speak to someone", "talk to someone", "not a bot",
            "manager", "actual person", "live person",
        ],
        "bitext": ["contact_human_agent"],
        "bitext_per_sub": 36,
        "hand": [
            "agent please",
            "human!!",
            "representative",
            "can I talk to a real person",
            "let me speak to someone",
            "get me a human",
            "I don't want to talk to a bot",
            "transfer me to a live agent",
            "operator",
            "is there an actual human I can chat with?",
            "stop with the automated answers and connect me to your staff",
            "speak to manager",
            "real person please, this bot isn't helping",
            "can someone from your team call me",
            "talk to agent",
            "escalate to a human",
        ],
    },
    {
        "name": "general",
        "description": "Greetings, how-to questions, opening hours, contact details, newsletter, account settings",
        "keywords": [
            "hello", "good morning", "opening hours", "business hours",
            "newsletter", "how does", "account settings", "profile",
            "notification settings", "user guide", "documentation",
            "free trial", "switch account", "phone number",
        ],
        "bitext": [
            "newsletter_subscription", "create_account", "edit_account",
            "switch_account", "contact_customer_service",
        ],
        "bitext_per_sub": 7,
        "hand": [
            "hello, anyone there?",
            "good morning",
            "what are your opening hours?",
            "how does the free trial work?",
            "do you have an office in london",
            "how do i change my notification settings",
            "where can I update my profile picture",
            "is there a mobile app?",
            "what's the difference between the basic and pro plans",
            "how do I invite a teammate",
            "thanks, that's all",
            "do you have a user guide or docs somewhere",
            "can I change the language to spanish",
            "quick question about how exports work",
            "how do I sign up for your newsletter",
            "hey",
        ],
    },
]

# contact_customer_service rows asking to talk/speak/chat with support read as
# human_agent; only the contact-details / opening-hours ones go to general.
BITEXT_EXCLUDE = {
    "contact_customer_service": re.compile(r"\b(talk|speak|chat)", re.I),
}

# A few generated Bitext rows have words glued to amounts ("refunding$3",
# "compensation of350 dollars"); skip them.
GLUED = re.compile(r"[A-Za-z][$\d]")

MAX_LEN = 200


def clean(text):
    return re.sub(r"\s+", " ", text).strip()


def fold(text):
    return clean(text).lower().rstrip(" ?!.")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def even_pick(items, n):
    """n items spread evenly over items (all of them if there are fewer)."""
    if len(items) <= n:
        return list(items)
    return [items[(j * len(items)) // n] for j in range(n)]


def toml_str(s):
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


HEADER = """\
# Default intent taxonomy shipped with handoff. Generated by
# scripts/gen-default-intents.py; edit the script, not this file.
#
# Each [[intent]] has a name, a description, keywords that strongly indicate
# it, and example customer messages. Examples come from three sources:
#   * Bitext Customer Support LLM Chatbot Training Dataset (older sample),
#     https://github.com/bitext/customer-support-llm-chatbot-training-dataset
#     by Bitext, licensed under the Community Data License Agreement -
#     Sharing - Version 1.0 (CDLA-Sharing-1.0, https://cdla.dev/sharing-1-0/).
#   * Banking77, https://github.com/PolyAI-LDN/task-specific-datasets
#     (Casanueva et al. 2020, PolyAI), licensed under Creative Commons
#     Attribution 4.0 (CC-BY-4.0, https://creativecommons.org/licenses/by/4.0/).
#   * Messages written for handoff.
# This file is changed data (Enhanced Data in CDLA terms): rows were selected,
# whitespace was collapsed, and rows were regrouped under handoff's intents
# and mixed with the other sources. The file as a whole is published under
# CDLA-Sharing-1.0; the Banking77 rows remain under CC-BY-4.0. See NOTICE.
#
# Held-out rule: only dataset rows whose 0-based data-row index satisfies
# index % 4 == 0 are used here (and none whose text also appears among the
# other rows); all other rows of both datasets are kept for evaluation.
#
# Counts (bitext / banking77 / hand-written):
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=None,
                    help="dataset directory (default: ../shared/data from the repo root)")
    ap.add_argument("--out", default=str(REPO / "src/analysis/default_intents.toml"))
    args = ap.parse_args()
    data = Path(args.data_dir) if args.data_dir else (REPO / "../shared/data")

    bitext = read_csv(data / "intents/bitext/Bitext_Sample_Customer_Support_Training_Dataset.csv")
    banking = read_csv(data / "intents/banking77/train.csv")

    held = set()
    for rows, col in ((bitext, "instruction"), (banking, "text")):
        held |= {fold(r[col]) for i, r in enumerate(rows) if i % 4 != 0}

    bitext_by = collections.defaultdict(list)
    for i, r in enumerate(bitext):
        if i % 4 == 0:
            bitext_by[r["intent"]].append((i, clean(r["instruction"])))

    seen = {}
    problems = []
    out_intents = []
    stats = []

    def add(examples, text, intent, source):
        key = fold(text)
        if key in seen:
            return False
        if len(text) >= MAX_LEN or "{{" in text:
            return False
        seen[key] = intent
        examples.append(text)
        return True

    for spec in INTENTS:
        name = spec["name"]
        examples = []
        n_bitext = n_b77 = n_hand = 0

        for sub in spec["bitext"]:
            excl = BITEXT_EXCLUDE.get(sub)
            cands = [
                (i, t) for i, t in bitext_by[sub]
                if fold(t) not in held and not (excl and excl.search(t))
                and not GLUED.search(t)
                and len(t) < MAX_LEN and "{{" not in t
            ]
            # drop in-set duplicates before spacing the picks
            uniq, keys = [], set()
            for i, t in cands:
                if fold(t) not in keys and fold(t) not in seen:
                    keys.add(fold(t))
                    uniq.append((i, t))
            for i, t in even_pick(uniq, spec["bitext_per_sub"]):
                n_bitext += add(examples, t, name, f"bitext#{i}")

        for cat, idxs in spec.get("banking77", {}).items():
            for i in idxs:
                r = banking[i]
                if i % 4 != 0:
                    problems.append(f"banking77 row {i} is held out")
                    continue
                if r["category"] != cat:
                    problems.append(f"banking77 row {i} is {r['category']}, not {cat}")
                    continue
                t = clean(r["text"])
                if fold(t) in held:
                    problems.append(f"banking77 row {i} duplicates a held-out row")
                    continue
                if not add(examples, t, name, f"banking77#{i}"):
                    problems.append(f"banking77 row {i} duplicate or too long")
                    continue
                n_b77 += 1

        for t in spec["hand"]:
            t = clean(t)
            if t != t.strip() or len(t) >= MAX_LEN:
                problems.append(f"hand-written too long: {t!r}")
            elif fold(t) in held:
                problems.append(f"hand-written equals a held-out row: {t!r}")
            elif not add(examples, t, name, "hand"):
                problems.append(f"hand-written duplicate: {t!r} (also in {seen[fold(t)]})")
            else:
                n_hand += 1

        kws = spec["keywords"]
        if not 5 <= len(kws) <= 20 or any(k != k.lower() for k in kws) or len(set(kws)) != len(kws):
            problems.append(f"{name}: keywords must be 5-20 distinct lowercase entries")
        out_intents.append((spec, examples))
        stats.append((name, n_bitext, n_b77, n_hand, len(examples)))

    if problems:
        for p in problems:
            print("error:", p, file=sys.stderr)
        sys.exit(1)

    lines = [HEADER]
    for name, a, b, c, tot in stats:
        lines.append(f"#   {name:<16} {a:>3} / {b:>3} / {c:>3}  = {tot}\n")
    tb = sum(s[1] for s in stats)
    tk = sum(s[2] for s in stats)
    th = sum(s[3] for s in stats)
    lines.append(f"#   {'total':<16} {tb:>3} / {tk:>3} / {th:>3}  = {tb + tk + th}\n")
    for spec, examples in out_intents:
        lines.append("\n[[intent]]\n")
        lines.append(f"name = {toml_str(spec['name'])}\n")
        lines.append(f"description = {toml_str(spec['description'])}\n")
        lines.append("keywords = [" + ", ".join(toml_str(k) for k in spec["keywords"]) + "]\n")
        lines.append("examples = [\n")
        for e in examples:
            lines.append(f"  {toml_str(e)},\n")
        lines.append("]\n")
    text = "".join(lines)

    # validate before writing
    doc = tomllib.loads(text)
    assert [i["name"] for i in doc["intent"]] == [s["name"] for s in INTENTS]
    for i, (spec, examples) in zip(doc["intent"], out_intents):
        assert set(i) == {"name", "description", "keywords", "examples"}
        assert i["examples"] == examples

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")

    print(f"wrote {out}")
    print(f"{'intent':<16} {'bitext':>6} {'b77':>4} {'hand':>4} {'total':>5}")
    for name, a, b, c, tot in stats:
        print(f"{name:<16} {a:>6} {b:>4} {c:>4} {tot:>5}")
    print(f"{'total':<16} {tb:>6} {tk:>4} {th:>4} {tb + tk + th:>5}")


if __name__ == "__main__":
    main()
