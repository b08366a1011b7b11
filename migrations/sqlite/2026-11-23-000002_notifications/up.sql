-- Operators, email templates with revisions, the outbox and activation
-- tokens (sqlite flavour). Keep in step with the other backend's folder.

-- Customers activate their account by choosing a password.
ALTER TABLE customers ADD COLUMN activated_at TIMESTAMP;

CREATE TABLE operators (
    id             INTEGER PRIMARY KEY,
    -- Lower-cased: one account per address whatever its spelling.
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('super_admin', 'admin', 'mail_admin')),
    created_at     TIMESTAMP NOT NULL,
    disabled_at    TIMESTAMP
);

-- Bearer tokens of signed-in operators, stored as SHA-256.
CREATE TABLE operator_sessions (
    token_hash   TEXT PRIMARY KEY,
    operator_id  INTEGER NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX operator_sessions_operator_id ON operator_sessions (operator_id);

CREATE TABLE email_templates (
    name              TEXT PRIMARY KEY,
    current_revision  INTEGER NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- Every saved text of a template; an edit adds a row, nothing is overwritten.
CREATE TABLE email_template_revisions (
    template_name  TEXT NOT NULL REFERENCES email_templates (name),
    revision       INTEGER NOT NULL,
    subject        TEXT NOT NULL,
    text_body      TEXT NOT NULL,
    html_body      TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    -- Operator email, or NULL for the default seeded from templates/.
    created_by     TEXT,
    restored_from  INTEGER,
    PRIMARY KEY (template_name, revision)
);

-- Mail to deliver. Rendered when sent, so no secret (activation link) is
-- stored; the dedupe key makes queueing idempotent.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    dedupe_key       TEXT NOT NULL UNIQUE,
    template_name    TEXT NOT NULL REFERENCES email_templates (name),
    customer_id      INTEGER REFERENCES customers (id),
    -- Fixed for test mail; resolved from the customer when sent otherwise.
    recipient        TEXT,
    subject          TEXT,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP NOT NULL,
    -- A worker owns a claimed row until its lease ends.
    lease_owner      TEXT,
    lease_expires_at TIMESTAMP,
    last_error       TEXT,
    message_id       TEXT,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    sent_at          TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_customer_id ON outbox (customer_id);

CREATE TABLE activation_tokens (
    token_hash   TEXT PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    outbox_id    INTEGER REFERENCES outbox (id),
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    used_at      TIMESTAMP
);
CREATE INDEX activation_tokens_customer_id ON activation_tokens (customer_id);
