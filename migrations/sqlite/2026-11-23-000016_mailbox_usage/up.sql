-- Mailbox usage history (sqlite flavour): the mailboxes in use of each
-- subscription over time, beside its quantity history, for a PSA sync that
-- bills mailboxes in use rather than seats bought.
-- Keep in step with the other backend's folder.

-- A row each time the number of provisioned mailboxes holding a seat of a
-- live subscription changes (a seat taken or given back, a mailbox's status,
-- the subscription's plan or status).
CREATE TABLE mailbox_usage_changes (
    id               INTEGER PRIMARY KEY,
    subscription_id  INTEGER NOT NULL REFERENCES subscriptions (id),
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    -- The subscription's plan when the row was written.
    plan_id          INTEGER NOT NULL REFERENCES plans (id),
    effective_at     TIMESTAMP NOT NULL,
    in_use           INTEGER NOT NULL CHECK (in_use >= 0)
);
-- The last row of a subscription, and a customer's rows up to a date.
CREATE INDEX mailbox_usage_changes_subscription ON mailbox_usage_changes (subscription_id, id);
CREATE INDEX mailbox_usage_changes_customer ON mailbox_usage_changes (customer_id, effective_at);
