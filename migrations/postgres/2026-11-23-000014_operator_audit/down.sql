DROP TABLE operator_sign_in_challenges;
DROP TABLE operator_recovery_codes;
ALTER TABLE operators DROP COLUMN totp_last_step;
ALTER TABLE operators DROP COLUMN totp_enabled_at;
ALTER TABLE operators DROP COLUMN totp_secret;
ALTER TABLE outbox DROP COLUMN operator_id;
DROP TABLE operator_password_tokens;
ALTER TABLE operators DROP COLUMN last_sign_in_at;
DROP TABLE operator_audit;
