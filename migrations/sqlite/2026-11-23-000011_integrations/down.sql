DROP TABLE psa_customer_agreements;
DROP TABLE psa_service_mappings;
DROP TABLE job_run_failures;
DROP TABLE job_runs;
DROP TABLE scheduled_jobs;
DROP TABLE integrations;
