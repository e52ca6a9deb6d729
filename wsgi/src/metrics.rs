//! A ready-made middleware serving the server's [`Stats`] in Prometheus'
//! text format and a readiness endpoint for balancers and Kubernetes probes.

use crate::stats::Stats;
use crate::{App, Body, Environ, StartResponse};
use std::sync::Arc;

/// Wraps an app: `GET metrics_path` answers the Prometheus text,
/// `GET health_path` answers `200 ok` while ready and `503 draining` once
/// the server is stopping (or [`Stats::set_ready(false)`](Stats::set_ready));
/// every other request goes to the app.
///
/// ```
/// use eventlet_wsgi::{metrics::Metrics, stats::Stats, Body, Environ, ServerOptions, StartResponse};
/// fn app(_: &mut Environ, sr: &mut StartResponse) -> Body {
///     sr.start("200 OK", [("Content-Type", "text/plain")]);
///     Body::from("hello\n")
/// }
/// let stats = Stats::new();
/// let site = Metrics::new(app, stats.clone()).metrics_path("/metrics").health_path("/healthz");
/// let opts = ServerOptions::new().stats(stats);
/// // eventlet_wsgi::server_with(listener, site, opts)
/// # let _ = (site, opts);
/// ```
pub struct Metrics<A> {
    app: A,
    stats: Arc<Stats>,
    metrics_path: Option<String>,
    health_path: Option<String>,
}

impl<A> std::fmt::Debug for Metrics<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("metrics_path", &self.metrics_path)
            .field("health_path", &self.health_path)
            .finish_non_exhaustive()
    }
}

impl<A: App> Metrics<A> {
    /// Wrap `app`; no paths are served until set.
    pub fn new(app: A, stats: Arc<Stats>) -> Self {
        Metrics {
            app,
            stats,
            metrics_path: None,
            health_path: None,
        }
    }

    /// Serve the Prometheus text at this path (e.g. `/metrics`).
    pub fn metrics_path(mut self, path: &str) -> Self {
        self.metrics_path = Some(path.to_string());
        self
    }

    /// Serve readiness at this path (e.g. `/healthz`).
    pub fn health_path(mut self, path: &str) -> Self {
        self.health_path = Some(path.to_string());
        self
    }
}

impl<A: App> App for Metrics<A> {
    fn call(&self, env: &mut Environ<'_>, sr: &mut StartResponse<'_>) -> Body {
        let path = env.get("PATH_INFO");
        let get = matches!(env.get("REQUEST_METHOD"), Some("GET" | "HEAD"));
        if get && path.is_some() && path == self.metrics_path.as_deref() {
            sr.start(
                "200 OK",
                [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
            );
            return Body::from(self.stats.prometheus());
        }
        if get && path.is_some() && path == self.health_path.as_deref() {
            let (status, body) = if self.stats.is_ready() {
                ("200 OK", "ok\n")
            } else {
                ("503 Service Unavailable", "draining\n")
            };
            sr.start(
                status,
                [
                    ("Content-Type", "text/plain"),
                    ("Cache-Control", "no-store"),
                ],
            );
            return Body::from(body);
        }
        self.app.call(env, sr)
    }
}
