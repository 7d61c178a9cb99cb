//! The HTTP JSON service behind `clustermatch serve`: an axum [`router`] over a shared
//! [`Engine`], and [`serve`] to run it until a shutdown signal.
//!
//! Endpoints: `GET /health`, `GET /sectors`, `POST /match`, `GET /profiles/{id}`,
//! `PUT /profiles`, `DELETE /profiles/{id}`, `POST /batch` (plan an event, see [`batch`]), and
//! `GET /openapi.json` (generated from the code).
//! Results have the same JSON shapes as the CLI's `--format json`.
//!
//! Behaviour:
//! - reads run on tokio's blocking pool against the engine's current snapshot, which a write
//!   swaps only after its commit, so reads go on during a write and see the old or the new state;
//! - writes need `Authorization: Bearer TOKEN` when [`ServerOptions::token`] is set (compared in
//!   constant time over SHA-256 digests, see [`auth`]; the token is never logged), and
//!   [`check_bind`] refuses a non-loopback address without a token;
//! - commits made by another process (`clustermatch index` run by cron while the server runs)
//!   are picked up within [`ServerOptions::refresh`]: a background thread reads the index's
//!   `meta.json` and, when its segments changed, loads a new snapshot and swaps it in atomically
//!   (requests in flight finish on the snapshot they started with);
//! - a request body must arrive within [`ServerOptions::read_timeout`] of its headers (a client
//!   that stalls mid-body gets `408` and the connection is closed, instead of holding it), and
//!   [`serve_with`] gives each request's headers a timeout too (a client that connects and
//!   sends nothing, or half a header, is disconnected);
//! - bodies are capped in size ([`ServerOptions::max_body`]) and nesting, `top` is capped, unknown
//!   fields are rejected, and every bad request gets a 4xx JSON error naming the field;
//! - a panic in a handler becomes a 500 (the server keeps running); each request is logged with
//!   `tracing`; [`serve`] finishes in-flight requests before returning.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use clustermatch::server::{self, ServerOptions};
//! use clustermatch::Engine;
//! let engine = Arc::new(Engine::open_or_create(std::path::Path::new("index"))?);
//! let app = server::router(engine, ServerOptions::default());
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     server::serve(listener, app, async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await
//! })?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod batch;
mod body;
pub mod error;
pub mod limits;
pub mod openapi;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyDeadlineLayer;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::engine::Engine;
use error::{ApiError, ErrorCode};

/// The largest `top` a request may ask for, by default.
pub const MAX_TOP: usize = 1000;

/// The largest request body accepted, by default (4 MiB, a few thousand profiles).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// How often, by default, the server looks for commits made by other processes.
pub const REFRESH: Duration = Duration::from_millis(500);

/// How long, by default, a request body may take to arrive once its headers have.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the service. Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Bearer token required for writes; `None` leaves writes open (loopback only).
    pub token: Option<String>,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Largest `top` a match request may ask for.
    pub max_top: usize,
    /// `top` of match requests that give none.
    pub default_top: usize,
    /// Most participants of one `POST /batch`.
    pub max_participants: usize,
    /// How often to check the index directory for commits by other processes
    /// (`Duration::ZERO`: never).
    pub refresh: Duration,
    /// How long a request body may take to arrive, from the request's headers to its last
    /// byte; past it the request gets `408 request_timeout` and the connection is closed.
    pub read_timeout: Duration,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_body", &self.max_body)
            .field("max_top", &self.max_top)
            .field("default_top", &self.default_top)
            .field("max_participants", &self.max_participants)
            .field("refresh", &self.refresh)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            token: None,
            max_body: MAX_BODY,
            max_top: MAX_TOP,
            default_top: 10,
            max_participants: batch::MAX_PARTICIPANTS,
            refresh: REFRESH,
            read_timeout: READ_TIMEOUT,
        }
    }
}

/// Limits applied to requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_top: usize,
    pub(crate) default_top: usize,
    pub(crate) max_participants: usize,
}

impl From<&ServerOptions> for Limits {
    fn from(options: &ServerOptions) -> Self {
        Limits {
            max_top: options.max_top,
            default_top: options.default_top.clamp(1, options.max_top.max(1)),
            max_participants: options.max_participants,
        }
    }
}

/// What every handler shares: the engine, the token and the limits.
#[derive(Clone)]
pub struct AppState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) token: Option<Arc<auth::Token>>,
    pub(crate) limits: Limits,
    /// Plans running at once (`POST /batch`), at most [`batch::BATCH_CONCURRENCY`].
    pub(crate) batch_permits: Arc<tokio::sync::Semaphore>,
}

/// Whether the service may listen on `addr`: a non-loopback address needs a token, so that an
/// open write API is never exposed to a network by mistake.
///
/// ```
/// use clustermatch::server::check_bind;
/// assert!(check_bind("127.0.0.1:8080".parse()?, false).is_ok());
/// assert!(check_bind("0.0.0.0:8080".parse()?, false).is_err());
/// assert!(check_bind("0.0.0.0:8080".parse()?, true).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_bind(addr: SocketAddr, has_token: bool) -> crate::Result<()> {
    if addr.ip().is_loopback() || has_token {
        Ok(())
    } else {
        Err(crate::Error::Usage(format!(
            "refusing to listen on {addr} without a token: anyone on the network could write \
             profiles. Set CLUSTERMATCH_TOKEN (or `[server] token` in the config), or listen on \
             127.0.0.1"
        )))
    }
}

