-- Mailboxes (sqlite flavour): a customer's addresses on its domain, and the
-- services (subscriptions) each one occupies a seat of.
-- Keep in step with the other backend's folder.

CREATE TABLE mailboxes (
    id                   INTEGER PRIMARY KEY,
    -- Stable and public: mbx_ and a ULID (the contract's UserDefinition.ID).
    public_id            TEXT NOT NULL UNIQUE,
    customer_id          INTEGER NOT NULL REFERENCES customers (id),
    application_id       INTEGER NOT NULL REFERENCES applications (id),
    -- The address as the BSS sent it, and its comparable form: lower case,
    -- the domain in its ASCII (punycode) form.
    address              TEXT NOT NULL,
    normalized_address   TEXT NOT NULL,
    display_name         TEXT,
    first_name           TEXT,
    last_name            TEXT,
    role                 TEXT,
    secondary_email      TEXT,
    status               TEXT NOT NULL
                         CHECK (status IN ('provisioned', 'disabled', 'deprovisioned', 'in_progress')),
    -- argon2 (PHC string); NULL until the owner sets a password.
    password_hash        TEXT,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);
-- An address belongs to one mailbox across the operator: the last word on
-- concurrent adds.
CREATE UNIQUE INDEX mailboxes_normalized_address ON mailboxes (normalized_address);
-- A customer's mailboxes, listed by address.
CREATE INDEX mailboxes_customer ON mailboxes (customer_id, normalized_address);

-- A mailbox holding a seat of one of its customer's subscriptions.
CREATE TABLE mailbox_services (
    mailbox_id       INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    subscription_id  INTEGER NOT NULL REFERENCES subscriptions (id),
    created_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (mailbox_id, subscription_id)
);
-- Seat counts per subscription.
CREATE INDEX mailbox_services_subscription ON mailbox_services (subscription_id);
