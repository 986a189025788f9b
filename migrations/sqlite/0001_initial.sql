-- handoff schema, step 1 (SQLite). Keep in step with ../postgres/0001_initial.sql:
-- same tables, same columns, same meaning. Ids are UUIDs (stored as 16-byte
-- blobs), times are RFC 3339 text in UTC (they sort as text).

CREATE TABLE customers (
    id            BLOB PRIMARY KEY,
    platform      TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    display_name  TEXT,
    email         TEXT,
    metadata      TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (platform, external_id)
);

CREATE TABLE conversations (
    id              BLOB PRIMARY KEY,
    customer_id     BLOB NOT NULL REFERENCES customers (id),
    platform        TEXT NOT NULL,
    external_ref    TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_message_at TEXT NOT NULL,
    UNIQUE (platform, external_ref)
);

CREATE TABLE cases (
    id                   BLOB PRIMARY KEY,
    conversation_id      BLOB NOT NULL REFERENCES conversations (id),
    state                TEXT NOT NULL CHECK (state IN ('open', 'claimed', 'resolved')),
    owner                TEXT,
    previous_owner       TEXT,
    reason               TEXT NOT NULL,
    reasons              TEXT NOT NULL DEFAULT '[]',
    urgency              TEXT NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'urgent')),
    intent               TEXT,
    sentiment            REAL,
    summary              TEXT NOT NULL DEFAULT '',
    route                TEXT NOT NULL,
    opened_at            TEXT NOT NULL,
    claimed_at           TEXT,
    first_agent_reply_at TEXT,
    resolved_at          TEXT,
    reopen_count         INTEGER NOT NULL DEFAULT 0,
    card_platform        TEXT,
    card_channel         TEXT,
    card_message_id      TEXT,
    last_delivery_error  TEXT,
    version              INTEGER NOT NULL DEFAULT 0,
    CHECK ((state = 'claimed') = (owner IS NOT NULL))
);
CREATE INDEX cases_by_conversation ON cases (conversation_id, opened_at);
CREATE UNIQUE INDEX cases_by_card ON cases (card_platform, card_channel, card_message_id);
CREATE INDEX cases_by_state ON cases (state);

CREATE TABLE messages (
    id                  BLOB PRIMARY KEY,
    conversation_id     BLOB NOT NULL REFERENCES conversations (id),
    case_id             BLOB REFERENCES cases (id),
    author_kind         TEXT NOT NULL CHECK (author_kind IN ('customer', 'bot', 'agent', 'system')),
    author_id           TEXT,
    body                TEXT NOT NULL,
    internal_note       BOOLEAN NOT NULL DEFAULT FALSE,
    platform            TEXT NOT NULL,
    platform_message_id TEXT,
    relayed_platform    TEXT,
    relayed_channel     TEXT,
    relayed_message_id  TEXT,
    created_at          TEXT NOT NULL,
    UNIQUE (platform, platform_message_id)
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at);

-- Append-only: the triggers below refuse to change history.
CREATE TABLE case_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BLOB NOT NULL REFERENCES cases (id),
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_by_case ON case_events (case_id, id);
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    platform        TEXT NOT NULL,
    ordering_key    TEXT NOT NULL,
    case_id         BLOB REFERENCES cases (id),
    idempotency_key TEXT NOT NULL UNIQUE,
    command         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    last_error      TEXT,
    reference       TEXT,
    created_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_order ON outbox (ordering_key, id) WHERE state = 'pending';
CREATE INDEX outbox_by_case ON outbox (case_id);

CREATE TABLE inbound_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    platform     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TEXT,
    error        TEXT,
    UNIQUE (platform, event_id)
);
CREATE INDEX inbound_unprocessed ON inbound_events (seq) WHERE processed_at IS NULL;
