ALTER TABLE applications DROP COLUMN settings;
