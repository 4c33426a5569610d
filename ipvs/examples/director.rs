//! One director of a failover pair: keepalived's VRRP for the VIPs, its role
//! driving the IPVS sync daemon (`ipvs::failover`), until SIGTERM or SIGINT.
//! The IPVS table is left as it is: give both directors the same one.
//!
//! ```text
//! cargo run --example director --features failover,config -- failover.yaml
//! ip netns exec lb1 target/debug/examples/director failover.yaml
//! ```
//!
//! The file holds [`ipvs::failover::Settings`] in YAML (or JSON). Each event
//! is printed on stdout as `<unix time in ms> <event>`; keepalived's own
//! output goes to stderr.

use std::time::{SystemTime, UNIX_EPOCH};

use ipvs::client::Client;
use ipvs::failover::{Event, Failover, Settings};
use tokio::signal::unix::{SignalKind, signal};

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: director SETTINGS.yaml")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let settings: Settings = serde_norway::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    settings.validate().map_err(|e| format!("{path}: {e}"))?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let client = Client::new()?;
    let log = std::sync::Arc::new(|line: &str| eprintln!("{} {line}", now_ms()));
    let failover = Failover::start_with_log(settings, client, log).await?;
    let mut events = failover.events();
    println!("{} started", now_ms());
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(Event::Ignored { .. }) => {}
                Ok(ev) => println!("{} {ev}", now_ms()),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("{} ({n} events lost)", now_ms())
                }
                Err(_) => break,
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    failover.stop().await;
    println!("{} stopped", now_ms());
    Ok(())
}
