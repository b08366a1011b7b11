-- Subscriptions (sqlite flavour): what a customer bought of a plan, and the
-- history of every change of its plan, quantity or status.
-- Keep in step with the other backend's folder.

CREATE TABLE subscriptions (
    id                     INTEGER PRIMARY KEY,
    -- Stable and public: sub_ and a ULID (the contract's Result).
    public_id              TEXT NOT NULL UNIQUE,
    customer_id            INTEGER NOT NULL REFERENCES customers (id),
    application_id         INTEGER NOT NULL REFERENCES applications (id),
    -- The BSS's SubscriptionID.
    bss_subscription_id    TEXT NOT NULL,
    plan_id                INTEGER NOT NULL REFERENCES plans (id),
    product_type_id        TEXT NOT NULL REFERENCES product_types (id),
    quantity               INTEGER NOT NULL CHECK (quantity >= 0),
    status                 TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    -- Suspended because its customer was (a restore re-activates it).
    suspended_with_customer BOOLEAN NOT NULL DEFAULT 0,
    source                 TEXT NOT NULL CHECK (source IN ('bss', 'console', 'distributor', 'member_platform')),
    -- JSON object: attribute id -> value, as ordered.
    attribute_values       TEXT NOT NULL DEFAULT '{}',
    -- JSON object: what the BSS is asked to send back (ExtraInfo).
    extra_info             TEXT NOT NULL DEFAULT '{}',
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL,
    cancelled_at           TIMESTAMP
);
-- One subscription per BSS subscription: the last word on retries and races.
CREATE UNIQUE INDEX subscriptions_application_bss ON subscriptions (application_id, bss_subscription_id);
CREATE INDEX subscriptions_customer_id ON subscriptions (customer_id);
CREATE INDEX subscriptions_plan_id ON subscriptions (plan_id);

-- Every change, with the state after it (new_*) and before it (old_*, NULL
-- on creation): the state of a subscription at a date is its last row then.
CREATE TABLE subscription_changes (
    id                     INTEGER PRIMARY KEY,
    subscription_id        INTEGER NOT NULL REFERENCES subscriptions (id),
    customer_id            INTEGER NOT NULL REFERENCES customers (id),
    effective_at           TIMESTAMP NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('created', 'quantity', 'plan', 'status')),
    old_quantity           INTEGER,
    new_quantity           INTEGER NOT NULL,
    old_plan_id            INTEGER REFERENCES plans (id),
    new_plan_id            INTEGER NOT NULL REFERENCES plans (id),
    old_status             TEXT,
    new_status             TEXT NOT NULL CHECK (new_status IN ('active', 'suspended', 'cancelled')),
    source                 TEXT NOT NULL CHECK (source IN ('bss', 'console', 'distributor', 'member_platform')),
    track_id               TEXT
);
CREATE INDEX subscription_changes_subscription ON subscription_changes (subscription_id, effective_at);
CREATE INDEX subscription_changes_customer ON subscription_changes (customer_id, effective_at);
CREATE INDEX subscription_changes_plan ON subscription_changes (new_plan_id, effective_at);
