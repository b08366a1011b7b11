DROP TRIGGER customers_status_deleted;
DROP TRIGGER customers_status_changed;
DROP TRIGGER customers_status_inserted;
DROP TABLE customer_status_deltas;
DROP TABLE customer_status_counts;
DROP TABLE contract_call_hours;
