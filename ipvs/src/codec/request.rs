//! Requests: one constructor per IPVS operation, from the model.
//!
//! Each builds the [`IpvsMessage`] the kernel expects. `NEW_SERVICE` and
//! `SET_SERVICE` are ipvsadm's requests byte for byte (but for libnl's
//! `NLA_F_NESTED` bit); elsewhere we send what the kernel reads and no
//! more (a service selector is its identity only, `DEL_DEST`'s and
//! `DEL_DAEMON`'s nests their identity, timeouts of 0 are left out, TUN_*
//! only for tunnels), in places in another attribute order: every
//! difference is listed and explained in `tests/golden.rs`. Framing it into
//! netlink bytes is [`frame`](super::frame)'s job; validation is the
//! caller's (the clients validate before building).

use std::net::IpAddr;

use super::convert::{addr_bytes, daemon_attrs, dest_attrs, service_attrs, service_key_attrs};
use super::{Command, IpvsAttr, IpvsMessage};
use crate::model::{DaemonState, Destination, Service, ServiceKey, SyncDaemon, Timeouts};

impl IpvsMessage {
    /// `NEW_SERVICE`: add `service`.
    pub fn new_service(service: &Service) -> Self {
        Self::new(
            Command::NEW_SERVICE,
            vec![IpvsAttr::Service(service_attrs(service))],
        )
    }

    /// `SET_SERVICE`: change the settings of an existing service.
    pub fn set_service(service: &Service) -> Self {
        Self::new(
            Command::SET_SERVICE,
            vec![IpvsAttr::Service(service_attrs(service))],
        )
    }

    /// `DEL_SERVICE`: delete a service and its destinations.
    pub fn del_service(key: &ServiceKey) -> Self {
        Self::new(
            Command::DEL_SERVICE,
            vec![IpvsAttr::Service(service_key_attrs(key))],
        )
    }

    /// `GET_SERVICE` for one service (or, sent as a dump, all of them: see
    /// [`IpvsMessage::get_services`]).
    pub fn get_service(key: &ServiceKey) -> Self {
        Self::new(
            Command::GET_SERVICE,
            vec![IpvsAttr::Service(service_key_attrs(key))],
        )
    }

    /// `GET_SERVICE` without a selector, to be sent as a dump.
    pub fn get_services() -> Self {
        Self::new(Command::GET_SERVICE, vec![])
    }

    /// `NEW_DEST`: add `dest` to the service `key`.
    pub fn new_dest(key: &ServiceKey, dest: &Destination) -> Self {
        Self::dest_command(Command::NEW_DEST, key, dest)
    }

    /// `SET_DEST`: change the settings of an existing destination.
    pub fn set_dest(key: &ServiceKey, dest: &Destination) -> Self {
        Self::dest_command(Command::SET_DEST, key, dest)
    }

    fn dest_command(command: Command, key: &ServiceKey, dest: &Destination) -> Self {
        Self::new(
            command,
            vec![
                IpvsAttr::Service(service_key_attrs(key)),
                IpvsAttr::Dest(dest_attrs(dest)),
            ],
        )
    }

    /// `DEL_DEST`: remove the destination `address`:`port` from the service `key`.
    pub fn del_dest(key: &ServiceKey, address: IpAddr, port: u16) -> Self {
        use super::DestAttr;
        Self::new(
            Command::DEL_DEST,
            vec![
                IpvsAttr::Service(service_key_attrs(key)),
                IpvsAttr::Dest(vec![
                    DestAttr::Addr(addr_bytes(&address)),
                    DestAttr::Port(port),
                    DestAttr::AddrFamily(crate::model::AddressFamily::of(&address).to_raw()),
                ]),
            ],
        )
    }

    /// `GET_DEST` (a dump): the destinations of the service `key`.
    pub fn get_dests(key: &ServiceKey) -> Self {
        Self::new(
            Command::GET_DEST,
            vec![IpvsAttr::Service(service_key_attrs(key))],
        )
    }

    /// `NEW_DAEMON`: start a sync daemon.
    pub fn new_daemon(daemon: &SyncDaemon) -> Self {
        Self::new(
            Command::NEW_DAEMON,
            vec![IpvsAttr::Daemon(daemon_attrs(daemon))],
        )
    }

    /// `DEL_DAEMON`: stop the sync daemon in `state`.
    pub fn del_daemon(state: DaemonState) -> Self {
        use super::DaemonAttr;
        Self::new(
            Command::DEL_DAEMON,
            vec![IpvsAttr::Daemon(vec![DaemonAttr::State(state.to_raw())])],
        )
    }

    /// `GET_DAEMON` (a dump): the running sync daemons.
    pub fn get_daemons() -> Self {
        Self::new(Command::GET_DAEMON, vec![])
    }

    /// `SET_CONFIG`: set the timeouts that are non-zero.
    pub fn set_config(t: &Timeouts) -> Self {
        let mut attrs = Vec::with_capacity(3);
        if t.tcp != 0 {
            attrs.push(IpvsAttr::TimeoutTcp(t.tcp));
        }
        if t.tcp_fin != 0 {
            attrs.push(IpvsAttr::TimeoutTcpFin(t.tcp_fin));
        }
        if t.udp != 0 {
            attrs.push(IpvsAttr::TimeoutUdp(t.udp));
        }
        Self::new(Command::SET_CONFIG, attrs)
    }

    /// `GET_CONFIG`: the timeouts.
    pub fn get_config() -> Self {
        Self::new(Command::GET_CONFIG, vec![])
    }

    /// `GET_INFO`: version and connection table size.
    pub fn get_info() -> Self {
        Self::new(Command::GET_INFO, vec![])
    }

    /// `ZERO`: zero the counters of one service, or of every service.
    pub fn zero(key: Option<&ServiceKey>) -> Self {
        let attrs = key
            .map(|k| vec![IpvsAttr::Service(service_key_attrs(k))])
            .unwrap_or_default();
        Self::new(Command::ZERO, attrs)
    }

    /// `FLUSH`: delete every service.
    pub fn flush() -> Self {
        Self::new(Command::FLUSH, vec![])
    }
}
