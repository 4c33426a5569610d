//! Replies: the model out of IPVS messages the kernel sent.

use netlink_packet_core::DecodeError;

use super::IpvsAttr;
use super::IpvsMessage;
use super::convert::{daemon_from_attrs, dest_from_attrs, service_from_attrs};
use crate::model::{AddressFamily, Destination, Info, Service, SyncDaemon, Timeouts, Version};

impl IpvsMessage {
    /// The service this message carries (replies to `GET_SERVICE`, or
    /// requests that name one).
    pub fn service(&self) -> Result<Option<Service>, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                IpvsAttr::Service(s) => Some(service_from_attrs(s)),
                _ => None,
            })
            .transpose()
    }

    /// The destination this message carries (replies to `GET_DEST`); its
    /// family defaults to `service_family` on kernels older than 3.18.
    pub fn destination(
        &self,
        service_family: AddressFamily,
    ) -> Result<Option<Destination>, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                IpvsAttr::Dest(d) => Some(dest_from_attrs(d, service_family)),
                _ => None,
            })
            .transpose()
    }

    /// The sync daemon this message carries (replies to `GET_DAEMON`).
    pub fn daemon(&self) -> Result<Option<SyncDaemon>, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                IpvsAttr::Daemon(d) => Some(daemon_from_attrs(d)),
                _ => None,
            })
            .transpose()
    }

    /// The timeouts this message carries (the reply to `GET_CONFIG`);
    /// absent ones are 0.
    pub fn timeouts(&self) -> Timeouts {
        let mut t = Timeouts::UNCHANGED;
        for a in &self.attrs {
            match a {
                IpvsAttr::TimeoutTcp(v) => t.tcp = *v,
                IpvsAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
                IpvsAttr::TimeoutUdp(v) => t.udp = *v,
                _ => {}
            }
        }
        t
    }

    /// The info this message carries (the reply to `GET_INFO`).
    pub fn info(&self) -> Result<Info, DecodeError> {
        let (mut version, mut size) = (None, None);
        for a in &self.attrs {
            match a {
                IpvsAttr::Version(v) => version = Some(*v),
                IpvsAttr::ConnTabSize(v) => size = Some(*v),
                _ => {}
            }
        }
        Ok(Info {
            version: Version::from_raw(version.ok_or("INFO without VERSION")?),
            connection_table_size: size.ok_or("INFO without CONN_TAB_SIZE")?,
        })
    }
}
