//! The shared machinery of the setups: a list of wanted items, made true
//! by `apply` (journal first, change second), checked by `status`, and
//! undone by `teardown` from the journal alone.

use std::net::IpAddr;
use std::path::Path;

use netlink_packet_route::link::InfoKind;

use super::fou::Fou;
use super::journal::{Change, Journal};
use super::rtnl::Rtnl;
use super::{Check, Error, Outcome, Status, Sysctl};

/// Something a setup wants in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Want {
    /// `tunl0` exists (the `ipip` module is loaded and made it).
    Tunl0,
    /// The `fou` generic-netlink family exists (the `fou` module).
    FouModule,
    /// A GUE receive port.
    FouPort { port: u16, family: u8 },
    /// An interface is up.
    LinkUp { interface: String },
    /// A sysctl holds one of `accept`; `write` is what to write otherwise.
    Sysctl {
        name: Sysctl,
        accept: Vec<String>,
        write: String,
    },
    /// An address on an interface.
    Address {
        interface: String,
        address: IpAddr,
        prefix_len: u8,
    },
}

impl Want {
    pub(crate) fn sysctl(name: Sysctl, accept: &[&str], write: &str) -> Want {
        Want::Sysctl {
            name,
            accept: accept.iter().map(|s| (*s).to_owned()).collect(),
            write: write.to_owned(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Want::Tunl0 => "interface tunl0 (module ipip)".into(),
            Want::FouModule => "fou family (module fou)".into(),
            Want::FouPort { port, .. } => format!("gue port {port}"),
            Want::LinkUp { interface } => format!("link {interface} up"),
            Want::Sysctl { name, .. } => format!("sysctl {name}"),
            Want::Address {
                interface,
                address,
                prefix_len,
            } => {
                format!("address {address}/{prefix_len} on {interface}")
            }
        }
    }

    /// The journal key of the change that makes this item true.
    fn key(&self) -> Option<String> {
        let change = match self {
            Want::Tunl0 => Change::Link {
                interface: "tunl0".into(),
                link_kind: "ipip".into(),
            },
            Want::FouModule => return None,
            Want::FouPort { port, family } => Change::FouPort {
                port: *port,
                family: *family,
            },
            Want::LinkUp { interface } => Change::LinkUp {
                interface: interface.clone(),
            },
            Want::Sysctl { name, .. } => Change::Sysctl {
                name: name.clone(),
                prior: String::new(),
                value: String::new(),
            },
            Want::Address {
                interface,
                address,
                prefix_len,
            } => Change::Address {
                interface: interface.clone(),
                address: *address,
                prefix_len: *prefix_len,
            },
        };
        Some(change.key())
    }
}

/// Lazily opened sockets of one namespace.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    rtnl: Option<Rtnl>,
    fou: Option<Fou>,
}

impl Ctx {
    pub(crate) fn rtnl(&mut self) -> Result<&mut Rtnl, Error> {
        if self.rtnl.is_none() {
            self.rtnl = Some(Rtnl::open()?);
        }
        Ok(self.rtnl.as_mut().expect("just opened"))
    }

    fn fou(&mut self) -> Result<Option<&mut Fou>, Error> {
        if self.fou.is_none() {
            self.fou = Fou::open()?;
        }
        Ok(self.fou.as_mut())
    }

