//! Table definitions shared by both backends. The migrations under
//! `migrations/sqlite` and `migrations/postgres` create exactly these.

diesel::table! {
    applications (id) {
        id -> BigInt,
        app_id -> Text,
        name -> Text,
        key_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        settings -> Nullable<Text>,
    }
}

diesel::table! {
    customers (id) {
        id -> BigInt,
        external_id -> Text,
        application_id -> BigInt,
        bss_account_id -> Nullable<Text>,
        reseller_bss_id -> Nullable<Text>,
        reseller_external_id -> Nullable<Text>,
        reseller_customer_id -> Nullable<BigInt>,
        name -> Text,
        code -> Nullable<Text>,
        phone -> Nullable<Text>,
        fax -> Nullable<Text>,
        website -> Nullable<Text>,
        email -> Nullable<Text>,
        description -> Nullable<Text>,
        extra_details -> Text,
        account_extra_info -> Text,
        is_test -> Bool,
        status -> Text,
        password_hash -> Nullable<Text>,
        sync_fingerprint -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Text>,
        activated_at -> Nullable<Timestamp>,
        personal_data_erased_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    contacts (customer_id) {
        customer_id -> BigInt,
        bss_contact_id -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        phone -> Nullable<Text>,
        fax -> Nullable<Text>,
        email -> Nullable<Text>,
    }
}

diesel::table! {
    addresses (customer_id) {
        customer_id -> BigInt,
        address1 -> Nullable<Text>,
        address2 -> Nullable<Text>,
        city -> Nullable<Text>,
        post_code -> Nullable<Text>,
        state_code -> Nullable<Text>,
        state_name -> Nullable<Text>,
        country_code -> Nullable<Text>,
        country_name -> Nullable<Text>,
    }
}

diesel::table! {
    sync_option_definitions (id) {
        id -> Text,
        sort_order -> Integer,
        name -> Text,
        description -> Nullable<Text>,
        kind -> Text,
        data_type -> Text,
        is_required -> Bool,
        predefined_values -> Text,
        is_read_only -> Bool,
        available_to_storefront -> Bool,
        identifies_customer -> Bool,
        value_format -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_sync_options (customer_id, option_id) {
        customer_id -> BigInt,
        option_id -> Text,
        value -> Text,
    }
}

diesel::table! {
    customer_identities (option_id, normalized_value) {
        option_id -> Text,
        normalized_value -> Text,
        customer_id -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        application_id -> Nullable<BigInt>,
        track_id -> Nullable<Text>,
        endpoint -> Text,
        bss_account_id -> Nullable<Text>,
        external_id -> Nullable<Text>,
        result_code -> Integer,
        http_status -> Integer,
        duration_us -> BigInt,
        request_body -> Nullable<Text>,
    }
}

diesel::table! {
    operators (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        last_sign_in_at -> Nullable<Timestamp>,
        totp_secret -> Nullable<Text>,
        totp_enabled_at -> Nullable<Timestamp>,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    operator_sessions (token_hash) {
        token_hash -> Text,
        operator_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    email_templates (name) {
        name -> Text,
        current_revision -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    email_template_revisions (template_name, revision) {
        template_name -> Text,
        revision -> Integer,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
        restored_from -> Nullable<Integer>,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        dedupe_key -> Text,
        template_name -> Text,
        customer_id -> Nullable<BigInt>,
        recipient -> Nullable<Text>,
        subject -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        message_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        mailbox_id -> Nullable<BigInt>,
        operator_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    activation_tokens (token_hash) {
        token_hash -> Text,
        customer_id -> BigInt,
        outbox_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        mailbox_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    product_types (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        portal_url -> Nullable<Text>,
        allow_multiple_subscriptions -> Bool,
        quantity_limit -> Nullable<Integer>,
        scope -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        is_addon -> Bool,
    }
}

diesel::table! {
    product_type_attributes (product_type_id, id) {
        product_type_id -> Text,
        id -> Text,
        sort_order -> Integer,
        name -> Text,
        description -> Nullable<Text>,
        usage -> Text,
        kind -> Text,
        is_required -> Bool,
        linked_to_quantity -> Bool,
        allow_unlimited -> Bool,
        predefined_values -> Text,
        slider_min -> Nullable<BigInt>,
        slider_max -> Nullable<BigInt>,
        slider_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    plans (id) {
        id -> BigInt,
        public_id -> Text,
        product_type_id -> Text,
        application_id -> Nullable<BigInt>,
        product_id -> Nullable<Text>,
        name -> Text,
        code -> Nullable<Text>,
        attribute_values -> Text,
        unit_price_minor -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        billing_period_count -> Nullable<Integer>,
        billing_period_unit -> Nullable<Text>,
        visible -> Bool,
        deprecated -> Bool,
        source -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> BigInt,
        public_id -> Text,
        customer_id -> BigInt,
        application_id -> BigInt,
        bss_subscription_id -> Text,
        plan_id -> BigInt,
        product_type_id -> Text,
        quantity -> Integer,
        status -> Text,
        suspended_with_customer -> Bool,
        source -> Text,
        attribute_values -> Text,
        extra_info -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        parent_subscription_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    subscription_changes (id) {
        id -> BigInt,
        subscription_id -> BigInt,
        customer_id -> BigInt,
        effective_at -> Timestamp,
        kind -> Text,
        old_quantity -> Nullable<Integer>,
        new_quantity -> Integer,
        old_plan_id -> Nullable<BigInt>,
        new_plan_id -> BigInt,
        old_status -> Nullable<Text>,
        new_status -> Text,
        source -> Text,
        track_id -> Nullable<Text>,
    }
}

diesel::table! {
    mailboxes (id) {
        id -> BigInt,
        public_id -> Text,
        customer_id -> BigInt,
        application_id -> BigInt,
        address -> Text,
        normalized_address -> Text,
        display_name -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        role -> Nullable<Text>,
        secondary_email -> Nullable<Text>,
        status -> Text,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mailbox_services (mailbox_id, subscription_id) {
        mailbox_id -> BigInt,
        subscription_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    integrations (kind) {
        kind -> Text,
        enabled -> Bool,
        settings -> Text,
        sealed_secrets -> Nullable<Text>,
        enabled_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    scheduled_jobs (name) {
        name -> Text,
        cron -> Text,
        timezone -> Text,
        next_run_at -> Timestamp,
        run_requested_at -> Nullable<Timestamp>,
        attempt -> Integer,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    job_runs (id) {
        id -> BigInt,
        job_name -> Text,
        trigger -> Text,
        attempt -> Integer,
        instance -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        outcome -> Text,
        counts -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    job_run_failures (id) {
        id -> BigInt,
        run_id -> BigInt,
        item -> Text,
        reason -> Text,
    }
}

diesel::table! {
    psa_service_mappings (plan_id) {
        plan_id -> BigInt,
        catalog_item_id -> BigInt,
        catalog_identifier -> Text,
        catalog_description -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    psa_customer_agreements (customer_id) {
        customer_id -> BigInt,
        company_id -> BigInt,
        company_name -> Text,
        agreement_id -> BigInt,
        agreement_name -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mailbox_usage_changes (id) {
        id -> BigInt,
        subscription_id -> BigInt,
        customer_id -> BigInt,
        plan_id -> BigInt,
        effective_at -> Timestamp,
        in_use -> Integer,
    }
}

diesel::table! {
    contract_call_hours (hour, endpoint, result_code) {
        hour -> Timestamp,
        endpoint -> Text,
        result_code -> Integer,
        calls -> BigInt,
    }
}

diesel::table! {
    customer_status_counts (status) {
        status -> Text,
        customers -> BigInt,
    }
}

diesel::table! {
    customer_status_deltas (id) {
        id -> BigInt,
        status -> Text,
        delta -> Integer,
    }
}

diesel::joinable!(customers -> applications (application_id));
diesel::joinable!(contacts -> customers (customer_id));
diesel::joinable!(addresses -> customers (customer_id));
diesel::joinable!(customer_sync_options -> customers (customer_id));
diesel::joinable!(customer_identities -> customers (customer_id));
diesel::table! {
    operator_audit (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        operator_id -> Nullable<BigInt>,
        operator_email -> Text,
        action -> Text,
        target -> Nullable<Text>,
        source_address -> Nullable<Text>,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
    }
}

diesel::table! {
    operator_password_tokens (token_hash) {
        token_hash -> Text,
        operator_id -> BigInt,
        purpose -> Text,
        outbox_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    operator_recovery_codes (code_hash) {
        code_hash -> Text,
        operator_id -> BigInt,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    operator_sign_in_challenges (token_hash) {
        token_hash -> Text,
        operator_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(operator_sessions -> operators (operator_id));
diesel::joinable!(email_template_revisions -> email_templates (template_name));
diesel::joinable!(outbox -> customers (customer_id));
diesel::joinable!(activation_tokens -> customers (customer_id));
diesel::joinable!(product_type_attributes -> product_types (product_type_id));
diesel::joinable!(plans -> product_types (product_type_id));
diesel::joinable!(plans -> applications (application_id));
diesel::joinable!(subscriptions -> customers (customer_id));
diesel::joinable!(subscriptions -> plans (plan_id));
diesel::joinable!(subscription_changes -> subscriptions (subscription_id));
diesel::joinable!(mailboxes -> customers (customer_id));
diesel::joinable!(mailbox_services -> mailboxes (mailbox_id));
diesel::joinable!(mailbox_services -> subscriptions (subscription_id));
diesel::joinable!(job_runs -> scheduled_jobs (job_name));
diesel::joinable!(job_run_failures -> job_runs (run_id));
diesel::joinable!(psa_service_mappings -> plans (plan_id));
diesel::joinable!(psa_customer_agreements -> customers (customer_id));
diesel::joinable!(mailbox_usage_changes -> subscriptions (subscription_id));

diesel::allow_tables_to_appear_in_same_query!(
    contract_call_hours,
    customer_status_counts,
    customer_status_deltas,
    applications,
    customers,
    contacts,
    addresses,
    sync_option_definitions,
    customer_sync_options,
    customer_identities,
    audit_log,
    operators,
    operator_sessions,
    email_templates,
    email_template_revisions,
    outbox,
    activation_tokens,
    product_types,
    product_type_attributes,
    plans,
    subscriptions,
    subscription_changes,
    mailboxes,
    mailbox_services,
    integrations,
    scheduled_jobs,
    job_runs,
    job_run_failures,
    psa_service_mappings,
    psa_customer_agreements,
    mailbox_usage_changes,
    operator_audit,
    operator_password_tokens,
    operator_recovery_codes,
    operator_sign_in_challenges,
);
