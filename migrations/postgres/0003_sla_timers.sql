-- handoff schema, step 3 (PostgreSQL): SLA timers as rows. Keep in step
-- with ../sqlite/0003_sla_timers.sql.

-- A timer is written in the same transaction as the change that arms it;
-- a change of state or owner marks the case's pending timers done. `key`
-- makes arming idempotent (a re-run change stores its timer once).
CREATE TABLE case_timers (
    id          BIGSERIAL PRIMARY KEY,
    case_id     UUID NOT NULL REFERENCES cases (id),
    kind        TEXT NOT NULL CHECK (kind IN ('reannounce', 'escalate', 'remind_owner')),
    key         TEXT NOT NULL UNIQUE,
    message_id  UUID,
    due_at      TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    done_at     TIMESTAMPTZ,
    outcome     TEXT
);
CREATE INDEX case_timers_due ON case_timers (due_at) WHERE done_at IS NULL;
CREATE INDEX case_timers_by_case ON case_timers (case_id) WHERE done_at IS NULL;
CREATE INDEX cases_by_opened ON cases (opened_at);
