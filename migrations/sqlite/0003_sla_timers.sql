-- handoff schema, step 3 (SQLite): SLA timers as rows. Keep in step with
-- ../postgres/0003_sla_timers.sql.

-- A timer is written in the same transaction as the change that arms it;
-- a change of state or owner marks the case's pending timers done. `key`
-- makes arming idempotent (a re-run change stores its timer once).
CREATE TABLE case_timers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     BLOB NOT NULL REFERENCES cases (id),
    kind        TEXT NOT NULL CHECK (kind IN ('reannounce', 'escalate', 'remind_owner')),
    key         TEXT NOT NULL UNIQUE,
    message_id  BLOB,
    due_at      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    done_at     TEXT,
    outcome     TEXT
);
CREATE INDEX case_timers_due ON case_timers (due_at) WHERE done_at IS NULL;
CREATE INDEX case_timers_by_case ON case_timers (case_id) WHERE done_at IS NULL;
CREATE INDEX cases_by_opened ON cases (opened_at);
