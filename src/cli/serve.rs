//! `clustermatch serve`: the HTTP JSON service over the index (see `clustermatch::server`).
//! Settings: `--addr` > `[server] addr` in the config > `127.0.0.1:8080`; the write token from
//! `CLUSTERMATCH_TOKEN` > `[server] token`. Logs go to stderr (`RUST_LOG` filters them).

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use clustermatch::server::{self, ServerOptions};
use clustermatch::Engine;

use super::commands::{usage, Settings};

/// Default address of the service.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The longest read timeout accepted (a day).
const MAX_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(86_400);

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: `[server] addr` in the config, or 127.0.0.1:8080]. A
    /// non-loopback address needs a token (CLUSTERMATCH_TOKEN or `[server] token`).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = server::MAX_BODY)]
    pub max_body: usize,
    /// Largest `top` a match request may ask for.
    #[arg(long, value_name = "N", default_value_t = server::MAX_TOP)]
    pub max_top: usize,
    /// Most participants of one `POST /batch` (planning is bounded by this).
    #[arg(long, value_name = "N", default_value_t = server::batch::MAX_PARTICIPANTS)]
    pub max_participants: usize,
    /// Create an empty index when there is none at --index (to fill it with PUT /profiles).
    #[arg(long)]
    pub create: bool,
    /// How often to look for commits made by other processes (`clustermatch index` while the
    /// server runs), in milliseconds; 0 never looks.
    #[arg(long, value_name = "MS", default_value_t = server::REFRESH.as_millis() as u64)]
    pub refresh_ms: u64,
    /// Seconds a request's headers may take to arrive, and then its body; a client stalling
    /// mid-body gets 408, one stalling in its headers (or idle) is disconnected [default:
    /// `[server] read_timeout` in the config, or 30].
    #[arg(long, value_name = "SECONDS")]
    pub read_timeout: Option<f64>,
    /// Posting lists to decode ahead of the queries, in postings (about 3 bytes each): at start
    /// and after every write or reload, the longest lists are decoded in the background, so
    /// that the first queries do not pay for it. 0 decodes lists only when a query needs them.
    #[arg(long, value_name = "POSTINGS", default_value_t = clustermatch::index::cache::DEFAULT_WARM)]
    pub warm_postings: usize,
}

/// Runs the service until SIGTERM or Ctrl-C, then finishes in-flight requests.
pub fn run(settings: &Settings, a: &ServeArgs) -> Result<()> {
    init_logging();
    let token = match std::env::var("CLUSTERMATCH_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
        _ => settings.config.server.token.clone(),
    };
    if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(usage("[server] token must not be empty"));
    }
    let addr_text = a
        .addr
        .clone()
        .or_else(|| settings.config.server.addr.clone())
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let addr = resolve(&addr_text)?;
    server::check_bind(addr, token.is_some())?;
    if a.max_top == 0 || a.max_body == 0 || a.max_participants == 0 {
        return Err(usage(
            "--max-top, --max-body and --max-participants must be above 0",
        ));
    }
    let read_timeout = a
        .read_timeout
        .or(settings.config.server.read_timeout)
        .unwrap_or(server::READ_TIMEOUT.as_secs_f64());
    let read_timeout = std::time::Duration::try_from_secs_f64(read_timeout)
        .ok()
        .filter(|d| !d.is_zero() && *d <= MAX_READ_TIMEOUT)
        .ok_or_else(|| {
            usage(format!(
                "--read-timeout / [server] read_timeout must be above 0 and at most {} seconds, found {read_timeout}",
                MAX_READ_TIMEOUT.as_secs()
            ))
        })?;
    let engine = if a.create {
        Engine::open_or_create(&settings.index)?.with_params(settings.config.scoring.clone())?
    } else {
        settings.engine()?
    };
    let options = ServerOptions {
        token,
        max_body: a.max_body,
        max_top: a.max_top,
        default_top: settings.config.top.unwrap_or(10).min(a.max_top).max(1),
        max_participants: a.max_participants,
        refresh: std::time::Duration::from_millis(a.refresh_ms),
        read_timeout,
    };
    let writes_open = options.token.is_none();
    let profiles = engine.index().len();
    engine.index().keep_warm(a.warm_postings);
    let app = server::router(Arc::new(engine), options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        // One line on stdout for scripts and tests to learn the port (`--addr 127.0.0.1:0`).
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}")?;
        out.flush()?;
        drop(out);
        tracing::info!(
            %local,
            profiles,
            index = %settings.index.display(),
            writes = if writes_open { "open (no token)" } else { "token required" },
            "clustermatch serving"
        );
        server::serve_with(
            listener,
            app,
            shutdown_signal(),
            std::time::Duration::from_secs(30),
            read_timeout,
        )
        .await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Resolves `HOST:PORT` (a name such as `localhost` is looked up).
fn resolve(text: &str) -> Result<SocketAddr> {
    let mut addrs = text.to_socket_addrs().map_err(|e| {
        usage(format!(
            "--addr: cannot use \"{text}\" ({e}); give HOST:PORT such as 127.0.0.1:8080"
        ))
    })?;
    addrs
        .next()
        .ok_or_else(|| usage(format!("--addr: \"{text}\" resolves to no address")))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