    fn address_present(
        &mut self,
        interface: &str,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<bool, Error> {
        let Some(link) = self.rtnl()?.link(interface)? else {
            return Ok(false);
        };
        Ok(self
            .rtnl()?
            .find_address(address)?
            .iter()
            .any(|a| a.index == link.index && a.prefix_len == prefix_len))
    }
}

/// Make every item true, recording each change before making it.
pub(crate) fn apply(
    wants: &[Want],
    owner: &str,
    j: &mut Journal,
    ctx: &mut Ctx,
) -> Result<Outcome, Error> {
    let mut out = Outcome {
        owner: owner.to_owned(),
        journal: j.path().to_owned(),
        ..Outcome::default()
    };
    for want in wants {
        let in_place = check(want, ctx)?.ok;
        if in_place {
            // Someone's change (ours from an earlier run, or another setup's)
            // that this setup now relies on too; else it was there before us.
            let adopted = match want.key() {
                Some(k) => j.adopt(&k, owner)?,
                None => false,
            };
            out.unchanged.push(format!(
                "{}: already in place{}",
                want.describe(),
                if adopted {
                    " (recorded)"
                } else {
                    " (not ours: left alone on teardown)"
                }
            ));
            continue;
        }
        make(want, owner, j, ctx, &mut out)?;
    }
    Ok(out)
}

fn make(
    want: &Want,
    owner: &str,
    j: &mut Journal,
    ctx: &mut Ctx,
    out: &mut Outcome,
) -> Result<(), Error> {
    match want {
        Want::Tunl0 => {
            let loaded_before = Path::new("/sys/module/ipip").exists();
            let change = Change::Link {
                interface: "tunl0".into(),
                link_kind: "ipip".into(),
            };
            let key = change.key();
            j.record(change, owner)?;
            // Asking rtnetlink for an ipip link loads the module on demand
            // (`rtnl-link-ipip`); the module then makes tunl0 itself.
            let made = ctx.rtnl()?.create_link("tunl0", InfoKind::IpIp);
            match made {
                Ok(true) => out.changed.push("created interface tunl0 (ipip)".into()),
                Ok(false) => j.release(&key, owner)?,
                Err(e) => {
                    j.release(&key, owner)?;
                    if let Err(why) = super::modprobe("ipip") {
                        return Err(Error::ModuleUnavailable {
                            module: "ipip".into(),
                            detail: format!("rtnetlink said: {e}; {why}"),
                        });
                    }
                }
            }
            if ctx.rtnl()?.link("tunl0")?.is_none() {
                return Err(Error::ModuleUnavailable {
                    module: "ipip".into(),
                    detail: "loaded, but made no tunl0 in this namespace \
                             (net.core.fb_tunnels_only_for_init_net?)"
                        .into(),
                });
            }
            if !loaded_before && Path::new("/sys/module/ipip").exists() {
                j.record(
                    Change::Module {
                        name: "ipip".into(),
                    },
                    owner,
                )?;
                out.changed
                    .push("loaded module ipip (kept loaded on teardown)".into());
            }
        }
        Want::FouModule => {
            let loaded_before = Path::new("/sys/module/fou").exists();
            if let Err(why) = super::modprobe("fou") {
                return Err(Error::ModuleUnavailable {
                    module: "fou".into(),
                    detail: why,
                });
            }
            if ctx.fou()?.is_none() {
                return Err(Error::ModuleUnavailable {
                    module: "fou".into(),
                    detail: "loaded, but no \"fou\" generic netlink family".into(),
                });
            }
            if !loaded_before {
                j.record(Change::Module { name: "fou".into() }, owner)?;
                out.changed
                    .push("loaded module fou (kept loaded on teardown)".into());
            }
        }
        Want::FouPort { port, family } => {
            j.record(
                Change::FouPort {
                    port: *port,
                    family: *family,
                },
                owner,
            )?;
            let fou = ctx.fou()?.ok_or_else(|| Error::ModuleUnavailable {
                module: "fou".into(),
                detail: "no \"fou\" generic netlink family".into(),
            })?;
            fou.add_gue(*port, *family)?;
            out.changed.push(format!("opened gue port {port}"));
        }
        Want::LinkUp { interface } => {
            let link = ctx.rtnl()?.require_link(interface)?;
            j.record(
                Change::LinkUp {
                    interface: interface.clone(),
                },
                owner,
            )?;
            ctx.rtnl()?.set_link_up(link.index, true)?;
            out.changed.push(format!("set link {interface} up"));
        }
        Want::Sysctl {
            name,
            accept,
            write,
        } => {
            let prior = name.read()?;
            // An entry already there (the value drifted since) keeps its
            // original prior value: record() only adds the owner.
            j.record(
                Change::Sysctl {
                    name: name.clone(),
                    prior: prior.clone(),
                    value: write.clone(),
                },
                owner,
            )?;
            name.write(write)?;
            debug_assert!(accept.contains(write));
            out.changed
                .push(format!("set sysctl {name} {prior} -> {write}"));
        }
        Want::Address {
            interface,
            address,
            prefix_len,
        } => {
            let link = ctx.rtnl()?.require_link(interface)?;
            j.record(
                Change::Address {
                    interface: interface.clone(),
                    address: *address,
                    prefix_len: *prefix_len,
                },
                owner,
            )?;
            ctx.rtnl()?.add_address(link.index, *address, *prefix_len)?;
            out.changed.push(format!(
                "added address {address}/{prefix_len} on {interface}"
            ));
        }
    }
    Ok(())
}

/// Whether an item is in place, and what the system has.
pub(crate) fn check(want: &Want, ctx: &mut Ctx) -> Result<Check, Error> {
    let (wanted, actual, ok) = match want {
        Want::Tunl0 => {
            let there = ctx.rtnl()?.link("tunl0")?.is_some();
            ("present".to_owned(), present(there), there)
        }
        Want::FouModule => {
            let there = ctx.fou()?.is_some();
            ("present".to_owned(), present(there), there)
        }
        Want::FouPort { port, family } => {
            let ports = match ctx.fou()? {
                Some(f) => f.ports()?,
                None => Vec::new(),
            };
            let found = ports
                .iter()
                .find(|p| p.port == *port && p.family == *family);
            let actual = match found {
                Some(p) if p.gue => "gue".to_owned(),
                Some(_) => "fou (not gue)".to_owned(),
                None => "absent".to_owned(),
            };
            ("gue".to_owned(), actual, found.is_some_and(|p| p.gue))
        }
        Want::LinkUp { interface } => match ctx.rtnl()?.link(interface)? {
            Some(l) => (
                "up".to_owned(),
                if l.up { "up" } else { "down" }.to_owned(),
                l.up,
            ),
            None => ("up".to_owned(), "no such interface".to_owned(), false),
        },
        Want::Sysctl { name, accept, .. } => {
            let v = name.read_opt()?;
            let ok = v.as_ref().is_some_and(|v| accept.contains(v));
            (
                accept.join(" or "),
                v.unwrap_or_else(|| "absent".into()),
                ok,
            )
        }
        Want::Address {
            interface,
            address,
            prefix_len,
        } => {
            let there = ctx.address_present(interface, *address, *prefix_len)?;
            ("present".to_owned(), present(there), there)
        }
    };
    Ok(Check {
        item: want.describe(),
        wanted,
        actual,
        ok,
        recorded: false,
    })
}

fn present(b: bool) -> String {
    if b { "present" } else { "absent" }.to_owned()
}

/// Check every item.
pub(crate) fn status(
    wants: &[Want],
    owner: &str,
    j: &Journal,
    ctx: &mut Ctx,
) -> Result<Status, Error> {
    let mut checks = Vec::new();
    for want in wants {
        let mut c = check(want, ctx)?;
        c.recorded = want
            .key()
            .and_then(|k| j.find(&k))
            .is_some_and(|e| e.owners.contains(owner));
        checks.push(c);
    }
    Ok(Status {
        owner: owner.to_owned(),
        checks,
    })
}

/// Undo, newest first, every change `owner` holds alone, and let go of the
/// ones others still rely on. `ipvs` undoes the IPVS entries (the director
/// passes its client; real servers have none).
pub(crate) fn teardown(
    owner: &str,
    j: &mut Journal,
    ctx: &mut Ctx,
    mut ipvs: impl FnMut(&Change, &mut Outcome) -> Result<(), Error>,
) -> Result<Outcome, Error> {
    let mut out = Outcome {
        owner: owner.to_owned(),
        journal: j.path().to_owned(),
        ..Outcome::default()
    };
    let mine: Vec<_> = j.owned_by(owner).cloned().collect();
    for entry in mine.into_iter().rev() {
        let key = entry.change.key();
        if entry.owners.len() > 1 {
            let others: Vec<_> = entry
                .owners
                .iter()
                .filter(|o| *o != owner)
                .cloned()
                .collect();
            out.unchanged
                .push(format!("{key}: still needed by {}", others.join(", ")));
        } else {
            undo(&entry.change, ctx, &mut out, &mut ipvs)?;
        }
        j.release(&key, owner)?;
    }
    Ok(out)
}

fn undo(
    change: &Change,
    ctx: &mut Ctx,
    out: &mut Outcome,
    ipvs: &mut impl FnMut(&Change, &mut Outcome) -> Result<(), Error>,
) -> Result<(), Error> {
    match change {
        Change::Sysctl { name, prior, value } => match name.read_opt()? {
            None => out.unchanged.push(format!("sysctl {name}: gone (its interface was removed)")),
            Some(now) if now == *value => {
                name.write(prior)?;
                out.changed.push(format!("restored sysctl {name} {now} -> {prior}"));
            }
            Some(now) if now == *prior => {
                out.unchanged.push(format!("sysctl {name}: already back at {prior}"))
            }
            Some(now) => out.unchanged.push(format!(
                "sysctl {name}: changed by someone else since (set {value}, now {now}): left at {now}, \
                 not restored to {prior}"
            )),
        },
        Change::Address { interface, address, prefix_len } => {
            match ctx.rtnl()?.link(interface)? {
                Some(link) if ctx.rtnl()?.delete_address(link.index, *address, *prefix_len)? => {
                    out.changed.push(format!("removed address {address}/{prefix_len} from {interface}"))
                }
                _ => out.unchanged.push(format!("address {address}/{prefix_len} on {interface}: already gone")),
            }
        }
        Change::LinkUp { interface } => match ctx.rtnl()?.link(interface)? {
            Some(l) if l.up => {
                ctx.rtnl()?.set_link_up(l.index, false)?;
                out.changed.push(format!("set link {interface} down"));
            }
            _ => out.unchanged.push(format!("link {interface}: already down or gone")),
        },
        Change::Link { interface, .. } => match ctx.rtnl()?.link(interface)? {
            Some(l) => {
                ctx.rtnl()?.delete_link(l.index)?;
                if ctx.rtnl()?.link(interface)?.is_some() {
                    out.unchanged.push(format!("interface {interface}: the module's own device, kept"));
                } else {
                    out.changed.push(format!("deleted interface {interface}"));
                }
            }
            None => out.unchanged.push(format!("interface {interface}: already gone")),
        },
        Change::FouPort { port, family } => {
            let removed = match ctx.fou()? {
                Some(f) => f.delete(*port, *family)?,
                None => false,
            };
            if removed {
                out.changed.push(format!("closed gue port {port}"));
            } else {
                out.unchanged.push(format!("gue port {port}: already closed"));
            }
        }
        Change::Module { name } => {
            out.unchanged.push(format!("module {name}: kept loaded (modules are shared by all namespaces)"))
        }
        Change::IpvsService { .. } | Change::IpvsDestination { .. } => ipvs(change, out)?,
    }
    Ok(())
}