/// The router and the OpenAPI document, both built from the handlers' attributes.
fn parts(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::health))
        .routes(routes!(routes::sectors))
        .routes(routes!(routes::match_partners))
        .routes(routes!(routes::put_profiles))
        .routes(routes!(routes::get_profile, routes::delete_profile))
        .routes(routes!(batch::batch))
        .with_state(state)
        .split_for_parts();
    batch::document_inline_participant(&mut doc);
    (router, doc)
}

/// The OpenAPI document of the service (as served at `/openapi.json`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let doc = clustermatch::server::openapi_document();
/// assert!(doc["paths"]["/match"]["post"].is_object());
/// assert!(doc["components"]["schemas"]["MatchResult"].is_object());
/// # Ok(()) }
/// ```
pub fn openapi_document() -> serde_json::Value {
    let state = AppState {
        engine: Arc::new(match Engine::in_memory() {
            Ok(e) => e,
            Err(_) => return serde_json::Value::Null,
        }),
        token: None,
        limits: Limits {
            max_top: MAX_TOP,
            default_top: 10,
            max_participants: batch::MAX_PARTICIPANTS,
        },
        batch_permits: Arc::new(tokio::sync::Semaphore::new(batch::BATCH_CONCURRENCY)),
    };
    serde_json::to_value(parts(state).1).unwrap_or_default()
}

/// The service's router over an engine.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use clustermatch::{server, Engine};
/// let app = server::router(Arc::new(Engine::in_memory()?), server::ServerOptions::default());
/// # let _ = app;
/// # Ok(()) }
/// ```
pub fn router(engine: Arc<Engine>, options: ServerOptions) -> Router {
    if !options.refresh.is_zero() && engine.index().path().is_some() {
        spawn_refresh(Arc::downgrade(&engine), options.refresh);
    }
    let limits = Limits::from(&options);
    let state = AppState {
        engine,
        token: options
            .token
            .as_deref()
            .map(|t| Arc::new(auth::Token::new(t))),
        limits,
        batch_permits: Arc::new(tokio::sync::Semaphore::new(batch::BATCH_CONCURRENCY)),
    };
    let max_body = options.max_body;
    let read_timeout = options.read_timeout;
    let (router, doc) = parts(state);
    let doc = Arc::new(serde_json::to_value(doc).unwrap_or_default());
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_body))
        .layer(axum::middleware::from_fn(move |req, next| {
            refuse_declared_oversize(req, next, max_body)
        }))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        // Outermost: the body's deadline starts as soon as the request's headers are in. A
        // single deadline (not one reset by every chunk), so trickling bytes does not extend it.
        .layer(RequestBodyDeadlineLayer::new(read_timeout))
}

/// Every `every`, picks up commits made to the index by other processes; stops once the engine
/// is dropped (the router with it). A failed reload (a segment removed by the other process's
/// merge between reading `meta.json` and opening it, say) keeps the current snapshot and is
/// retried at the next tick.
fn spawn_refresh(engine: std::sync::Weak<Engine>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("index-refresh".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(engine) = engine.upgrade() else {
                return;
            };
            match engine.index().refresh() {
                Ok(true) => tracing::info!(
                    profiles = engine.index().len(),
                    "the index changed on disk; serving the new snapshot"
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!("checking the index for new commits: {e}"),
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the index refresh thread: {e}");
    }
}

/// The span of one request in the log: method, path and version. Never the query string (a
/// client may put a token there by mistake) nor any header; long paths are cut.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = req.uri().path();
    let path = match path.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &path[..cut]),
        None => path.to_string(),
    };
    tracing::span!(
        Level::INFO,
        "request",
        method = %req.method(),
        path = %path,
        version = ?req.version(),
    )
}

/// Answers 413 at once to a request whose `Content-Length` is over the limit, instead of
/// reading (or waiting for) a body it will refuse anyway. An error answer to a request with a
/// body says `Connection: close`: the body may be left unread (a 413, 415 or 401 answered
/// before it came), and a client must not send its next request on that connection.
async fn refuse_declared_oversize(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    max_body: usize,
) -> Response {
    let headers = req.headers();
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let has_body = declared.is_some_and(|n| n > 0)
        || headers.contains_key(axum::http::header::TRANSFER_ENCODING);
    let mut response = if declared.is_some_and(|n| n > max_body as u64) {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the server's limit (see `--max-body`)",
        )
        .into_response()
    } else {
        next.run(req).await
    };
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "no endpoint {}; see GET /openapi.json for the endpoints",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    )
}

fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::internal(&format!("handler panicked: {what}")).into_response()
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting connections and
/// waits (up to `grace`) for in-flight requests to finish. Connections speak HTTP/1.1; a
/// client gets `header_timeout` to send each request's headers (from the moment the
/// connection waits for them, so an idle keep-alive connection is closed after it too), and
/// the router's [`ServerOptions::read_timeout`] bounds the body.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    header_timeout: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum::serve does.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("in-flight requests still running after {grace:?}; stopping anyway");
        }
    }
    Ok(())
}

/// [`serve_with`] with the default header timeout ([`READ_TIMEOUT`]).
pub async fn serve_with_grace(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, grace, READ_TIMEOUT).await
}

/// [`serve_with_grace`] with a 30-second grace period.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_grace(listener, app, shutdown, Duration::from_secs(30)).await
}
