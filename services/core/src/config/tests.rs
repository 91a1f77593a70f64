use std::time::Duration;

use super::*;

fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_env_map(
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn defaults_match_the_spec_table() {
    let s = load(&[]).unwrap();
    assert_eq!(s.nats.url, "nats://127.0.0.1:4222");
    assert_eq!(s.valkey.url.expose(), "redis://127.0.0.1:6379");
    assert_eq!(s.stream.name, "TASKS");
    assert_eq!(s.stream.dead_letter_name(), "TASKS_DLQ");
    assert_eq!(s.stream.replicas, 1);
    assert_eq!(s.stream.duplicate_window, Duration::from_secs(120));
    assert_eq!(s.results.ttl, Duration::from_secs(86_400));
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.api.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(s.api.max_body_bytes, 1_048_576);
    assert_eq!(s.api.max_batch, 1000);
    assert_eq!(s.worker.listen, "0.0.0.0:9090".parse().unwrap());
    assert_eq!(s.worker.concurrency, 64);
    assert_eq!(s.worker.max_attempts, 5);
    assert_eq!(s.worker.retry_base_delay, Duration::from_secs(1));
    assert_eq!(s.worker.retry_max_delay, Duration::from_secs(600));
    assert_eq!(s.worker.ack_wait, Duration::from_secs(30));
    assert_eq!(s.worker.task_timeout, Duration::from_secs(30));
    assert_eq!(s.worker.shutdown_grace, Duration::from_secs(25));
    assert_eq!(
        s.telemetry.otlp_endpoint, None,
        "no export unless configured"
    );
    // The http section's defaults (SPEC, "HTTP tasks"), which the gateway's
    // payload-checking handler also takes from HttpSettings::default().
    assert_eq!(s.http, HttpSettings::default());
    assert_eq!(s.http.max_response_bytes, 65_536);
    assert_eq!(s.http.breaker_threshold, 5);
    assert_eq!(s.http.breaker_cooldown, Duration::from_secs(30));
    assert_eq!(s.http.max_per_host, 32);
    assert!(s.http.allowed_networks().unwrap().is_empty());
}

#[test]
fn environment_overrides_nested_keys() {
    let s = load(&[
        ("TASKLANE_WORKER__CONCURRENCY", "8"),
        ("TASKLANE_WORKER__ACK_WAIT", "2m"),
        ("TASKLANE_NATS__TLS__CA_FILE", "/etc/nats/ca.pem"),
        ("TASKLANE_NATS__USER", "gateway"),
        ("TASKLANE_NATS__PASSWORD", "s3cret"),
        ("TASKLANE_LOG__FORMAT", "pretty"),
    ])
    .unwrap();
    assert_eq!(s.worker.concurrency, 8);
    assert_eq!(s.worker.ack_wait, Duration::from_secs(120));
    assert_eq!(
        s.nats.tls.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/nats/ca.pem"))
    );
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert!(
        !format!("{s:?}").contains("s3cret"),
        "secrets leak into Debug"
    );
}

#[test]
fn file_layer_sits_between_defaults_and_environment() {
    let dir = std::env::temp_dir().join(format!("tasklane-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tasklane.yaml");
    std::fs::write(&file, "worker:\n  concurrency: 7\n  max_attempts: 9\n").unwrap();
    let s = load(&[
        ("TASKLANE_CONFIG", file.to_str().unwrap()),
        ("TASKLANE_WORKER__MAX_ATTEMPTS", "3"),
    ])
    .unwrap();
    assert_eq!(s.worker.concurrency, 7);
    assert_eq!(s.worker.max_attempts, 3);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_configuration_names_the_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("TASKLANE_WORKER__CONCURENCY", "8")],
            "TASKLANE_WORKER__CONCURENCY",
        ),
        (
            &[("TASKLANE_WORKER__CONCURRENCY", "many")],
            "TASKLANE_WORKER__CONCURRENCY",
        ),
        (
            &[("TASKLANE_WORKER__ACK_WAIT", "soon")],
            "TASKLANE_WORKER__ACK_WAIT",
        ),
        (
            &[("TASKLANE_WORKER__CONCURRENCY", "0")],
            "TASKLANE_WORKER__CONCURRENCY",
        ),
        (
            &[("TASKLANE_HTTP__ALLOWED_NETWORKS", "10.0.0.0/8,10.1.2.3")],
            "TASKLANE_HTTP__ALLOWED_NETWORKS",
        ),
        (
            &[("TASKLANE_HTTP__MAX_RESPONSE_BYTES", "0")],
            "TASKLANE_HTTP__MAX_RESPONSE_BYTES",
        ),
        (
            &[("TASKLANE_HTTP__BREAKER_THRESHOLD", "0")],
            "TASKLANE_HTTP__BREAKER_THRESHOLD",
        ),
        (
            &[("TASKLANE_HTTP__BREAKER_COOLDOWN", "0s")],
            "TASKLANE_HTTP__BREAKER_COOLDOWN",
        ),
        (
            &[("TASKLANE_HTTP__MAX_PER_HOST", "0")],
            "TASKLANE_HTTP__MAX_PER_HOST",
        ),
        (
            &[("TASKLANE_API__LISTEN", "nowhere")],
            "TASKLANE_API__LISTEN",
        ),
        (&[("TASKLANE_LOG__FORMAT", "xml")], "TASKLANE_LOG__FORMAT"),
        (
            &[("TASKLANE_VALKEY__URL", "http://x")],
            "TASKLANE_VALKEY__URL",
        ),
        (
            &[("TASKLANE_NATS__USER", "only-user")],
            "TASKLANE_NATS__USER",
        ),
        (
            &[("TASKLANE_STREAM__REPLICAS", "7")],
            "TASKLANE_STREAM__REPLICAS",
        ),
        (
            &[("TASKLANE_CONFIG", "/does/not/exist.toml")],
            "/does/not/exist.toml",
        ),
        (
            &[("TASKLANE_VALKEY__SENTINELS", "10.0.0.1")],
            "TASKLANE_VALKEY__SENTINELS",
        ),
        (
            &[("TASKLANE_API__REQUEST_TIMEOUT", "1m")],
            "TASKLANE_STREAM__DUPLICATE_WINDOW",
        ),
        (
            &[("TASKLANE_WORKER__RETRY_BASE_DELAY", "20m")],
            "TASKLANE_WORKER__RETRY_BASE_DELAY",
        ),
        (
            &[(
                "TASKLANE_TELEMETRY__OTLP_ENDPOINT",
                "https://collector:4318",
            )],
            "TASKLANE_TELEMETRY__OTLP_ENDPOINT",
        ),
    ];
    for (vars, expected) in cases {
        let err = load(vars).expect_err(&format!("{vars:?} must be rejected"));
        let line = err.to_string();
        assert!(
            line.contains(expected),
            "{vars:?}: {line:?} does not name {expected}"
        );
        assert!(!line.contains('\n'), "{vars:?}: not one line: {line:?}");
    }
}

