"""Every contract field that changes behaviour, and the tests that fail if it stops doing so.

``module::test`` names a test function in tests/; ``module::test[case]`` one case of a parametrized
test (the case id must appear in the module). The fields that change nothing are listed, with their
reason, in frontdoor/contract/informative.py; test_field_coverage.py requires every field in one list.
Paths: the kind, then field names (list and map items add nothing); ``*`` is every kind.
"""

from __future__ import annotations

from typing import Final

RULES: Final = "test_contract_rules::test_broken_contract"

EFFECTS: Final[dict[str, tuple[str, ...]]] = {
    # --- the envelope --------------------------------------------------------------------------------
    "*.apiVersion": (f"{RULES}[api-version-wrong]", f"{RULES}[api-version-missing]"),
    "*.kind": (f"{RULES}[document-kind-misspelt]",),
    "*.metadata.name": (f"{RULES}[duplicate-name]", "test_cli::test_who_matches_and_names_owners"),
    "*.metadata.owner": (
        f"{RULES}[owner-role-wrong-role]",
        "test_gateway_e2e::test_gateway_errors_are_json_with_request_id_and_owner",
    ),
    # on any kind but an Edge it is refused; on an Edge it says which environments it serves
    "Team.metadata.environments": (f"{RULES}[schema-environments-outside-edge]",),
    "Service.metadata.environments": (f"{RULES}[schema-environments-outside-edge]",),
    "Environment.metadata.environments": (f"{RULES}[schema-environments-outside-edge]",),
    "Edge.metadata.environments": (
        f"{RULES}[unknown-reference-edge-environment]",
        f"{RULES}[edge-coverage-two]",
    ),
    "Edge.metadata.annotations": ("test_render::test_cert_manager_issuer_from_edge_annotations",),
    # --- Team ----------------------------------------------------------------------------------------
    "Team.spec.role": (f"{RULES}[owner-role-wrong-role]", f"{RULES}[schema-team-role]"),
    "Team.spec.oncall": ("test_contract_rules::test_team_without_oncall_is_a_gap",),
    "Team.spec.oncall.primary": (
        "test_operations::test_route_table_names_owners_and_oncall",
        "test_field_effects::test_oncall_primary_and_contact_choose_the_alert_receiver",
    ),
    "Team.spec.oncall.escalation": ("test_field_effects::test_escalation_and_hours_are_in_the_verdict",),
    "Team.spec.oncall.hours": (
        "test_contract_rules::test_business_hours_oncall_is_only_a_note_in_production",
        "test_field_effects::test_escalation_and_hours_are_in_the_verdict",
    ),
    "Team.spec.contact": ("test_field_effects::test_oncall_primary_and_contact_choose_the_alert_receiver",),
    "Team.spec.contact.chat": (
        "test_field_effects::test_oncall_primary_and_contact_choose_the_alert_receiver",
    ),
    "Team.spec.contact.email": (
        "test_field_effects::test_oncall_primary_and_contact_choose_the_alert_receiver",
    ),
    "Team.spec.runbooks": ("test_field_effects::test_runbooks_become_the_alerts_runbook_url",),
    # --- Service -------------------------------------------------------------------------------------
    "Service.spec.exposure": (
        "test_contract_rules::test_internal_service_exposed_is_a_gap",
        "test_routing::test_plan_is_built_from_exposed_services_only",
    ),
    "Service.spec.health": ("test_contract_rules::test_health_readiness_missing_is_a_gap",),
    "Service.spec.health.readiness": (
        "test_gateway_e2e::test_active_health_checks_take_an_endpoint_out_and_back",
        "test_contract_rules::test_health_readiness_missing_is_a_gap",
    ),
    "Service.spec.api": (f"{RULES}[openapi-missing]",),
    "Service.spec.api.openapi": (
        f"{RULES}[openapi-missing]",
        "test_admin_openapi::test_admin_api_matches_its_description",
    ),
    "Service.spec.routes.path": ("test_routing::test_matches",),
    "Service.spec.routes.methods": (
        "test_routing::test_405_only_when_no_matching_path_allows_the_method",
        "test_routing::test_a_method_falls_back_to_the_shorter_path",
    ),
    "Service.spec.routes.access": (
        f"{RULES}[route-access-missing]",
        "test_access_stage::test_public_routes_need_nothing_and_tell_the_upstream_nothing",
    ),
    "Service.spec.routes.access.mode": (
        "test_access_stage::test_public_routes_need_nothing_and_tell_the_upstream_nothing",
        "test_access_stage::test_no_credentials_gets_a_challenge_without_an_error",
    ),
    "Service.spec.routes.access.scopes": ("test_access_stage::test_every_scope_is_required",),
    "Service.spec.routes.access.claims": (
        "test_access_stage::test_claims_match_by_equality_or_list_membership",
    ),
    "Service.spec.routes.access.login": (
        "test_signin_stage::test_a_browser_without_a_session_is_sent_to_sign_in",
        f"{RULES}[login-provider]",
    ),
    "Service.spec.routes.access.clients": (
        "test_access_stage::test_a_route_with_clients_and_scopes_needs_both",
    ),
    "Service.spec.routes.strip_prefix": ("test_gateway_e2e::test_routing_exact_prefix_and_strip_prefix",),
    "Service.spec.events": ("test_render::test_no_events_no_kafka",),
    "Service.spec.events.produces": (
        "test_contract_rules::test_topic_with_two_producers_is_a_gap",
        "test_render::test_events_become_topics_and_acls",
    ),
    "Service.spec.events.consumes": (
        "test_contract_rules::test_consumed_topic_nobody_produces_is_a_gap",
        "test_render::test_events_become_topics_and_acls",
    ),
    "Service.spec.load": ("test_ratelimit_checks::test_rate_limit_findings",),
    "Service.spec.load.expected_rps": ("test_field_effects::test_a_peak_below_the_expected_load_is_refused",),
    "Service.spec.load.peak_rps": (
        "test_ratelimit_checks::test_the_below_peak_gap_also_points_at_the_declared_peak",
        "test_field_effects::test_a_peak_below_the_expected_load_is_refused",
    ),
    "Service.spec.slo": ("test_render::test_alerts_follow_the_slo_and_the_team",),
    "Service.spec.slo.availability": ("test_render::test_alerts_follow_the_slo_and_the_team",),
    "Service.spec.slo.latency_p99_ms": ("test_render::test_alerts_follow_the_slo_and_the_team",),
    # --- Edge ----------------------------------------------------------------------------------------
    "Edge.spec.entrypoints.name": (
        "test_render::test_golden",
        "test_render::test_names_are_dns_1123_and_unique",
    ),
    "Edge.spec.entrypoints.listen": (
        "test_gateway_e2e::test_a_port_in_use_is_a_clear_error",
        f"{RULES}[entrypoint-overlap]",
    ),
    "Edge.spec.entrypoints.hosts": (
        "test_routing::test_host_precedence",
        "test_routing::test_no_host_match_without_catch_all",
    ),
    "Edge.spec.entrypoints.tls": (
        "test_gateway_tls::test_plain_http_on_a_tls_port_is_refused",
        "test_contract_rules::test_prod_entrypoint_without_tls_is_a_gap",
    ),
    "Edge.spec.entrypoints.tls.cert": (
        "test_gateway_tls::test_a_new_certificate_is_served_without_restart",
        "test_gateway_tls::test_each_entrypoint_on_a_shared_listener_shows_its_own_certificates",
        "test_render::test_nginx_needs_certificate_files",
    ),
    "Edge.spec.entrypoints.tls.key": ("test_gateway_tls::test_a_new_certificate_is_served_without_restart",),
    "Edge.spec.entrypoints.tls.min_version": (
        "test_gateway_tls::test_minimum_version_is_enforced",
        "test_tls_policy::test_sslyze_finds_the_mozilla_profile",
        "test_tls_policy::test_every_target_carries_the_policy_serve_applies",
        f"{RULES}[listener-tls-min-version]",
    ),
    "Edge.spec.entrypoints.tls.hsts": (
        "test_gateway_tls::test_https_with_hsts_and_forwarded_proto",
        "test_gateway_tls::test_each_entrypoint_on_a_shared_listener_sends_its_own_hsts",
        "test_render_gateway_api_hsts::test_each_gateway_sends_its_own_entrypoints_hsts",
        "test_render_gateway_api_hsts::test_sign_in_answers_carry_each_gateways_hsts",
    ),
    "Edge.spec.entrypoints.tls.certificates.hosts": (
        "test_gateway_tls::test_the_server_name_picks_the_certificate",
        "test_gateway_tls::test_each_entrypoint_on_a_shared_listener_shows_its_own_certificates",
        "test_render_nginx::test_nginx_chooses_the_certificate_by_server_name",
    ),
    "Edge.spec.entrypoints.tls.certificates.cert": (
        "test_gateway_tls::test_the_server_name_picks_the_certificate",
        "test_gateway_tls::test_a_host_certificate_is_reloaded_without_restart",
        "test_render::test_host_certificates_from_files_are_refused_on_kubernetes",
        "test_render_k8s_tls::test_gateway_api",
        "test_render_k8s_tls::test_ingress_nginx",
        "test_render_k8s_tls::test_traefik",
    ),
    "Edge.spec.entrypoints.tls.certificates.key": (
        "test_gateway_tls::test_a_host_certificate_is_reloaded_without_restart",
    ),
    "Edge.spec.entrypoints.tls.client_auth": (
        "test_gateway_mtls::test_no_certificate_or_one_that_does_not_verify_gets_no_connection[none]",
        "test_contract_rules::test_certificate_clients_on_an_entrypoint_without_client_auth_is_a_gap",
        "test_authz_mtls::test_authz_ignores_the_header_where_no_client_certificate_is_asked_for",
        "test_render::test_client_auth_is_rendered_for_nginx",
        "test_render_k8s_tls::test_gateway_api",
        "test_render_k8s_tls::test_ingress_nginx",
        "test_render_k8s_tls::test_traefik",
        "test_authz_mtls::test_authz_reads_envoy_xfcc_from_a_trusted_peer_only",
        f"{RULES}[listener-tls-client-auth]",
    ),
    "Edge.spec.entrypoints.tls.client_auth.ca": (
        "test_gateway_mtls::test_no_certificate_or_one_that_does_not_verify_gets_no_connection[foreign]",
        "test_authz_mtls::test_the_rendered_nginx_admits_a_certificate_client_by_name",
    ),
    "Edge.spec.entrypoints.tls.client_auth.mode": (
        "test_gateway_mtls::test_optional_mode_lets_the_handshake_through_but_not_the_route",
    ),
    "Edge.spec.entrypoints.services": (
        f"{RULES}[unknown-reference-entrypoint-service]",
        "test_contract_rules::test_public_service_unexposed_is_a_gap",
    ),
    "Edge.spec.entrypoints.trusted_proxies": (
        "test_gateway_e2e::test_a_trusted_proxy_keeps_its_forwarding_headers_and_request_id",
    ),
    "Edge.spec.identity.providers.name": ("test_render::test_golden",),  # the gateway-api JWT providers
    "Edge.spec.identity.providers.issuer": ("test_tokens::test_several_providers_are_chosen_by_issuer",),
    "Edge.spec.identity.providers.audiences": (
        "test_tokens::test_audience_may_be_a_list_that_contains_one_of_ours",
    ),
    "Edge.spec.identity.providers.algorithms": (
        "test_keys::test_jwks_keeps_only_keys_that_verify_an_allowed_algorithm",
    ),
    "Edge.spec.identity.providers.jwks_uri": (
        "test_keys::test_discovery_finds_the_keys_when_no_jwks_uri_is_given",
    ),
    "Edge.spec.identity.providers.scopes_claim": ("test_tokens::test_scopes_from_scp_as_a_list",),
    "Edge.spec.identity.providers.clock_skew_s": ("test_tokens::test_time_claims_honour_the_clock_skew",),
    "Edge.spec.identity.providers.login": (
        "test_signin_stage::test_a_browser_without_a_session_is_sent_to_sign_in",
        "test_signin_e2e::test_a_person_signs_in_and_the_upstream_learns_who",
    ),
    "Edge.spec.identity.providers.login.client_id": (
        "test_signin_stage::test_the_flow_end_to_end_with_a_stub_token_endpoint",
    ),
    "Edge.spec.identity.providers.login.client_secret": (
        "test_signin_stage::test_the_flow_end_to_end_with_a_stub_token_endpoint",  # its stub token endpoint checks it
    ),
    "Edge.spec.identity.providers.login.scopes": (
        "test_signin_stage::test_the_flow_end_to_end_with_a_stub_token_endpoint",
    ),
    "Edge.spec.identity.providers.login.session.ttl": (
        "test_signin_stage::test_session_durations_come_from_the_contract",
    ),
    "Edge.spec.identity.providers.login.session.idle": (
        "test_signin_stage::test_session_durations_come_from_the_contract",
    ),
    "Edge.spec.identity.providers.login.cookie_keys": (
        "test_signin_stage::test_an_old_cookie_key_still_opens_a_session",
        "test_signin_stage::test_a_bad_session_is_no_session[foreign-key]",
    ),
    "Edge.spec.identity.api_clients.name": ("test_access_stage::test_api_keys", f"{RULES}[unknown-client]"),
    "Edge.spec.identity.api_clients.key_sha256": (
        "test_access_stage::test_api_keys",
        "test_access_e2e::test_api_keys",
    ),
    "Edge.spec.identity.api_clients.certificate": (
        "test_gateway_mtls::test_a_certificate_client_is_admitted_by_name",
        f"{RULES}[schema-api-client-key-and-certificate]",
    ),
    "Edge.spec.identity.api_clients.certificate.san_uri": (
        "test_gateway_mtls::test_a_certificate_client_is_admitted_by_name",
        "test_authz_mtls::test_authz_reads_the_ingress_certificate_from_a_trusted_peer_only",
    ),
    "Edge.spec.identity.api_clients.certificate.subject": (
        "test_gateway_mtls::test_a_client_matched_by_subject",
        f"{RULES}[schema-certificate-subject]",
    ),
    "Edge.spec.rate_limits": ("test_contract_rules::test_rate_limits_missing_is_a_gap",),
    "Edge.spec.rate_limits.store": ("test_protection_e2e::test_a_redis_limit_is_one_limit_for_two_workers",),
    "Edge.spec.rate_limits.on_store_failure": (
        "test_protection_e2e::test_a_hung_redis_with_deny_answers_503_then_recovers",
        "test_protection_e2e::test_redis_killed_mid_test_fails_open_then_limits_again",
    ),
    "Edge.spec.rate_limits.default": (
        "test_protection_e2e::test_allowed_responses_carry_the_ratelimit_fields",
    ),
    "Edge.spec.rate_limits.default.requests": ("test_protection_logic::test_the_bucket_refills_at_the_rate",),
    "Edge.spec.rate_limits.default.per": ("test_protection_logic::test_the_bucket_refills_at_the_rate",),
    "Edge.spec.rate_limits.default.burst": (
        "test_protection_logic::test_a_full_bucket_admits_the_burst_then_refuses",
    ),
    "Edge.spec.rate_limits.default.key": (
        "test_protection_logic::test_subject_key_falls_back_to_the_client_and_keeps_kinds_apart",
        "test_protection_logic::test_route_key_counts_the_route_as_a_whole",
    ),
    "Edge.spec.rate_limits.services.requests": (
        "test_protection_logic::test_the_bucket_refills_at_the_rate",
    ),
    "Edge.spec.rate_limits.services.per": ("test_protection_logic::test_the_bucket_refills_at_the_rate",),
    "Edge.spec.rate_limits.services.burst": (
        "test_protection_logic::test_a_full_bucket_admits_the_burst_then_refuses",
    ),
    "Edge.spec.rate_limits.services.key": (
        "test_protection_logic::test_route_key_counts_the_route_as_a_whole",
    ),
    "Edge.spec.protection.max_request_body": ("test_gateway_e2e::test_limits_give_413_431_and_408",),
    "Edge.spec.protection.max_header_bytes": (
        "test_gateway_e2e::test_limits_give_413_431_and_408",
        "test_h2::test_an_oversized_header_list_gets_431_as_over_http1",
    ),
    "Edge.spec.protection.max_concurrent_streams": (
        "test_h2::test_max_concurrent_streams_is_advertised_and_enforced",
    ),
    "Edge.spec.protection.timeouts.connect": ("test_render::test_golden",),
    "Edge.spec.protection.timeouts.header": ("test_gateway_e2e::test_limits_give_413_431_and_408",),
    "Edge.spec.protection.timeouts.upstream": (
        "test_gateway_e2e::test_upstream_failures_give_502_and_504",
        "test_body_timeouts::test_a_response_body_that_stalls_cuts_the_client_off",
        "test_body_timeouts::test_a_response_body_that_keeps_arriving_is_not_cut",
        "test_send_timeouts::test_an_upstream_that_stops_reading_the_request_gets_504",
        "test_send_timeouts::test_an_upstream_that_reads_slowly_but_steadily_is_not_cut",
    ),
    "Edge.spec.protection.timeouts.body": (
        "test_body_timeouts::test_a_request_body_that_stalls_gets_408_and_the_connection_closes",
        "test_body_timeouts::test_a_request_body_that_keeps_arriving_is_not_cut",
        "test_render::test_golden",
    ),
    "Edge.spec.protection.timeouts.idle": (
        "test_send_timeouts::test_a_client_that_stops_reading_is_cut_off_and_its_upstream_dropped",
        "test_send_timeouts::test_a_client_that_reads_slowly_but_steadily_is_not_cut",
        "test_field_effects::test_the_idle_timeout_is_rendered",
        "test_field_effects::test_serve_closes_a_connection_idle_longer_than_idle",
    ),
    "Edge.spec.protection.max_inflight_per_service": (
        "test_protection_e2e::test_beyond_max_inflight_requests_are_shed_at_once",
    ),
    "Edge.spec.protection.retries.attempts": (
        "test_gateway_e2e::test_retry_moves_idempotent_requests_to_a_live_endpoint",
    ),
    "Edge.spec.protection.retries.only_idempotent": ("test_field_effects::test_only_idempotent_is_rendered",),
    "Edge.spec.protection.circuit_breaker": (
        "test_protection_e2e::test_the_breaker_opens_on_failures_and_closes_after_a_probe",
    ),
    "Edge.spec.protection.circuit_breaker.failure_ratio": (
        "test_protection_logic::test_the_breaker_opens_at_the_failure_ratio_after_min_requests",
    ),
    "Edge.spec.protection.circuit_breaker.min_requests": (
        "test_protection_logic::test_the_breaker_opens_at_the_failure_ratio_after_min_requests",
    ),
    "Edge.spec.protection.circuit_breaker.open_for": (
        "test_protection_logic::test_open_then_half_open_with_one_probe_then_closed",
    ),
    "Edge.spec.observability": ("test_contract_rules::test_observability_off_is_a_gap",),
    "Edge.spec.observability.access_log": (
        "test_observability_fields::test_an_edge_without_access_log_writes_no_line",
        "test_contract_rules::test_observability_off_is_a_gap",
    ),
    "Edge.spec.observability.access_log.format": (
        "test_render_nginx_log::test_text_log",
        "test_observability_fields::test_text_format_writes_one_human_line",
        "test_observability_fields::test_authz_logs_in_the_edges_format_with_its_headers",
    ),
    "Edge.spec.observability.access_log.headers": (
        "test_render_nginx_log::test_json_log_with_headers_and_redaction",
        "test_observability_fields::test_authz_logs_in_the_edges_format_with_its_headers",
        "test_observability_fields::test_logged_headers_with_redaction",
        "test_field_effects::test_the_verdict_names_the_logged_headers",
    ),
    "Edge.spec.observability.access_log.redact_headers": (
        "test_render_nginx_log::test_json_log_with_headers_and_redaction",
        "test_observability_fields::test_authz_logs_in_the_edges_format_with_its_headers",
        "test_observability_fields::test_logged_headers_with_redaction",
        "test_observability_fields::test_records_written_by_authz_take_the_same_shape",
    ),
    "Edge.spec.observability.metrics": (
        "test_contract_rules::test_observability_without_metrics_is_a_gap",
        "test_observability_fields::test_metrics_are_served_on_the_declared_path_only",
    ),
    "Edge.spec.observability.metrics.path": (
        "test_observability_fields::test_metrics_are_served_on_the_declared_path_only",
    ),
    "Edge.spec.observability.tracing": (
        "test_observability_fields::test_propagate_none_makes_up_and_forwards_no_traceparent[no-tracing-block]",
    ),
    "Edge.spec.observability.tracing.propagate": (
        "test_observability_fields::test_propagate_w3c_continues_the_callers_trace",
        "test_observability_fields::test_propagate_none_makes_up_and_forwards_no_traceparent[propagate-none]",
    ),
    "Edge.spec.admin": (
        "test_contract_rules::test_admin_operators_missing_is_a_gap",
        "test_gateway_e2e::test_admin_probes_and_access_log",
    ),
    "Edge.spec.admin.listen": ("test_gateway_e2e::test_admin_probes_and_access_log",),
    "Edge.spec.admin.operators": (
        f"{RULES}[unknown-reference-admin-operator]",
        "test_contract_rules::test_admin_operators_missing_is_a_gap",
    ),
    "Edge.spec.admin.token": ("test_operations::test_admin_api_needs_the_token",),
    # --- Environment ---------------------------------------------------------------------------------
    "Environment.spec.production": (
        "test_contract_rules::test_gaps_in_prod_do_not_leak_into_dev",
        "test_contract_rules::test_dev_entrypoint_without_tls_is_a_warning_unless_strict",
    ),
    "Environment.spec.promotes_from": (
        f"{RULES}[promotion-cycle]",
        "test_example::test_every_environment_in_promotion_order",
    ),
    "Environment.spec.upstreams.url": (
        "test_gateway_e2e::test_public_route_is_proxied_with_forwarding_headers",
    ),
    "Environment.spec.upstreams.tls": (
        "test_upstream_tls::test_an_upstream_that_does_not_verify_is_a_502_naming_the_owner[system]",
        f"{RULES}[schema-upstream-tls-plain]",
        "test_render::test_upstream_tls_is_rendered_for_nginx",
        "test_render_nginx_upstream_tls::test_an_upstream_that_does_not_verify_is_serves_502[wrongca]",
        "test_render_k8s_tls::test_gateway_api",
        "test_render_k8s_tls::test_ingress_nginx",
        "test_render_k8s_tls::test_traefik",
        "test_render_k8s_tls::test_what_a_controller_cannot_say_is_refused",
    ),
    "Environment.spec.upstreams.tls.ca": (
        "test_upstream_tls::test_a_verified_upstream_answers",
        "test_upstream_tls::test_an_upstream_that_does_not_verify_is_a_502_naming_the_owner[wrongca]",
        f"{RULES}[secret-unresolved-upstream-ca]",
        "test_render_nginx_upstream_tls::test_an_upstream_that_does_not_verify_is_serves_502[wrongca]",
    ),
    "Environment.spec.upstreams.tls.server_name": (
        "test_upstream_tls::test_a_verified_upstream_answers",
        "test_upstream_tls::test_an_upstream_that_does_not_verify_is_a_502_naming_the_owner[badname]",
        "test_render_nginx_upstream_tls::test_an_upstream_that_does_not_verify_is_serves_502[badname]",
    ),
    "Environment.spec.upstreams.tls.cert": (
        "test_upstream_tls::test_the_gateway_presents_its_certificate_to_an_upstream_that_asks",
        "test_render_nginx_upstream_tls::test_nginx_presents_the_gateway_certificate_to_an_upstream_that_asks",
    ),
    "Environment.spec.upstreams.tls.key": (
        "test_upstream_tls::test_the_gateway_presents_its_certificate_to_an_upstream_that_asks",
        "test_render_nginx_upstream_tls::test_nginx_presents_the_gateway_certificate_to_an_upstream_that_asks",
    ),
    "Environment.spec.upstreams.weight": (
        "test_gateway_e2e::test_weights_split_traffic",
        "test_balancing::test_zero_weight_never_chosen_and_unhealthy_skipped",
    ),
    "Environment.spec.secrets": (
        f"{RULES}[secret-unresolved]",
        "test_gateway_tls::test_https_with_hsts_and_forwarded_proto",
    ),
    # --- waivers: a team accepts a gap it owns, until a date (verdict/waivers.py) ----------------------
    "Service.spec.waivers.rule": (
        "test_waivers::test_an_active_waiver_of_the_owning_team_accepts_the_gap",
        "test_waivers::test_an_unknown_rule_lists_the_waivable_ones",
    ),
    "Service.spec.waivers.target": ("test_waivers::test_a_waiver_matching_nothing_is_a_note",),
    "Service.spec.waivers.reason": ("test_waivers::test_the_text_verdict_shows_the_waiver",),
    "Service.spec.waivers.expires": ("test_waivers::test_an_expired_waiver_is_the_gap_again",),
    "Service.spec.waivers.environments": (
        "test_waivers::test_a_waiver_for_another_environment_does_not_apply",
    ),
    "Edge.spec.waivers.rule": (
        "test_waivers::test_an_active_waiver_of_the_owning_team_accepts_the_gap",
        "test_waivers::test_an_unknown_rule_lists_the_waivable_ones",
    ),
    "Edge.spec.waivers.target": ("test_waivers::test_a_waiver_matching_nothing_is_a_note",),
    "Edge.spec.waivers.reason": ("test_waivers::test_the_text_verdict_shows_the_waiver",),
    "Edge.spec.waivers.expires": ("test_waivers::test_an_expired_waiver_is_the_gap_again",),
    "Edge.spec.waivers.environments": ("test_waivers::test_a_waiver_for_another_environment_does_not_apply",),
    "Environment.spec.waivers.rule": (
        "test_waivers::test_an_active_waiver_of_the_owning_team_accepts_the_gap",
        "test_waivers::test_an_unknown_rule_lists_the_waivable_ones",
    ),
    "Environment.spec.waivers.target": ("test_waivers::test_a_waiver_matching_nothing_is_a_note",),
    "Environment.spec.waivers.reason": ("test_waivers::test_the_text_verdict_shows_the_waiver",),
    "Environment.spec.waivers.expires": ("test_waivers::test_an_expired_waiver_is_the_gap_again",),
    "Environment.spec.waivers.environments": (
        "test_waivers::test_a_waiver_for_another_environment_does_not_apply",
    ),
}
