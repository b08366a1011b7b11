-- When the personal data of a deleted customer's tombstone was erased
-- (after the retention period); ids and dates are kept.
ALTER TABLE customers ADD COLUMN personal_data_erased_at TIMESTAMP;

-- The retention job's lookup: tombstones not erased yet, oldest first.
CREATE INDEX customers_tombstones_to_erase ON customers (deleted_at)
    WHERE status = 'deleted' AND personal_data_erased_at IS NULL;
