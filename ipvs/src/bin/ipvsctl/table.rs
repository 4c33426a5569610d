//! The human listing: `ipvs::listing`, laid out as `ipvsadm -Ln` lays it out.

use ipvs::Info;
use ipvs::listing::{self, ListOptions};
use ipvs::state::State;

/// The whole listing: header, then each service and its destinations.
pub fn listing(info: &Info, state: &State) -> String {
    listing::listing(info, &state.services, &ListOptions::default())
}
