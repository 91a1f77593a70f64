//! Authentication and scopes: API keys from a keys file that can change under a
//! running gateway, JWTs from JWKS files and URLs and from an HS256 secret, and the
//! 401/403 answers with their challenges.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tasklane_testkit::{ApiClient, Stack, eventually};

use crate::credentials::{
    ApiKey, BILLING, HS256_SECRET, SecretVolume, claims, jwks, keyed_gateway, keys_file_text, now,
    token,
};

const READER: ApiKey<'static> = ApiKey {
    id: "billing-dash",
    secret: "tl_reader_0a1b2c3d4e5f",
    tenant: "billing",
    scopes: &["tasks:read"],
};

pub async fn post_task(client: &ApiClient, bearer: Option<&str>) -> Response {
    let mut request = client
        .http()
        .post(client.url("/task"))
        .json(&json!({"type": "echo", "payload": {"n": 1}}));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request is sent")
}

pub async fn get(client: &ApiClient, path: &str, bearer: Option<&str>) -> Response {
    let mut request = client.http().get(client.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request is sent")
}

fn challenge(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Checks a 401 and returns its body, which must not depend on what was wrong.
async fn unauthorized(response: Response, token_given: bool) -> Value {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let expected = if token_given {
        r#"Bearer realm="tasklane", error="invalid_token""#
    } else {
        r#"Bearer realm="tasklane""#
    };
    assert_eq!(challenge(&response), expected);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["type"].as_str().unwrap().ends_with("#unauthorized"),
        "{body}"
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_unknown_expired_or_badly_signed_tokens_get_401() {
    let stack = Stack::start();
    let volume = SecretVolume::new(&[
        ("keys.toml", &keys_file_text(&[BILLING])),
        ("hs256.secret", HS256_SECRET),
    ]);
    let keys = volume.path("keys.toml");
    let secret = volume.path("hs256.secret");
    let api = stack
        .api(&[
            ("TASKLANE_AUTH__MODE", "required"),
            ("TASKLANE_AUTH__KEYS_FILE", keys.to_str().unwrap()),
            (
                "TASKLANE_AUTH__JWT__HS256_SECRET_FILE",
                secret.to_str().unwrap(),
            ),
            ("TASKLANE_AUTH__JWT__ISSUER", "https://login.test/"),
            ("TASKLANE_AUTH__JWT__AUDIENCE", "tasklane"),
        ])
        .await;
    let client = api.client();
    let good = |extra: Value| {
        let base = json!({"iss": "https://login.test/", "aud": "tasklane"});
        let mut merged = base.as_object().unwrap().clone();
        merged.extend(extra.as_object().unwrap().clone());
        token(
            Algorithm::HS256,
            None,
            &claims("billing", "tasks:write", Value::Object(merged)),
        )
    };

    let missing = unauthorized(post_task(&client, None).await, false).await;
    let mut bodies = vec![];
    let mut forged = good(json!({}));
    forged.replace_range(forged.len() - 4.., "AAAA");
    let other_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims(
            "billing",
            "tasks:write",
            json!({"iss": "https://login.test/", "aud": "tasklane"}),
        ),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-another-secret-0123456789")
            .unwrap(),
    )
    .unwrap();
    for (what, bad) in [
        ("unknown API key", "tl_nobody_000000".to_string()),
        ("API key hash instead of the key", hex_of(BILLING.secret)),
        ("three parts that are not a JWT", "abc.def.ghi".to_string()),
        (
            "expired beyond the leeway",
            good(json!({"exp": now() - 120})),
        ),
        ("no exp", good(json!({"exp": null}))),
        ("not yet valid", good(json!({"nbf": now() + 300}))),
        ("issued in the future", good(json!({"iat": now() + 300}))),
        ("wrong issuer", good(json!({"iss": "https://evil.test/"}))),
        ("wrong audience", good(json!({"aud": "someone-else"}))),
        ("tampered signature", forged),
        ("signed with another secret", other_secret),
    ] {
        let response = post_task(&client, Some(&bad)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        bodies.push(unauthorized(response, true).await);
    }
    // Neither says which part of a token was wrong: every body is the same.
    for body in &bodies {
        assert_eq!(body, &missing, "{body}");
    }
    // Within the 60 s leeway, and the good ones, are let through.
    for (what, fine) in [
        ("expired 30 s ago", good(json!({"exp": now() - 30}))),
        ("valid from 30 s from now", good(json!({"nbf": now() + 30}))),
        ("valid", good(json!({}))),
        ("API key", BILLING.secret.to_string()),
    ] {
        let response = post_task(&client, Some(&fine)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{what}");
    }
    // Probes and metrics never need a token.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            get(&client, path, None).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
}

fn hex_of(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_route_scope_gets_403_naming_the_scope() {
    let stack = Stack::start();
    let volume = SecretVolume::new(&[("keys.toml", &keys_file_text(&[BILLING, READER]))]);
    let api = keyed_gateway(&stack, &volume).await;
    let client = api.client();
    for (response, scope) in [
        (post_task(&client, Some(READER.secret)).await, "tasks:write"),
        (get(&client, "/stats", Some(BILLING.secret)).await, "admin"),
    ] {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            challenge(&response),
            format!(r#"Bearer error="insufficient_scope", scope="{scope}""#)
        );
        let body: Value = response.json().await.unwrap();
        assert!(
            body["type"].as_str().unwrap().ends_with("#forbidden"),
            "{body}"
        );
    }
    let accepted = post_task(&client, Some(BILLING.secret)).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let id = accepted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let read = get(&client, &format!("/task/{id}"), Some(READER.secret)).await;
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_keys_file_takes_effect_without_a_restart_and_a_broken_one_is_ignored() {
    let stack = Stack::start();
    let mut volume = SecretVolume::new(&[("keys.toml", &keys_file_text(&[BILLING]))]);
    let api = keyed_gateway(&stack, &volume).await;
    let client = api.client();
    assert_eq!(
        post_task(&client, Some(BILLING.secret)).await.status(),
        StatusCode::ACCEPTED
    );

    let rotated = ApiKey {
        secret: "tl_writer_rotated_112233",
        ..BILLING
    };
    volume.update(&[("keys.toml", &keys_file_text(&[rotated]))]);
    eventually(
        Duration::from_secs(10),
        "the rotated key is in force",
        || async {
            (post_task(&client, Some(rotated.secret)).await.status() == StatusCode::ACCEPTED)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        post_task(&client, Some(BILLING.secret)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old key is revoked"
    );

    // A file that does not parse keeps the last good keys.
    volume.update(&[("keys.toml", "[[key]]\nid = \"half-written\"\n")]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        post_task(&client, Some(rotated.secret)).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_es256_and_eddsa_tokens_verify_against_a_jwks_file() {
    let stack = Stack::start();
    let document = jwks(&[
        (Algorithm::RS256, "rsa-1"),
        (Algorithm::ES256, "ec-1"),
        (Algorithm::EdDSA, "ed-1"),
    ]);
    let volume = SecretVolume::new(&[("jwks.json", &document)]);
    let file = volume.path("jwks.json");
    let api = stack
        .api(&[
            ("TASKLANE_AUTH__MODE", "required"),
            ("TASKLANE_AUTH__JWT__JWKS_FILE", file.to_str().unwrap()),
        ])
        .await;
    let client = api.client();
    let writer = claims("billing", "tasks:write", json!({}));
    for (alg, kid) in [
        (Algorithm::RS256, "rsa-1"),
        (Algorithm::ES256, "ec-1"),
        (Algorithm::EdDSA, "ed-1"),
    ] {
        let good = token(alg, Some(kid), &writer);
        assert_eq!(
            post_task(&client, Some(&good)).await.status(),
            StatusCode::ACCEPTED,
            "{alg:?}"
        );
    }
    // A key id of another algorithm, an unknown key id, and HS256 without a secret.
    for (what, bad) in [
        (
            "RS256 token naming the EC key",
            token(Algorithm::RS256, Some("ec-1"), &writer),
        ),
        (
            "unknown kid",
            token(Algorithm::ES256, Some("ec-2"), &writer),
        ),
        (
            "HS256 not configured",
            token(Algorithm::HS256, None, &writer),
        ),
    ] {
        assert_eq!(
            post_task(&client, Some(&bad)).await.status(),
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_url_is_fetched_again_for_an_unknown_kid_at_most_once_a_minute() {
    let stack = Stack::start();
    let document = Arc::new(std::sync::Mutex::new(jwks(&[(Algorithm::ES256, "old")])));
    let fetches = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let app = {
        let (document, fetches) = (Arc::clone(&document), Arc::clone(&fetches));
        axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (document, fetches) = (Arc::clone(&document), Arc::clone(&fetches));
                async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    document.lock().unwrap().clone()
                }
            }),
        )
    };
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let api = stack
        .api(&[
            ("TASKLANE_AUTH__MODE", "required"),
            ("TASKLANE_AUTH__JWT__JWKS_URL", &url),
        ])
        .await;
    let client = api.client();
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "fetched at start-up");
    let writer = claims("billing", "tasks:write", json!({}));
    let expect = |kid: String, alg: Algorithm, status: StatusCode, fetched: usize, why: &str| {
        let (client, fetches, writer) = (&client, &fetches, &writer);
        let why = why.to_string();
        async move {
            let bearer = token(alg, Some(&kid), writer);
            assert_eq!(
                post_task(client, Some(&bearer)).await.status(),
                status,
                "{why}"
            );
            assert_eq!(fetches.load(Ordering::SeqCst), fetched, "{why}");
        }
    };
    let ok = StatusCode::ACCEPTED;
    expect(
        "old".into(),
        Algorithm::ES256,
        ok,
        1,
        "a known kid needs no fetch",
    )
    .await;
    // The provider rotates: the new key id makes the gateway fetch once.
    *document.lock().unwrap() = jwks(&[(Algorithm::ES256, "old"), (Algorithm::EdDSA, "new")]);
    expect(
        "new".into(),
        Algorithm::EdDSA,
        ok,
        2,
        "one fetch for the unknown kid",
    )
    .await;
    // Made-up key ids within the minute cost no further fetch.
    for n in 0..5 {
        let made_up = format!("made-up-{n}");
        let denied = StatusCode::UNAUTHORIZED;
        expect(
            made_up,
            Algorithm::EdDSA,
            denied,
            2,
            "at most one fetch a minute",
        )
        .await;
    }
    server.abort();
}

#[test]
fn auth_required_without_keys_or_jwt_stops_start_up_naming_the_key() {
    let stack = Stack::start();
    let error =
        tasklane_core::Settings::from_env_map(stack.env(&[("TASKLANE_AUTH__MODE", "required")]))
            .expect_err("refused");
    let line = error.to_string();
    assert!(line.contains("TASKLANE_AUTH__MODE"), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_description_is_served_without_a_token_and_is_the_committed_one() {
    let stack = Stack::start();
    let volume = SecretVolume::new(&[("keys.toml", &keys_file_text(&[BILLING]))]);
    let api = keyed_gateway(&stack, &volume).await;
    let client = api.client();
    let response = get(&client, "/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served = response.text().await.unwrap();
    let committed = include_str!("../../../docs/openapi.json");
    assert!(
        served == committed,
        "GET /openapi.json differs from docs/openapi.json; regenerate it with: \
         cargo run -q -p tasklane-api -- --print-openapi > docs/openapi.json"
    );
    // The task routes still want a token.
    assert_eq!(
        get(&client, "/stats", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
