-- The catalog (sqlite flavour): the product types Mailroom declares in
-- Fields/ServiceDefinition, their attributes, and the plans sold of them.
-- Keep in step with the other backend's folder.

CREATE TABLE product_types (
    -- The contract's ServiceType, e.g. hosted_mailbox.
    id                            TEXT PRIMARY KEY,
    name                          TEXT NOT NULL,
    description                   TEXT,
    portal_url                    TEXT,
    allow_multiple_subscriptions  BOOLEAN NOT NULL,
    -- NULL: no limit.
    quantity_limit                INTEGER,
    scope                         TEXT NOT NULL CHECK (scope IN ('Customer', 'Reseller', 'Both')),
    created_at                    TIMESTAMP NOT NULL,
    updated_at                    TIMESTAMP NOT NULL
);

-- The characteristics of a product type, spelled as the contract's enums.
CREATE TABLE product_type_attributes (
    product_type_id     TEXT NOT NULL REFERENCES product_types (id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    sort_order          INTEGER NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT,
    usage               TEXT NOT NULL CHECK (usage IN
                            ('ProductCharacteristic', 'OrderCharacteristic', 'HiddenCharacteristic')),
    kind                TEXT NOT NULL CHECK (kind IN
                            ('Text', 'Numeric', 'DateTime', 'Boolean', 'PredefinedChooseOne',
                             'PredefinedChooseMany', 'CustomMultipleValues', 'Slider')),
    is_required         BOOLEAN NOT NULL,
    linked_to_quantity  BOOLEAN NOT NULL,
    allow_unlimited     BOOLEAN NOT NULL,
    -- JSON: [{"ID","Code","Name","IsDefault"}].
    predefined_values   TEXT NOT NULL DEFAULT '[]',
    slider_min          BIGINT,
    slider_max          BIGINT,
    slider_step         BIGINT,
    PRIMARY KEY (product_type_id, id)
);

-- What is sold: a BSS product (application + product_id) or an operator's plan.
CREATE TABLE plans (
    id                     INTEGER PRIMARY KEY,
    -- Stable and public: plan_ and a ULID.
    public_id              TEXT NOT NULL UNIQUE,
    product_type_id        TEXT NOT NULL REFERENCES product_types (id),
    -- The BSS the plan came from, and its ProductID there.
    application_id         INTEGER REFERENCES applications (id),
    product_id             TEXT,
    name                   TEXT NOT NULL,
    code                   TEXT,
    -- JSON object: attribute id -> value.
    attribute_values       TEXT NOT NULL DEFAULT '{}',
    -- Minor units of currency (ISO 4217); both NULL until an operator prices it.
    unit_price_minor       BIGINT CHECK (unit_price_minor >= 0),
    currency               TEXT CHECK (length(currency) = 3),
    billing_period_count   INTEGER CHECK (billing_period_count > 0),
    billing_period_unit    TEXT CHECK (billing_period_unit IN ('days', 'months', 'years')),
    visible                BOOLEAN NOT NULL,
    deprecated             BOOLEAN NOT NULL,
    source                 TEXT NOT NULL CHECK (source IN ('bss', 'console', 'distributor', 'member_platform')),
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL,
    CHECK ((unit_price_minor IS NULL) = (currency IS NULL)),
    CHECK ((billing_period_count IS NULL) = (billing_period_unit IS NULL)),
    CHECK ((application_id IS NULL) = (product_id IS NULL))
);
-- One plan per BSS product: the last word when two calls record it at once.
CREATE UNIQUE INDEX plans_application_product ON plans (application_id, product_id);
CREATE INDEX plans_product_type_id ON plans (product_type_id);

-- Seeds: the hosted mailbox and the archiving add-on. Operators edit them
-- afterwards; a later migration never overwrites their edits.
INSERT INTO product_types (id, name, description, portal_url, allow_multiple_subscriptions,
                           quantity_limit, scope, created_at, updated_at)
VALUES
    ('hosted_mailbox', 'Hosted mailbox',
     'Mailboxes on the operator''s mail platform, sold per seat.', NULL,
     1, NULL, 'Customer', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('archiving', 'Mail archiving',
     'An add-on that keeps every mail of a mailbox for the retention period.', NULL,
     0, NULL, 'Customer', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

INSERT INTO product_type_attributes (product_type_id, id, sort_order, name, description, usage, kind,
                                     is_required, linked_to_quantity, allow_unlimited,
                                     predefined_values, slider_min, slider_max, slider_step)
VALUES
    ('hosted_mailbox', 'storage_gb', 0, 'Storage per mailbox (GB)',
     'The mailbox quota; the subscription''s storage is this times its seats.',
     'ProductCharacteristic', 'Numeric', 1, 1, 0, '[]', NULL, NULL, NULL),
    ('hosted_mailbox', 'mailbox_type', 1, 'Mailbox type',
     'The feature set of every mailbox of the subscription.',
     'ProductCharacteristic', 'PredefinedChooseOne', 1, 0, 0,
     '[{"ID":"standard","Code":"standard","Name":"Standard","IsDefault":true},{"ID":"business","Code":"business","Name":"Business","IsDefault":false}]',
     NULL, NULL, NULL),
    ('archiving', 'retention_years', 0, 'Retention (years)',
     'How long archived mail is kept.',
     'ProductCharacteristic', 'Slider', 1, 0, 1, '[]', 1, 10, 1);
