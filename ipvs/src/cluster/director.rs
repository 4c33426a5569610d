//! The director side: the VIP, forwarding for NAT, and the IPVS services.

use std::net::IpAddr;
use std::path::PathBuf;

use super::engine::{self, Ctx, Want};
use super::journal::{Change, Journal};
use super::{Check, Error, Netns, Outcome, Place, Status, Sysctl};
use crate::client::{self, Client};
use crate::{Destination, ForwardMethod, Service, ServiceKey};

/// An IPVS service and the destinations a [`DirectorSetup`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The service.
    pub service: Service,
    /// Its destinations.
    pub destinations: Vec<Destination>,
}

/// What an IPVS director needs:
///
/// - the VIP on the interface clients reach it through (a /32 or /128
///   unless told otherwise), added *last*, once the services are ready,
///   and removed *first* by the teardown: after it the address is gone, so
///   nothing answers ARP for it and clients cannot reach it any more (the
///   "VIP not released after stop" of many LVS scripts);
/// - for NAT, `net.ipv4.ip_forward=1` (`net.ipv6.conf.all.forwarding=1`
///   for an IPv6 VIP), since replies from real servers are routed through
///   the director;
/// - optionally the IPVS services themselves ([`service`](Self::service)):
///   `apply()` creates the missing ones and adds missing destinations,
///   `teardown()` deletes what it created.
///
/// Like [`RealServerSetup`](super::RealServerSetup): idempotent, journaled,
/// reversible after a crash.
///
/// ```
/// use ipvs::cluster::DirectorSetup;
/// use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey};
/// let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
/// let lb = DirectorSetup::new("192.0.2.10".parse().unwrap(), "eth0")
///     .nat()
///     .service(
///         Service::new(key, Scheduler::WeightedRoundRobin),
///         [Destination::new("198.51.100.2:8080".parse().unwrap()).with_weight(2)],
///     );
/// assert_eq!(lb.owner(), "director 192.0.2.10");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorSetup {
    vip: IpAddr,
    interface: String,
    prefix_len: u8,
    forwarding: bool,
    services: Vec<ServiceSpec>,
    place: Place,
}

impl DirectorSetup {
    /// A director holding `vip` on `interface`, as a host address.
    pub fn new(vip: IpAddr, interface: impl Into<String>) -> Self {
        DirectorSetup {
            vip,
            interface: interface.into(),
            prefix_len: if vip.is_ipv4() { 32 } else { 128 },
            forwarding: false,
            services: Vec::new(),
            place: Place::default(),
        }
    }

    /// Give the VIP this prefix length rather than a host prefix.
    pub fn prefix_len(mut self, len: u8) -> Self {
        self.prefix_len = len;
        self
    }

    /// Turn IP forwarding on (needed for NAT).
    pub fn nat(mut self) -> Self {
        self.forwarding = true;
        self
    }

    /// Manage this IPVS service and its destinations too. For direct
    /// routing and tunnels the destinations take the service's port, as
    /// the kernel uses that one anyway.
    pub fn service(
        mut self,
        service: Service,
        destinations: impl IntoIterator<Item = Destination>,
    ) -> Self {
        let port = service.key.port();
        let destinations = destinations
            .into_iter()
            .map(|mut d| {
                if let (Some(p), false) = (port, matches!(d.forward, ForwardMethod::Masquerade)) {
                    d.port = p;
                }
                d
            })
            .collect();
        self.services.push(ServiceSpec {
            service,
            destinations,
        });
        self
    }

    /// Act in this network namespace.
    pub fn netns(mut self, netns: Netns) -> Self {
        self.place.netns = netns;
        self
    }

