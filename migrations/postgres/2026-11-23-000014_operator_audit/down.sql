DROP TABLE operator_password_tokens;
ALTER TABLE operators DROP COLUMN last_sign_in_at;
DROP TABLE operator_audit;
