//! YAML state files (`State::from_yaml`, `to_yaml`, feature `config`): the
//! written form is pinned (it is what `serde_yaml` wrote before the move to
//! `serde_norway`), enums read as one-key maps or names, and errors name the
//! field path and the line.

use ipvs::Timeouts;
use ipvs::state::{State, StateError};

/// Every shape of the format: persistence with a netmask, thresholds,
/// direct routing, GUE without checksum, a fwmark IPv6 service with GRE,
/// scheduler flags, a persistence engine, timeouts.
const RULES: &str = "\
-A -t 192.0.2.10:80 -s wrr -p 600 -M 255.255.255.0
-a -t 192.0.2.10:80 -r 198.51.100.21:80 -m -w 3 -x 100 -y 10
-a -t 192.0.2.10:80 -r 198.51.100.22:80 -g -w 1
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 198.51.100.23:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-A -f 7 -6 -s mh -b mh-port
-a -f 7 -6 -r [2001:db8::1]:0 -i -w 2 --tun-type gre --tun-csum
-A -t [2001:db8::10]:443 -s lc --pe sip
-a -t [2001:db8::10]:443 -r [2001:db8::2]:443 -m -w 0
";

const YAML: &str = "\
timeouts:
  tcp: 900
  tcp_fin: 120
  udp: 300
services:
- protocol: tcp
  address: 192.0.2.10
  port: 80
  scheduler: wrr
  persistence:
    timeout: 600
    netmask:
      v4: 255.255.255.0
  destinations:
  - address: 198.51.100.21
    port: 80
    forward: masquerade
    weight: 3
    upper_threshold: 100
    lower_threshold: 10
  - address: 198.51.100.22
    port: 80
    forward: direct_route
    weight: 1
- protocol: udp
  address: 192.0.2.10
  port: 53
  scheduler: sh
  flags: 28
  destinations:
  - address: 198.51.100.23
    port: 53
    forward:
      tunnel:
        type: gue
        port: 6080
        checksum: none
    weight: 1
- fwmark: 7
  family: ipv6
  scheduler: mh
  flags: 16
  destinations:
  - address: 2001:db8::1
    port: 0
    forward:
      tunnel:
        type: gre
        checksum: checksum
    weight: 2
- protocol: tcp
  address: 2001:db8::10
  port: 443
  scheduler: lc
  persistence_engine: sip
  destinations:
  - address: 2001:db8::2
    port: 443
    forward: masquerade
    weight: 0
";

fn state() -> State {
    let mut s = State::from_rules_text(RULES).unwrap();
    s.timeouts = Some(Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    });
    s
}

#[test]
fn writes_the_pinned_form_and_reads_it_back() {
    let s = state();
    assert_eq!(s.to_yaml().unwrap(), YAML);
    assert_eq!(State::from_yaml(YAML).unwrap(), s);
}

#[test]
fn enums_read_as_maps_or_names() {
    let yaml = "\
services:
  - {protocol: tcp, address: 192.0.2.10, port: 80, scheduler: rr,
     persistence: {timeout: 60, netmask: {v4: 255.255.0.0}},
     destinations: [
       {address: 198.51.100.1, port: 80, forward: direct_route},
       {address: 198.51.100.2, port: 80, forward: {tunnel: {type: ipip}}}]}
";
    let s = State::from_yaml(yaml).unwrap();
    assert_eq!(
        s.to_rules_text(),
        "\
-A -t 192.0.2.10:80 -s rr -p 60 -M 255.255.0.0
-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1
-a -t 192.0.2.10:80 -r 198.51.100.2:80 -i -w 1 --tun-type ipip
"
    );
}

fn yaml_error(text: &str) -> String {
    match State::from_yaml(text) {
        Err(e @ StateError::Yaml(_)) => e.to_string(),
        other => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn errors_name_the_field_and_the_line() {
    assert_eq!(
        yaml_error("services:\n  - {protocol: tcp, address: 192.0.2.10, port: 80}\n"),
        "YAML: services[0]: missing field `scheduler` at line 2 column 5"
    );
    let e = yaml_error(
        "services:\n  - protocol: tcp\n    address: 192.0.2.10\n    port: 80\n    scheduler: rr\n    destinations:\n      - {address: 198.51.100.1, port: 80, forward: {tunnel: {type: vxlan}}}\n",
    );
    assert!(
        e.starts_with(
            "YAML: services[0].destinations[0].forward.tunnel.type: unknown variant `vxlan`"
        ) && e.contains(" at line 7 column "),
        "{e}"
    );
    assert_eq!(
        yaml_error("services: 3"),
        "YAML: services: invalid type: integer `3`, expected a sequence at line 1 column 11"
    );
}

#[test]
fn duplicate_keys_are_refused() {
    // A key given twice is a mistake in the file, not "the last one wins".
    let e = yaml_error("timeouts: {tcp: 900, tcp: 60, tcp_fin: 120, udp: 300}\n");
    assert!(e.contains("duplicate field `tcp`"), "{e}");
    let e = yaml_error("services: []\nservices: []\n");
    assert!(e.contains("duplicate field `services`"), "{e}");
}