    /// Keep the journal in this directory.
    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.place.journal_dir = dir.into();
        self
    }

    /// The VIP.
    pub fn vip(&self) -> IpAddr {
        self.vip
    }

    /// The services this setup manages.
    pub fn services(&self) -> &[ServiceSpec] {
        &self.services
    }

    /// The name this setup has in the journal.
    pub fn owner(&self) -> String {
        format!("director {}", self.vip)
    }

    fn wants(&self) -> Vec<Want> {
        let mut wants = Vec::new();
        if self.forwarding {
            let s = if self.vip.is_ipv4() {
                Sysctl::ip_forward()
            } else {
                Sysctl::ipv6_forwarding()
            };
            wants.push(Want::sysctl(s, &["1"], "1"));
        }
        wants.push(Want::Address {
            interface: self.interface.clone(),
            address: self.vip,
            prefix_len: self.prefix_len,
        });
        wants
    }

    /// Put everything in place: forwarding, the IPVS services, then the VIP.
    /// A second call changes nothing.
    pub fn apply(&self) -> Result<Outcome, Error> {
        let wants = self.wants();
        let owner = self.owner();
        let services = self.services.clone();
        self.place.run(move |j| {
            let mut ctx = Ctx::default();
            let (before_vip, vip) = wants.split_at(wants.len() - 1);
            let mut out = engine::apply(before_vip, &owner, j, &mut ctx)?;
            if !services.is_empty() {
                let client = Client::new()?;
                for spec in &services {
                    apply_service(&client, spec, &owner, j, &mut out)?;
                }
            }
            let last = engine::apply(vip, &owner, j, &mut ctx)?;
            out.changed.extend(last.changed);
            out.unchanged.extend(last.unchanged);
            Ok(out)
        })
    }

    /// What is in place and what is missing.
    pub fn status(&self) -> Result<Status, Error> {
        let wants = self.wants();
        let owner = self.owner();
        let services = self.services.clone();
        self.place.run(move |j| {
            let mut status = engine::status(&wants, &owner, j, &mut Ctx::default())?;
            if !services.is_empty() {
                let client = Client::new()?;
                for spec in &services {
                    status
                        .checks
                        .extend(service_checks(&client, spec, &owner, j)?);
                }
            }
            Ok(status)
        })
    }

    /// Undo what `apply()` did, from the journal: the VIP first, then the
    /// services it created and the destinations it added, then forwarding.
    pub fn teardown(&self) -> Result<Outcome, Error> {
        let owner = self.owner();
        self.place.run(move |j| {
            let mut client: Option<Client> = None;
            engine::teardown(&owner, j, &mut Ctx::default(), |change, out| {
                if client.is_none() {
                    client = Some(Client::new()?);
                }
                let c = client.as_ref().expect("just opened");
                match change {
                    Change::IpvsService { service } => match c.delete_service(service) {
                        Ok(()) => out.changed.push(format!("deleted ipvs service {service}")),
                        Err(client::Error::ServiceNotFound { .. }) => out
                            .unchanged
                            .push(format!("ipvs service {service}: already gone")),
                        Err(e) => return Err(e.into()),
                    },
                    Change::IpvsDestination {
                        service,
                        destination,
                    } => match c.delete_destination(service, *destination) {
                        Ok(()) => out
                            .changed
                            .push(format!("deleted {destination} from {service}")),
                        Err(
                            client::Error::DestinationNotFound { .. }
                            | client::Error::ServiceNotFound { .. },
                        ) => out
                            .unchanged
                            .push(format!("{destination} of {service}: already gone")),
                        Err(e) => return Err(e.into()),
                    },
                    _ => {}
                }
                Ok(())
            })
        })
    }
}

fn same_settings(a: &Destination, b: &Destination) -> bool {
    a.weight == b.weight
        && a.forward.to_raw() == b.forward.to_raw()
        && a.forward.tunnel().map(|t| t.type_raw()) == b.forward.tunnel().map(|t| t.type_raw())
        && a.upper_threshold == b.upper_threshold
        && a.lower_threshold == b.lower_threshold
}

fn same_service(a: &Service, b: &Service) -> bool {
    a.scheduler == b.scheduler
        && a.persistence == b.persistence
        && a.flags.difference(crate::ServiceFlags::HASHED)
            == b.flags.difference(crate::ServiceFlags::HASHED)
        && a.persistence_engine == b.persistence_engine
}

