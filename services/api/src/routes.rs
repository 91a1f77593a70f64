//! The router and every layer around it, assembled in one place.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tasklane_core::config::ApiSettings;
use tasklane_core::trace_context::TraceParent;
use tasklane_core::{ops, problem, telemetry};
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{self, Authenticator, Gate, Scope};
use crate::error::{ApiError, log_causes};
use crate::handlers::{cancel_task, dead_letters, stats, submit_batch, submit_task, task_status};
use crate::headers::{REQUEST_ID, TRACEPARENT, is_usable_request_id};
use crate::metrics::{HttpMetrics, track};
use crate::state::AppState;

/// The gateway's routes: the task routes on `state`, the shared operational routes
/// (`ops`) unless they have a listener of their own, and the layers around both.
pub(crate) fn router(
    state: AppState,
    ops: Option<Router>,
    http_metrics: Arc<HttpMetrics>,
    limits: &ApiSettings,
    authenticator: Arc<Authenticator>,
) -> Router {
    let shed = Arc::new(Semaphore::new(limits.max_in_flight));
    // Each route's scope, checked before its handler runs (and before the body is
    // read): a request without the right to use a route costs no more than this.
    let scoped = |scope: Scope| {
        middleware::from_fn_with_state(
            Gate {
                authenticator: Arc::clone(&authenticator),
                scope,
            },
            auth::require,
        )
    };

    // Task routes get admission control and a deadline; probes and /metrics never do,
    // so an overloaded gateway still answers its orchestrator and its scraper.
    let task_routes = Router::new()
        .route(
            "/task",
            post(submit_task::submit_task).layer(scoped(Scope::TasksWrite)),
        )
        .route(
            "/tasks",
            post(submit_batch::submit_batch).layer(scoped(Scope::TasksWrite)),
        )
        .route(
            "/task/{id}",
            // Each method keeps its own scope: a layer on a method router covers
            // every method added before it.
            get(task_status::task_status)
                .layer(scoped(Scope::TasksRead))
                .merge(delete(cancel_task::cancel_task).layer(scoped(Scope::TasksWrite))),
        )
        .route("/stats", get(stats::stats).layer(scoped(Scope::Admin)))
        .route(
            "/dead-letters",
            get(dead_letters::list).layer(scoped(Scope::Admin)),
        )
        .route(
            "/dead-letters/retry",
            post(dead_letters::redrive_many).layer(scoped(Scope::Admin)),
        )
        .route(
            "/dead-letters/{id}/retry",
            post(dead_letters::redrive_one).layer(scoped(Scope::Admin)),
        )
        .route_layer(middleware::from_fn_with_state(
            limits.request_timeout,
            deadline,
        ))
        .route_layer(middleware::from_fn_with_state(shed, admission))
        .route_layer(middleware::map_response(no_store))
        .with_state(state);

    // The API's description is public, like the probes: no auth, no admission.
    crate::openapi::render();
    let routes = task_routes.route("/openapi.json", get(crate::openapi::serve));
    let routes = match ops {
        Some(ops) => routes.merge(ops),
        None => routes,
    };
    routes
        .fallback(problem::not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Layers run top to bottom on the way in:
        .layer(
            ServiceBuilder::new()
                // 0. a caller's request id outside the allowed alphabet is dropped,
                // and nosniff goes on every answer;
                .map_request(drop_unusable_request_id)
                .map_response(nosniff)
                // 1. every request gets an id first (or keeps the caller's), so
                // everything below, logs included, can refer to it;
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                // 2. one span per request carrying that id and, once known, trace_id;
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                // 3. the id goes back to the caller on every response, errors included;
                .layer(PropagateRequestIdLayer::x_request_id())
                // 4. internal causes behind an answer are logged once, in the span;
                .map_response(log_causes)
                // 5. metrics see the final status, including the panic answer below;
                .layer(middleware::from_fn_with_state(http_metrics, track))
                // 6. a bug answers 500 problem+json instead of dropping the connection.
                .layer(CatchPanicLayer::custom(panic_response)),
        )
}

fn request_span(request: &Request<axum::body::Body>) -> tracing::Span {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    let request_id = header(REQUEST_ID).unwrap_or("");
    let path = request.uri().path();
    if ops::PATHS.contains(&path) {
        return tracing::info_span!(
            target: telemetry::UNEXPORTED,
            "request",
            method = %request.method(),
            path,
            request_id,
        );
    }
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path,
        request_id,
        trace_id = tracing::field::Empty,
    );
    // The caller's span is the exported request span's parent; set before the span
    // is entered, which is when it starts.
    if telemetry::exporting()
        && let Some(caller) = header(TRACEPARENT).and_then(TraceParent::parse)
    {
        caller.adopt(&span);
    }
    span
}

fn drop_unusable_request_id<B>(mut request: Request<B>) -> Request<B> {
    if let Some(id) = request.headers().get(REQUEST_ID)
        && !is_usable_request_id(id.as_bytes())
    {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// The operational routes on a listener of their own: nothing else answers there.
pub(crate) fn ops_only(ops: Router) -> Router {
    ops.fallback(problem::not_found)
        .layer(ServiceBuilder::new().map_response(nosniff))
}

fn nosniff<B>(mut response: Response<B>) -> Response<B> {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Task records and answers about them change and may carry results: no cache,
/// shared or private, keeps them.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn admission(State(shed): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    match shed.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::too_many_requests().into_response(),
    }
}

async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout().into_response(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    ApiError::internal().into_response()
}
