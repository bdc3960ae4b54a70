//! The browser client on the local network (`bench localnet --web`): a loopback HTTP server
//! for the demo chat page (`client-wasm/web`), the page's ES module and worker
//! (`client-wasm/js`), the WebAssembly package (`client-wasm/pkg`, built by
//! `client-wasm/build` when missing), and `config.json`: the validators' URLs, a funded test
//! account's key (the next one of [`defaults::WEB_ACCOUNTS`] for each request, or
//! `?account=N`), the bandwidth to buy and the clients' timing.
//!
//! The test accounts' keys are handed to any page that asks: this is for a local network on
//! loopback only.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::services::ServeDir;

use crate::options::defaults;
use crate::{Error, Network};

/// The browser client's directory in the workspace.
pub fn package_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("client-wasm"), |w| w.join("client-wasm"))
}

/// Builds the package with `client-wasm/build` (which installs the wasm32 target and the
/// matching wasm-bindgen-cli when missing). `always`: even if a build is there (cargo makes a
/// fresh build quick); otherwise only when it is missing.
pub async fn build_package(always: bool) -> Result<PathBuf, Error> {
    let root = package_root();
    let wasm = root.join("pkg").join("client_wasm_bg.wasm");
    if !always && wasm.exists() {
        return Ok(root);
    }
    eprintln!("localnet: building the browser client (client-wasm/build)");
    let mut command = tokio::process::Command::new(root.join("build"));
    // The build's cargo must not take the running package's variables for its own.
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str() {
            if k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR" {
                command.env_remove(k);
            }
        }
    }
    let status = command
        .status()
        .await
        .map_err(|e| Error::binaries(format!("{}: {e}", root.join("build").display())))?;
    if !status.success() || !wasm.exists() {
        return Err(Error::binaries(format!(
            "client-wasm/build failed ({status}); run it by hand to see why"
        )));
    }
    Ok(root)
}

/// What `config.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    /// The validators' API URLs.
    pub validators: Vec<String>,
    /// A funded account's secret key, hex.
    pub account_key: String,
    /// Bandwidth to buy (bytes).
    pub bandwidth: u64,
    /// The clients' timing (`MixnetClient.start`'s `timing`).
    pub timing: PageTiming,
}

/// The clients' timing, as the page's options name it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PageTiming {
    /// Mean real-stream gap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_gap_ms: Option<f64>,
    /// Mean loop-cover gap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loop_cover_gap_ms: Option<f64>,
    /// Mean per-hop delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_hop_delay_ms: Option<f64>,
}

struct Served {
    validators: Vec<String>,
    accounts: Vec<String>,
    next: AtomicUsize,
    bandwidth: u64,
    timing: PageTiming,
}

#[derive(Deserialize)]
struct Pick {
    account: Option<usize>,
}

async fn config(State(served): State<Arc<Served>>, Query(pick): Query<Pick>) -> impl IntoResponse {
    let i = pick
        .account
        .unwrap_or_else(|| served.next.fetch_add(1, Ordering::Relaxed))
        % served.accounts.len().max(1);
    let body = PageConfig {
        validators: served.validators.clone(),
        account_key: served.accounts.get(i).cloned().unwrap_or_default(),
        bandwidth: served.bandwidth,
        timing: served.timing.clone(),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(body))
}

/// Answers only requests addressed to this server by its loopback name: a page of another
/// site that rebinds its DNS name to 127.0.0.1 cannot read the test accounts' keys.
async fn loopback_only(hosts: Arc<[String]>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if host.is_some_and(|h| hosts.iter().any(|allowed| allowed == h)) {
        next.run(request).await
    } else {
        StatusCode::MISDIRECTED_REQUEST.into_response()
    }
}

/// A running web server; dropping it stops it.
#[derive(Debug)]
pub struct WebServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl WebServer {
    /// Serves the page for `network` (started with `web`) from the package in `root`.
    pub async fn start(network: &Network, root: &Path) -> Result<WebServer, Error> {
        let mut accounts = Vec::new();
        for w in 0..defaults::WEB_ACCOUNTS {
            let key = network.account_key(&format!("w{w}"))?;
            accounts.push(key.to_bytes().iter().map(|b| format!("{b:02x}")).collect());
        }
        let timing = &network.options().client_timing;
        let served = Arc::new(Served {
            validators: network.validators().map(|v| v.url.clone()).collect(),
            accounts,
            next: AtomicUsize::new(0),
            bandwidth: network.options().bandwidth,
            timing: PageTiming {
                send_gap_ms: timing.send_gap_ms,
                loop_cover_gap_ms: timing.loop_cover_gap_ms,
                per_hop_delay_ms: timing.per_hop_delay_ms,
            },
        });
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| Error::io(format!("the web server: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(format!("the web server: {e}")))?;
        let hosts: Arc<[String]> = Arc::from(vec![
            format!("127.0.0.1:{}", addr.port()),
            format!("localhost:{}", addr.port()),
        ]);
        let app = Router::new()
            .route("/config.json", get(config))
            .with_state(served)
            .nest_service("/js", ServeDir::new(root.join("js")))
            .nest_service("/pkg", ServeDir::new(root.join("pkg")))
            .fallback_service(ServeDir::new(root.join("web")))
            .layer(axum::middleware::from_fn(move |request, next| {
                loopback_only(hosts.clone(), request, next)
            }));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("localnet: the web server stopped: {e}");
            }
        });
        Ok(WebServer { addr, task })
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