#[test]
fn every_key_is_documented_once_with_a_meaning() {
    let names: Vec<&str> = keys().iter().map(|k| k.name.as_str()).collect();
    assert!(
        names.len() >= 28,
        "keys parsed from config.default.toml: {names:?}"
    );
    for key in keys() {
        assert!(
            !key.meaning.is_empty(),
            "{} has no meaning in config.default.toml",
            key.name
        );
        let twice = names.iter().filter(|n| **n == key.name).count();
        assert_eq!(twice, 1, "{} is documented {twice} times", key.name);
    }
    let unset: Vec<&str> = keys()
        .iter()
        .filter(|k| k.default().is_none())
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(
        unset,
        [
            "nats.credentials_file",
            "nats.token",
            "nats.user",
            "nats.password",
            "nats.tls.ca_file",
            "nats.tls.cert_file",
            "nats.tls.key_file",
            "valkey.sentinels",
            "valkey.password_file",
            "valkey.tls.ca_file",
            "valkey.tls.cert_file",
            "valkey.tls.key_file",
            "tasks.enabled",
            "telemetry.otlp_endpoint",
            "api.ops_listen",
            "auth.keys_file",
            "auth.jwt.jwks_file",
            "auth.jwt.jwks_url",
            "auth.jwt.hs256_secret_file",
            "auth.jwt.issuer",
            "auth.jwt.audience",
            "limits.tenant_burst",
            "http.signing_secret_file",
            "http.allowed_networks"
        ]
    );
}

#[test]
fn every_documented_key_is_a_setting_and_every_setting_is_documented() {
    // All at once, the unset ones at their example values: a documented key the
    // settings lack would be refused as unknown.
    let vars: Vec<(String, String)> = keys()
        .iter()
        .map(|k| (k.env_var(), k.example().to_string()))
        .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = load(&vars).expect("every documented key loads");
    assert_eq!(s.nats.user.as_deref(), Some("tasklane"));
    assert!(s.nats.tls.key_file.is_some());
    // A setting missing from the file has no default, so the defaults alone would
    // not load; and an undocumented one could not be set, since it is unknown.
    assert!(load(&[]).is_ok());
    assert!(matches!(
        load(&[("TASKLANE_WORKER__PRIORITY", "1")]),
        Err(ConfigError::UnknownKey { .. })
    ));
}

#[test]
fn help_and_readme_are_produced_from_config_default_toml() {
    let help = Settings::reference();
    for key in keys() {
        let default = key.default().unwrap_or("unset");
        let line = help
            .lines()
            .find(|line| {
                line.trim_start()
                    .starts_with(&format!("{} ", key.env_var()))
            })
            .unwrap_or_else(|| panic!("--help misses {}", key.name));
        assert!(line.contains(&key.meaning), "{line}");
        assert!(line.ends_with(&format!("[default: {default}]")), "{line}");
    }
    assert!(help.contains("TASKLANE_WORKER__CONCURRENCY"));
    assert!(help.contains("[default: 64]"));
    let table = Settings::reference_table();
    let readme = include_str!("../../../../README.md");
    assert!(
        readme.contains(&table),
        "the README's configuration table is out of date; replace it with:\n\n{table}"
    );
}

#[test]
fn ack_wait_has_the_floor_its_message_states() {
    let err = load(&[("TASKLANE_WORKER__ACK_WAIT", "950ms")]).expect_err("950ms is below 1s");
    assert!(err.to_string().contains("must be at least 1s"), "{err}");
    let s = load(&[("TASKLANE_WORKER__ACK_WAIT", "1s")]).unwrap();
    assert_eq!(s.worker.ack_wait, Duration::from_secs(1));
}

#[test]
fn a_refused_valkey_url_lists_every_accepted_scheme() {
    for url in [
        "valkey://127.0.0.1:6379",
        "valkeys://127.0.0.1:6379",
        "rediss://h:6380",
    ] {
        load(&[("TASKLANE_VALKEY__URL", url)]).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    let line = load(&[("TASKLANE_VALKEY__URL", "http://x")])
        .unwrap_err()
        .to_string();
    for scheme in ["redis://", "rediss://", "valkey://", "valkeys://"] {
        assert!(line.contains(scheme), "{line:?} does not name {scheme}");
    }
}
