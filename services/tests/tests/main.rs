//! End-to-end tests of tasklane against real nats-server and valkey-server processes,
//! one module per area. The tests in `faults` and `failover` kill, stop and restart processes; they
//! run one at a time (.config/nextest.toml).

mod api_contract;
mod audit;
mod authentication;
mod cancellation;
mod chart_values;
mod credentials;
mod ctl;
mod dead_letters;
mod delayed_tasks;
mod failover;
mod faults;
mod http_hardening;
mod http_tasks;
mod idempotency;
mod leases;
mod least_privilege;
mod limits;
mod observability;
mod quotas;
mod startup;
mod store_batching;
mod tenants;
mod traces;
mod transport_tls;
mod worker_semantics;

/// With `autotests = false`, a file in `tests/` that is not declared above would
/// never be compiled, let alone run.
#[test]
fn every_file_in_tests_is_a_module_of_this_binary() {
    let declared = include_str!("main.rs");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for entry in std::fs::read_dir(&dir).expect("tests/ is readable") {
        let path = entry.expect("directory entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && stem != "main" {
            assert!(
                declared.contains(&format!("\nmod {stem};\n")),
                "tests/{stem}.rs is not declared in tests/main.rs, so it never runs"
            );
        }
    }
}
