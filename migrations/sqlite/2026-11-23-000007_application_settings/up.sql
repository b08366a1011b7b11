-- The setup values (JSON, domain::catalog::setup_fields::SetupValues) an
-- application's BSS last sent as X-CloudPlatform-Setting-* headers; NULL
-- until a call carries any.
ALTER TABLE applications ADD COLUMN settings TEXT;
