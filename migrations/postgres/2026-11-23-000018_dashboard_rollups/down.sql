DROP TRIGGER customers_status_delta ON customers;
DROP FUNCTION customers_status_delta();
DROP TABLE customer_status_deltas;
DROP TABLE customer_status_counts;
DROP TABLE contract_call_hours;
