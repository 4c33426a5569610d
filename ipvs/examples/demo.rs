//! The main job: drive a real kernel's IPVS through the library.
//!
//! Creates a service with three destinations, prints the table as the
//! library reads it and as `ipvsadm -Ln` shows it, changes a weight, and
//! cleans up. Run it as root on a kernel with IPVS (`scripts/demo` boots one).

use std::process::Command;

use ipvs::client::Client;
use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey};

fn print_table(client: &Client, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    println!("== {title}: the table as the library reads it");
    for entry in client.snapshot()? {
        let s = &entry.service;
        println!(
            "{} {}{}",
            s.key,
            s.scheduler,
            match &s.persistence {
                Some(p) => format!(" persistent {}", p.timeout),
                None => String::new(),
            }
        );
        for d in &entry.destinations {
            println!(
                "  -> {:<22} {:<7} weight {}",
                d.socket_addr().to_string(),
                d.forward.to_string(),
                d.weight
            );
        }
    }
    println!("== {title}: the table as `ipvsadm -Ln` shows it");
    let out = Command::new("ipvsadm").arg("-Ln").output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new()?;
    let info = client.info()?;
    println!(
        "IPVS {} (connection table {} buckets)",
        info.version, info.connection_table_size
    );

    let key = ServiceKey::tcp("192.0.2.10:80".parse()?);
    let service = Service::new(key, Scheduler::WeightedRoundRobin).with_persistence(300);
    client.add_service(&service)?;
    for (i, addr) in ["198.51.100.11:80", "198.51.100.12:80", "198.51.100.13:80"]
        .iter()
        .enumerate()
    {
        let dest = Destination::new(addr.parse()?)
            .with_forward(ForwardMethod::Masquerade)
            .with_weight(i as u32 + 1);
        client.add_destination(&key, &dest)?;
    }
    print_table(&client, "after setup")?;

    let mut dest = client.destinations(&key)?.remove(0).config();
    dest.weight = 10;
    client.update_destination(&key, &dest)?;
    println!("changed the weight of {} to 10", dest.socket_addr());
    print_table(&client, "after the weight change")?;

    client.delete_service(&key)?;
    println!("cleaned up: {} services left", client.services()?.len());
    Ok(())
}
