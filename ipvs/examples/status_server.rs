//! The status server on its own: `/metrics` and the status page for the
//! IPVS table of this network namespace (or `--netns NAME`'s), until
//! Ctrl-C or SIGTERM. What `ipvsctl run --listen ADDR` will serve.
//!
//! ```text
//! cargo run -p ipvs-netlink --features status --example status_server -- \
//!     [--listen 127.0.0.1:9876] [--netns NAME] [--node-exporter] [--refresh SECS]
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipvs::client::{Client, Netns};
use ipvs::metrics::{Metrics, MetricsOptions};
use ipvs::status::{ServerOptions, StatusBoard, StatusServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:9876".parse()?;
    let mut netns = None;
    let mut options = MetricsOptions::default();
    let mut server_options = ServerOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--listen" => listen = value("--listen")?.parse()?,
            "--netns" => netns = Some(value("--netns")?),
            "--node-exporter" => options.node_exporter = true,
            "--refresh" => {
                server_options.refresh = Duration::from_secs(value("--refresh")?.parse()?)
            }
            "--title" => server_options.title = value("--title")?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let client = match &netns {
        Some(name) => Client::builder().netns(Netns::named(name)?).build()?,
        None => Client::new()?,
    };
    let metrics = Arc::new(Metrics::for_client(client, options));
    let board = StatusBoard::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = StatusServer::bind(listen, metrics, board, server_options).await?;
        eprintln!("status server on http://{}/", server.local_addr()?);
        server.serve(stop_signal()).await
    })?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
