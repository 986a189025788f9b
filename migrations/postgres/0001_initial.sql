-- handoff schema, step 1 (PostgreSQL). Keep in step with ../sqlite/0001_initial.sql:
-- same tables, same columns, same meaning.

CREATE TABLE customers (
    id            UUID PRIMARY KEY,
    platform      TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    display_name  TEXT,
    email         TEXT,
    metadata      JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (platform, external_id)
);

CREATE TABLE conversations (
    id              UUID PRIMARY KEY,
    customer_id     UUID NOT NULL REFERENCES customers (id),
    platform        TEXT NOT NULL,
    external_ref    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_message_at TIMESTAMPTZ NOT NULL,
    UNIQUE (platform, external_ref)
);

CREATE TABLE cases (
    id                   UUID PRIMARY KEY,
    conversation_id      UUID NOT NULL REFERENCES conversations (id),
    state                TEXT NOT NULL CHECK (state IN ('open', 'claimed', 'resolved')),
    owner                TEXT,
    previous_owner       TEXT,
    reason               TEXT NOT NULL,
    reasons              JSONB NOT NULL DEFAULT '[]',
    urgency              TEXT NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'urgent')),
    intent               TEXT,
    sentiment            DOUBLE PRECISION,
    summary              TEXT NOT NULL DEFAULT '',
    route                TEXT NOT NULL,
    opened_at            TIMESTAMPTZ NOT NULL,
    claimed_at           TIMESTAMPTZ,
    first_agent_reply_at TIMESTAMPTZ,
    resolved_at          TIMESTAMPTZ,
    reopen_count         BIGINT NOT NULL DEFAULT 0,
    card_platform        TEXT,
    card_channel         TEXT,
    card_message_id      TEXT,
    last_delivery_error  TEXT,
    version              BIGINT NOT NULL DEFAULT 0,
    CHECK ((state = 'claimed') = (owner IS NOT NULL))
);
CREATE INDEX cases_by_conversation ON cases (conversation_id, opened_at);
CREATE UNIQUE INDEX cases_by_card ON cases (card_platform, card_channel, card_message_id);
CREATE INDEX cases_by_state ON cases (state);

CREATE TABLE messages (
    id                  UUID PRIMARY KEY,
    conversation_id     UUID NOT NULL REFERENCES conversations (id),
    case_id             UUID REFERENCES cases (id),
    author_kind         TEXT NOT NULL CHECK (author_kind IN ('customer', 'bot', 'agent', 'system')),
    author_id           TEXT,
    body                TEXT NOT NULL,
    internal_note       BOOLEAN NOT NULL DEFAULT FALSE,
    platform            TEXT NOT NULL,
    platform_message_id TEXT,
    relayed_platform    TEXT,
    relayed_channel     TEXT,
    relayed_message_id  TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (platform, platform_message_id)
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at);

-- Append-only: the trigger below refuses to change history.
CREATE TABLE case_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id UUID NOT NULL REFERENCES cases (id),
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_by_case ON case_events (case_id, id);
CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only';
END;
$$;
CREATE TRIGGER case_events_no_change BEFORE UPDATE OR DELETE ON case_events
FOR EACH ROW EXECUTE FUNCTION case_events_append_only();

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform        TEXT NOT NULL,
    ordering_key    TEXT NOT NULL,
    case_id         UUID REFERENCES cases (id),
    idempotency_key TEXT NOT NULL UNIQUE,
    command         JSONB NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_by       TEXT,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    reference       JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_order ON outbox (ordering_key, id) WHERE state = 'pending';
CREATE INDEX outbox_by_case ON outbox (case_id);

CREATE TABLE inbound_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    payload      JSONB NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ,
    error        TEXT,
    UNIQUE (platform, event_id)
);
CREATE INDEX inbound_unprocessed ON inbound_events (seq) WHERE processed_at IS NULL;
