//! A small HTTP client for the gateway's and the worker's endpoints.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::wait::eventually;

#[derive(Clone)]
pub struct ApiClient {
    pub base: String,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("http client builds");
        Self { base, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn ready(&self) -> bool {
        matches!(self.http.get(self.url("/readyz")).send().await, Ok(r) if r.status() == StatusCode::OK)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request is sent")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self.http.post(self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("request is sent")
    }

    /// Posts one task and returns its id; panics unless the answer is 202.
    pub async fn submit(&self, task: &Value) -> String {
        let response = self.post_json("/task", task).await;
        Self::accepted_id(response, task).await
    }

    /// Posts one task with `token` as its bearer token and returns its id; panics
    /// unless the answer is 202.
    pub async fn submit_as(&self, token: &str, task: &Value) -> String {
        let response = self
            .http
            .post(self.url("/task"))
            .bearer_auth(token)
            .json(task)
            .send()
            .await
            .expect("request is sent");
        Self::accepted_id(response, task).await
    }

    async fn accepted_id(response: Response, task: &Value) -> String {
        let status = response.status();
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "submit {task} answered {body}"
        );
        body["id"].as_str().expect("id in the answer").to_string()
    }

    /// Posts one `POST /tasks` batch and returns the ids in order; panics unless the
    /// answer is 202.
    pub async fn submit_batch(&self, tasks: Vec<Value>) -> Vec<String> {
        let response = self.post_json("/tasks", &json!({ "tasks": tasks })).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.expect("JSON body");
        body["tasks"]
            .as_array()
            .expect("tasks in the answer")
            .iter()
            .map(|t| t["id"].as_str().expect("id of each task").to_string())
            .collect()
    }

    /// Posts `body` (raw JSON text) to `/task` with an `Idempotency-Key`.
    pub async fn post_task_with_key(&self, key: &str, body: &str) -> Response {
        self.http
            .post(self.url("/task"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_string())
            .send()
            .await
            .expect("request is sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request is sent")
    }

    pub async fn task(&self, id: &str) -> Value {
        let response = self.get(&format!("/task/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK, "GET /task/{id}");
        response.json().await.expect("JSON body")
    }

    pub async fn stats(&self) -> Value {
        let response = self.get("/stats").await;
        assert_eq!(response.status(), StatusCode::OK, "GET /stats");
        response.json().await.expect("JSON body")
    }

    /// `worker_processed_count` from `/stats`: tasks finished, once each.
    pub async fn processed_count(&self) -> u64 {
        self.stats().await["worker_processed_count"]
            .as_u64()
            .expect("worker_processed_count is a count")
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("text body")
    }

    /// Waits until the task reaches `status` and returns its record.
    pub async fn wait_for_status(&self, id: &str, status: &str, deadline: Duration) -> Value {
        eventually(deadline, &format!("task {id} to be {status}"), || async {
            let response = self
                .http
                .get(self.url(&format!("/task/{id}")))
                .send()
                .await
                .ok()?;
            if response.status() != StatusCode::OK {
                return None;
            }
            let record: Value = response.json().await.ok()?;
            (record["status"] == status).then_some(record)
        })
        .await
    }

    /// Waits until `/stats` satisfies `check`.
    pub async fn wait_for_stats(
        &self,
        what: &str,
        deadline: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(deadline, what, || async {
            let response = self.http.get(self.url("/stats")).send().await.ok()?;
            if response.status() != StatusCode::OK {
                return None;
            }
            let stats: Value = response.json().await.ok()?;
            check(&stats).then_some(stats)
        })
        .await
    }
}

/// The value of one sample in a Prometheus text exposition, e.g.
/// `metric_value(text, "worker_tasks_processed_total", &[("type","echo"),("outcome","succeeded")])`.
/// Missing samples read as 0.
pub fn metric_value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all_match = labels.iter().all(|(k, v)| {
                label_text
                    .split(',')
                    .any(|pair| pair == format!("{k}=\"{v}\""))
            });
            all_match.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// Metric family names present in an exposition (`# TYPE` lines).
pub fn metric_families(exposition: &str) -> std::collections::BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}