fn find_service(client: &Client, key: &ServiceKey) -> Result<Option<Service>, Error> {
    match client.service(key) {
        Ok(s) => Ok(Some(s)),
        Err(client::Error::ServiceNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn apply_service(
    client: &Client,
    spec: &ServiceSpec,
    owner: &str,
    j: &mut Journal,
    out: &mut Outcome,
) -> Result<(), Error> {
    let key = spec.service.key;
    let svc_change = Change::IpvsService { service: key };
    let ours = j.find(&svc_change.key()).is_some();
    match find_service(client, &key)? {
        None => {
            j.record(svc_change, owner)?;
            client.add_service(&spec.service)?;
            out.changed.push(format!(
                "created ipvs service {key} ({})",
                spec.service.scheduler.name()
            ));
        }
        Some(have) => {
            if ours {
                j.adopt(&svc_change.key(), owner)?;
            }
            if !same_service(&have, &spec.service) {
                if ours {
                    client.update_service(&spec.service)?;
                    out.changed.push(format!("updated ipvs service {key}"));
                } else {
                    out.unchanged.push(format!(
                        "ipvs service {key}: exists with other settings and is not ours: left alone"
                    ));
                }
            } else {
                out.unchanged
                    .push(format!("ipvs service {key}: already in place"));
            }
        }
    }
    let have = client.destinations(&key)?;
    for d in &spec.destinations {
        let addr = d.socket_addr();
        match have.iter().find(|h| h.socket_addr() == addr) {
            None => {
                // Inside a service of ours the destination goes with it.
                if j.find(&Change::IpvsService { service: key }.key())
                    .is_none()
                {
                    j.record(
                        Change::IpvsDestination {
                            service: key,
                            destination: addr,
                        },
                        owner,
                    )?;
                }
                client.add_destination(&key, d)?;
                out.changed
                    .push(format!("added {addr} to {key} (weight {})", d.weight));
            }
            Some(h) if !same_settings(h, d) => {
                client.update_destination(&key, d)?;
                out.changed.push(format!(
                    "updated {addr} of {key} (weight {} -> {})",
                    h.weight, d.weight
                ));
            }
            Some(_) => out
                .unchanged
                .push(format!("{addr} of {key}: already in place")),
        }
    }
    Ok(())
}

fn service_checks(
    client: &Client,
    spec: &ServiceSpec,
    owner: &str,
    j: &Journal,
) -> Result<Vec<Check>, Error> {
    let key = spec.service.key;
    let recorded = |c: Change| j.find(&c.key()).is_some_and(|e| e.owners.contains(owner));
    let svc_recorded = recorded(Change::IpvsService { service: key });
    let mut checks = Vec::new();
    let have = find_service(client, &key)?;
    checks.push(Check {
        item: format!("ipvs service {key}"),
        wanted: format!("present, {}", spec.service.scheduler.name()),
        actual: match &have {
            Some(s) => format!("present, {}", s.scheduler.name()),
            None => "absent".into(),
        },
        ok: have
            .as_ref()
            .is_some_and(|h| same_service(h, &spec.service)),
        recorded: svc_recorded,
    });
    let dests = if have.is_some() {
        client.destinations(&key)?
    } else {
        Vec::new()
    };
    for d in &spec.destinations {
        let addr = d.socket_addr();
        let h = dests.iter().find(|h| h.socket_addr() == addr);
        checks.push(Check {
            item: format!("ipvs destination {addr} of {key}"),
            wanted: format!("{} weight {}", d.forward, d.weight),
            actual: h
                .map(|h| format!("{} weight {}", h.forward, h.weight))
                .unwrap_or_else(|| "absent".into()),
            ok: h.is_some_and(|h| same_settings(h, d)),
            recorded: svc_recorded
                || recorded(Change::IpvsDestination {
                    service: key,
                    destination: addr,
                }),
        });
    }
    Ok(checks)
}
