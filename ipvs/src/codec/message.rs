use netlink_packet_core::{DecodeError, Emitable, NlasIterator, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use super::nla::{emit_nested, nested_len};
use super::{Command, IpvsAttr};

/// The generic-netlink family name of IPVS.
pub const FAMILY_NAME: &str = "IPVS";
/// The family version this codec speaks (`IPVS_GENL_VERSION`).
pub const FAMILY_VERSION: u8 = 1;

/// One IPVS generic-netlink message: a command and its attributes.
///
/// It is the payload of a [`netlink_packet_generic::GenlMessage`]; requests
/// are built by the constructors in [`request`](super::request), replies
/// read with the accessors in [`reply`](super::reply).
///
/// ```
/// use ipvs::codec::{Command, IpvsMessage};
/// let msg = IpvsMessage::get_info();
/// assert_eq!(msg.command, Command::GET_INFO);
/// assert!(msg.attrs.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub command: Command,
    /// The top-level attributes, in order.
    pub attrs: Vec<IpvsAttr>,
}

impl IpvsMessage {
    /// A message with `command` and `attrs`.
    pub fn new(command: Command, attrs: Vec<IpvsAttr>) -> Self {
        IpvsMessage { command, attrs }
    }

    /// Parse the attributes following a generic-netlink header that carried `command`.
    pub fn parse(command: Command, payload: &[u8]) -> Result<Self, DecodeError> {
        let attrs = NlasIterator::new(payload)
            .map(|nla| nla.and_then(|nla| IpvsAttr::parse(command, &nla)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpvsMessage { command, attrs })
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }
    fn command(&self) -> u8 {
        self.command.0
    }
    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        nested_len(&self.attrs)
    }
    fn emit(&self, buffer: &mut [u8]) {
        emit_nested(&self.attrs, buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        IpvsMessage::parse(Command(header.cmd), buf)
    }
}
