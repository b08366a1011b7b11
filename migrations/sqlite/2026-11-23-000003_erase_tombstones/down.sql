DROP INDEX customers_tombstones_to_erase;
ALTER TABLE customers DROP COLUMN personal_data_erased_at;
