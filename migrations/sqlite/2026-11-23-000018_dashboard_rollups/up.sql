-- The dashboard's numbers at any size: contract calls counted per hour,
-- endpoint and result code (kept by the audit writer with each batch), and
-- customers per status (kept by triggers: every change appends a delta row,
-- so concurrent writers never wait on a shared counter; a job folds the
-- deltas into the counts).
CREATE TABLE contract_call_hours (
    hour         TIMESTAMP NOT NULL,
    endpoint     TEXT NOT NULL,
    result_code  INTEGER NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (hour, endpoint, result_code)
);
INSERT INTO contract_call_hours (hour, endpoint, result_code, calls)
    SELECT strftime('%Y-%m-%d %H:00:00', occurred_at), endpoint, result_code, count(*)
    FROM audit_log
    GROUP BY 1, 2, 3;

CREATE TABLE customer_status_counts (
    status     TEXT PRIMARY KEY NOT NULL,
    customers  BIGINT NOT NULL
);
INSERT INTO customer_status_counts (status, customers)
    SELECT status, count(*) FROM customers GROUP BY status;

CREATE TABLE customer_status_deltas (
    id      INTEGER PRIMARY KEY,
    status  TEXT NOT NULL,
    delta   INTEGER NOT NULL
);

CREATE TRIGGER customers_status_inserted AFTER INSERT ON customers
BEGIN
    INSERT INTO customer_status_deltas (status, delta) VALUES (NEW.status, 1);
END;

CREATE TRIGGER customers_status_changed AFTER UPDATE OF status ON customers
WHEN OLD.status <> NEW.status
BEGIN
    INSERT INTO customer_status_deltas (status, delta) VALUES (OLD.status, -1), (NEW.status, 1);
END;

CREATE TRIGGER customers_status_deleted AFTER DELETE ON customers
BEGIN
    INSERT INTO customer_status_deltas (status, delta) VALUES (OLD.status, -1);
END;
