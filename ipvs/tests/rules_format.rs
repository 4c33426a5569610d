//! ipvsadm's rules format: parsing, writing, errors.

use std::net::SocketAddr;

use ipvs::rules::{self, Rule, RulesErrorKind, WriteOptions};
use ipvs::state::State;
use ipvs::{
    AddressFamily, Destination, ForwardMethod, Netmask, Protocol, Scheduler, Service, ServiceFlags,
    ServiceKey, Timeouts, Tunnel, TunnelChecksum,
};
use proptest::prelude::*;

/// The example of `ipvsadm -S -n` output in IPVS-NOTES.md.
const NOTES_EXAMPLE: &str = "\
-A -t 192.0.2.10:80 -s wrr -p 600
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 9
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 192.0.2.23:53 -i -w 1 --tun-type ipip
-A --sctp-service 192.0.2.10:9999 -s lc -p 30 --pe sip
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 192.0.2.24:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn one(line: &str) -> Rule {
    line.parse::<Rule>()
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn err(text: &str) -> ipvs::rules::RulesError {
    rules::parse(text).expect_err(text)
}

#[test]
fn notes_example_lines_round_trip_one_by_one() {
    for line in NOTES_EXAMPLE.lines() {
        let rule = one(line);
        assert_eq!(rule.to_string(), line);
        assert_eq!(rules::write(&[rule]), format!("{line}\n"));
    }
}

#[test]
fn notes_example_round_trips_whole() {
    let parsed = rules::parse(NOTES_EXAMPLE).unwrap();
    assert_eq!(parsed.len(), 9);
    assert_eq!(rules::write(&parsed), NOTES_EXAMPLE);
}

#[test]
fn notes_example_means_what_it_says() {
    let r = rules::parse(NOTES_EXAMPLE).unwrap();
    let web = ServiceKey::tcp(sa("192.0.2.10:80"));
    assert_eq!(
        r[0],
        Rule::AddService {
            service: Service::new(web, Scheduler::WeightedRoundRobin).with_persistence(600)
        }
    );
    assert_eq!(
        r[1],
        Rule::AddDestination {
            service: web,
            dest: Destination::new(sa("192.0.2.21:80"))
                .with_forward(ForwardMethod::DirectRoute)
                .with_weight(9)
        }
    );
    let dns = ServiceKey::udp(sa("192.0.2.10:53"));
    assert_eq!(
        r[2],
        Rule::AddService {
            service: Service::new(dns, Scheduler::SourceHashing).with_flags(
                ServiceFlags::ONE_PACKET | ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT
            )
        }
    );
    assert_eq!(
        r[3],
        Rule::AddDestination {
            service: dns,
            dest: Destination::new(sa("192.0.2.23:53"))
                .with_forward(ForwardMethod::Tunnel(Tunnel::Ipip))
        }
    );
    let Rule::AddService { service: sip } = &r[4] else {
        panic!()
    };
    assert_eq!(sip.key, ServiceKey::sctp(sa("192.0.2.10:9999")));
    assert_eq!(sip.persistence_engine.as_deref(), Some("sip"));
    assert_eq!(sip.persistence.unwrap().timeout, 30);
    let Rule::AddService { service: v6 } = &r[5] else {
        panic!()
    };
    assert_eq!(v6.persistence.unwrap().netmask, Netmask::V6(64));
    assert_eq!(v6.key.family(), AddressFamily::Ipv6);
    let Rule::AddDestination { dest: d6, .. } = &r[6] else {
        panic!()
    };
    assert_eq!(
        (d6.port, d6.forward, d6.weight),
        (8443, ForwardMethod::Masquerade, 3)
    );
    let Rule::AddService { service: mark } = &r[7] else {
        panic!()
    };
    assert_eq!(mark.key, ServiceKey::fwmark(7));
    assert_eq!(mark.flags, ServiceFlags::MH_FALLBACK);
    let Rule::AddDestination { dest: gue, .. } = &r[8] else {
        panic!()
    };
    assert_eq!(
        gue.forward,
        ForwardMethod::Tunnel(Tunnel::Gue {
            port: 6080,
            checksum: TunnelChecksum::Remote
        })
    );
    assert_eq!(gue.port, 0);
}

#[test]
fn notes_example_as_a_state() {
    let state = State::from_rules_text(NOTES_EXAMPLE).unwrap();
    assert_eq!(state.services.len(), 5);
    assert_eq!(state.dest_count(), 4);
    // Written back in ipvsadm's listing order: the fwmark service last,
    // IPv4 before IPv6, TCP before UDP before SCTP.
    let written = rules::write(&state.to_rules());
    assert_eq!(
        written,
        "\
-A -t 192.0.2.10:80 -s wrr -p 600
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 9
-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.10:53 -r 192.0.2.23:53 -i -w 1 --tun-type ipip
-A --sctp-service 192.0.2.10:9999 -s lc -p 30 --pe sip
-A -t [2001:db8::10]:443 -s rr -p 60 -M 64
-a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3
-A -f 7 -s mh -b mh-fallback
-a -f 7 -r 192.0.2.24:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
"
    );
    assert_eq!(State::from_rules_text(&written).unwrap(), state);
}

#[test]
fn long_options_and_defaults() {
    let r = one("--add-service --tcp-service 192.0.2.10:80");
    assert_eq!(
        r,
        Rule::AddService {
            service: Service::new(
                ServiceKey::tcp(sa("192.0.2.10:80")),
                Scheduler::WeightedLeastConnection
            )
        }
    );
    assert_eq!(r.to_string(), "-A -t 192.0.2.10:80 -s wlc");

    // --persistent without a value: ipvsadm's 300 seconds.
    let r =
        one("-A --udp-service 192.0.2.10:0 --scheduler rr --persistent --netmask 255.255.255.0");
    let Rule::AddService { service } = &r else {
        panic!()
    };
    assert_eq!(service.persistence.unwrap().timeout, 300);
    assert_eq!(
        service.persistence.unwrap().netmask,
        Netmask::V4("255.255.255.0".parse().unwrap())
    );
    assert_eq!(
        r.to_string(),
        "-A -u 192.0.2.10:0 -s rr -p 300 -M 255.255.255.0"
    );

    // -p as the last option, and before another option.
    let Rule::AddService { service } = one("-A -t 192.0.2.10:80 -p") else {
        panic!()
    };
    assert_eq!(service.persistence.unwrap().timeout, 300);
    let Rule::AddService { service } = one("-A -t 192.0.2.10:80 -p -s rr") else {
        panic!()
    };
    assert_eq!(service.persistence.unwrap().timeout, 300);
    assert_eq!(service.scheduler, Scheduler::RoundRobin);

    // Dest defaults: direct routing, weight 1, the service's port.
    let r = one("--add-server --tcp-service 192.0.2.10:80 --real-server 192.0.2.21");
    assert_eq!(
        r,
        Rule::AddDestination {
            service: ServiceKey::tcp(sa("192.0.2.10:80")),
            dest: Destination::new(sa("192.0.2.21:80")).with_forward(ForwardMethod::DirectRoute)
        }
    );
    let r = one(
        "-a -t 192.0.2.10:80 -r 192.0.2.21:8080 --masquerading --weight 0 --u-threshold 100 --l-threshold 50",
    );
    let Rule::AddDestination { dest, .. } = &r else {
        panic!()
    };
    assert_eq!(
        (
            dest.port,
            dest.weight,
            dest.upper_threshold,
            dest.lower_threshold
        ),
        (8080, 0, 100, 50)
    );
    // ipvsadm's save drops thresholds; the complete writer keeps them.
    assert_eq!(
        r.to_string(),
        "-a -t 192.0.2.10:80 -r 192.0.2.21:8080 -m -w 0"
    );
    assert_eq!(
        rules::write_with(&[r], &WriteOptions::COMPLETE),
        "-a -t 192.0.2.10:80 -r 192.0.2.21:8080 -m -w 0 -x 100 -y 50\n"
    );

    // --ops, --pe, --sched-flags long forms.
    let Rule::UpdateService { service } = one(
        "--edit-service --udp-service 192.0.2.10:53 --scheduler mh --ops --sched-flags mh-port,flag-3 --pe sip",
    ) else {
        panic!()
    };
    assert_eq!(
        service.flags,
        ServiceFlags::ONE_PACKET | ServiceFlags::MH_PORT | ServiceFlags::SCHED3
    );
    assert_eq!(service.persistence_engine.as_deref(), Some("sip"));
}

#[test]
fn direct_routing_and_tunnels_take_the_service_port() {
    for (sw, fwd) in [
        ("-g", "-g"),
        ("--gatewaying", "-g"),
        ("-i", "-i"),
        ("--ipip", "-i"),
    ] {
        let r = one(&format!("-a -t 192.0.2.10:80 -r 192.0.2.21:8080 {sw}"));
        let Rule::AddDestination { dest, .. } = &r else {
            panic!()
        };
        assert_eq!(dest.port, 80, "{sw}");
        assert!(
            r.to_string()
                .starts_with(&format!("-a -t 192.0.2.10:80 -r 192.0.2.21:80 {fwd} -w 1"))
        );
    }
    // NAT keeps its own port; fwmark services keep the given port.
    let Rule::AddDestination { dest, .. } = one("-a -t 192.0.2.10:80 -r 192.0.2.21:8080 -m") else {
        panic!()
    };
    assert_eq!(dest.port, 8080);
    let Rule::AddDestination { dest, .. } = one("-a -f 5 -r 192.0.2.21:8080 -g") else {
        panic!()
    };
    assert_eq!(dest.port, 8080);
}

#[test]
fn every_command() {
    let text = "\
# a comment, then a blank line

ipvsadm -C
--set 900 120 300
-Z
-Z -t 192.0.2.10:80
-D -f 7 -6
-d -u [2001:db8::10]:53 -r [2001:db8::21]:53   # trailing comment
-e -t 192.0.2.10:80 -r 192.0.2.21:80 -w 0
--delete-service --fwmark-service 9
--zero --tcp-service 192.0.2.10:80
--clear
";
    let r = rules::parse_lines(text).unwrap();
    let lines: Vec<usize> = r.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let r: Vec<Rule> = r.into_iter().map(|p| p.rule).collect();
    assert_eq!(r[0], Rule::Clear);
    assert_eq!(
        r[1],
        Rule::SetTimeouts {
            timeouts: Timeouts::KERNEL_DEFAULTS
        }
    );
    assert_eq!(r[2], Rule::Zero { service: None });
    assert_eq!(
        r[4],
        Rule::DeleteService {
            service: ServiceKey::fwmark_v6(7)
        }
    );
    assert_eq!(
        r[5],
        Rule::DeleteDestination {
            service: ServiceKey::udp(sa("[2001:db8::10]:53")),
            dest: sa("[2001:db8::21]:53")
        }
    );
    assert_eq!(
        rules::write(&r),
        "\
-C
--set 900 120 300
-Z
-Z -t 192.0.2.10:80
-D -f 7 -6
-d -u [2001:db8::10]:53 -r [2001:db8::21]:53
-e -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 0
-D -f 9
-Z -t 192.0.2.10:80
-C
"
    );
}

#[test]
fn clusters_and_attached_values() {
    assert_eq!(
        one("-At 192.0.2.10:80 -srr"),
        one("-A -t 192.0.2.10:80 -s rr")
    );
    assert_eq!(
        one("-at192.0.2.10:80 -r192.0.2.21:80 -mw3"),
        one("-a -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 3")
    );
    assert_eq!(
        one("--add-server --tcp-service=192.0.2.10:80 --real-server=192.0.2.21 --weight=4"),
        one("-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 4")
    );
    assert_eq!(
        one("-A -t 192.0.2.10:80 -p600"),
        one("-A -t 192.0.2.10:80 -p 600")
    );
    assert_eq!(
        one("-A -t 192.0.2.10:80 --persistent=60"),
        one("-A -t 192.0.2.10:80 -p 60")
    );
}

#[test]
fn tunnels() {
    let cases = [
        ("-i", "-i -w 1 --tun-type ipip"),
        ("-i --tun-type ipip", "-i -w 1 --tun-type ipip"),
        (
            "-i --tun-type gue --tun-port 6080",
            "-i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum",
        ),
        (
            "-i --tun-type gue --tun-port 6080 --tun-csum",
            "-i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
        ),
        ("-i --tun-type gre", "-i -w 1 --tun-type gre --tun-nocsum"),
        (
            "-i --tun-type gre --tun-csum",
            "-i -w 1 --tun-type gre --tun-csum",
        ),
        (
            "-i --tun-type gre --tun-nocsum -w 5",
            "-i -w 5 --tun-type gre --tun-nocsum",
        ),
    ];
    for (opts, written) in cases {
        let r = one(&format!("-a -t 192.0.2.10:80 -r 192.0.2.21:80 {opts}"));
        assert_eq!(
            r.to_string(),
            format!("-a -t 192.0.2.10:80 -r 192.0.2.21:80 {written}"),
            "{opts}"
        );
    }
    // Tunnels may cross families.
    let Rule::AddDestination { dest, .. } = one("-a -t 192.0.2.10:80 -r [2001:db8::21]:80 -i")
    else {
        panic!()
    };
    assert!(dest.address.is_ipv6());
}

#[test]
fn fwmark_services() {
    assert_eq!(one("-A -f 0x10 -s rr").to_string(), "-A -f 16 -s rr");
    let Rule::AddService { service } = one("-A -f 3 -6 -s rr -p 10 -M 48") else {
        panic!()
    };
    assert_eq!(service.key, ServiceKey::fwmark_v6(3));
    assert_eq!(service.persistence.unwrap().netmask, Netmask::V6(48));
    assert_eq!(
        one("-A -f 3 --ipv6 -s rr -p 10 -M 48").to_string(),
        "-A -f 3 -6 -s rr -p 10 -M 48"
    );
    let Rule::AddDestination { dest, .. } = one("-a -f 3 -6 -r [2001:db8::5]:0 -m") else {
        panic!()
    };
    assert_eq!(dest.port, 0);
}

#[test]
fn scheduler_flag_names() {
    for (sched, flags, written) in [
        ("sh", "sh-port", "sh-port"),
        ("sh", "flag-3,sh-fallback", "sh-fallback,flag-3"),
        ("mh", "mh-port,mh-fallback", "mh-fallback,mh-port"),
        ("wrr", "flag-2", "flag-2"),
        ("rr", "flag-3,flag-1,flag-2", "flag-1,flag-2,flag-3"),
        // sh and mh name the same bits differently.
        ("sh", "flag-1", "sh-fallback"),
    ] {
        let r = one(&format!("-A -t 192.0.2.10:80 -s {sched} -b {flags}"));
        assert_eq!(
            r.to_string(),
            format!("-A -t 192.0.2.10:80 -s {sched} -b {written}")
        );
    }
}

#[test]
fn ipv6_addresses_print_as_inet_ntop_does() {
    for (given, written) in [
        ("[2001:DB8:0:0:0:0:0:10]:80", "[2001:db8::10]:80"),
        ("[::ffff:192.0.2.1]:80", "[::ffff:192.0.2.1]:80"),
        ("[::192.0.2.1]:80", "[::192.0.2.1]:80"),
        ("[::1]:80", "[::1]:80"),
        ("[2001:db8:0:1:0:0:0:1]:80", "[2001:db8:0:1::1]:80"),
        ("[2001:db8:0:0:1:0:0:1]:80", "[2001:db8::1:0:0:1]:80"),
    ] {
        let r = one(&format!("-A -t {given} -s rr"));
        assert_eq!(r.to_string(), format!("-A -t {written} -s rr"));
        assert_eq!(one(&r.to_string()), r);
    }
}

#[test]
fn errors_name_line_column_and_what_was_expected() {
    let e = err("-A -t 192.0.2.10:80 -s");
    assert_eq!((e.line, e.column), (1, 23));
    assert!(
        e.to_string().contains("-s: expected a scheduler name"),
        "{e}"
    );

    let e = err("\n\n-a -t 192.0.2.10:80 -r 192.0.2.21:80 -w heavy");
    assert_eq!((e.line, e.column), (3, 41));
    assert_eq!(
        e.to_string(),
        "line 3, column 41: -w: expected a weight (0 to 2147483647), found \"heavy\""
    );

    let e = err("-A -t 192.0.2.300:80");
    assert_eq!((e.line, e.column), (1, 7));
    assert!(e.to_string().contains("expected a service address"), "{e}");

    let e = err("-A -t 192.0.2.10:80 --frobnicate");
    assert_eq!(
        (e.column, e.kind.clone()),
        (21, RulesErrorKind::UnknownOption("--frobnicate".into()))
    );

    let e = err("-A -t 192.0.2.10:80 -Q");
    assert_eq!(
        (e.column, e.kind.clone()),
        (21, RulesErrorKind::UnknownOption("-Q".into()))
    );

    // The unknown letter of a cluster is pointed at.
    let e = err("-A -t 192.0.2.10:80 -oQ");
    assert_eq!(e.column, 22);

    let e = err("-t 192.0.2.10:80 -s rr");
    assert_eq!((e.column, e.kind.clone()), (1, RulesErrorKind::NoCommand));
    assert!(e.to_string().contains("expected a command"));

    let e = err("-A -a -t 192.0.2.10:80");
    assert_eq!(e.column, 4);
    assert!(matches!(e.kind, RulesErrorKind::SecondCommand { .. }));

    let e = err("-A -t 192.0.2.10:80 -u 192.0.2.10:53");
    assert_eq!(e.column, 21);
    assert_eq!(e.to_string(), "line 1, column 21: -u conflicts with -t");

    let e = err("-a -t 192.0.2.10:80 -r 192.0.2.21 -m -g");
    assert_eq!(e.column, 38);

    let e = err("-A -t 192.0.2.10:80 -s rr -s wrr");
    assert_eq!(e.to_string(), "line 1, column 27: -s given twice");

    let e = err("-A -t 192.0.2.10:80 -r 192.0.2.21");
    assert_eq!(
        e.to_string(),
        "line 1, column 21: -r is not an option of -A"
    );

    let e = err("-a -t 192.0.2.10:80 -w 2");
    assert_eq!(
        e.to_string(),
        "line 1, column 1: -a needs a real server: -r"
    );

    let e = err("-A -s rr");
    assert_eq!(e.column, 1);
    assert!(matches!(e.kind, RulesErrorKind::MissingOption { .. }));

    let e = err("-L -n");
    assert!(matches!(e.kind, RulesErrorKind::NotARule(_)), "{e}");

    let e = err("--set 900 120");
    assert_eq!(e.column, 14);
    assert!(e.to_string().contains("exactly three timeouts"));
    let e = err("--set 900 x 300");
    assert_eq!(e.column, 11);

    let e = err("-A -t 192.0.2.10:80 stray");
    assert_eq!(
        (e.column, e.kind.clone()),
        (21, RulesErrorKind::UnexpectedArgument("stray".into()))
    );

    let e = err("-A -t 192.0.2.10:80 -s -p");
    assert_eq!(e.column, 24);
    assert!(
        e.to_string()
            .contains("expected a scheduler name, found \"-p\""),
        "{e}"
    );
}

#[test]
fn ipvsadm_client_side_rules() {
    // Port 0 needs persistence.
    let e = err("-A -t 192.0.2.10:0 -s rr");
    assert_eq!(e.column, 4);
    assert!(e.to_string().contains("needs persistence"), "{e}");
    assert!(rules::parse("-A -t 192.0.2.10 -s rr -p").is_ok());
    // One-packet scheduling is for UDP.
    let e = err("-A -t 192.0.2.10:80 -s rr -o");
    assert_eq!(e.column, 27);
    assert!(rules::parse("-A -f 1 -s rr -o").is_ok());
    // sh-* and mh-* flags need their scheduler.
    let e = err("-A -t 192.0.2.10:80 -s rr -b sh-port");
    assert_eq!(e.column, 30);
    assert!(e.to_string().contains("sh scheduler"), "{e}");
    let e = err("-A -t 192.0.2.10:80 -s sh -b sh-port,mh-port");
    assert_eq!(e.column, 38);
    let e = err("-A -t 192.0.2.10:80 -s sh -b fallback");
    assert!(e.to_string().contains("found \"fallback\""), "{e}");
    // -6 is for fwmark services.
    let e = err("-A -t 192.0.2.10:80 -6");
    assert_eq!(e.column, 21);
    // Families mix only through tunnels.
    let e = err("-a -t 192.0.2.10:80 -r [2001:db8::1]:80 -m");
    assert_eq!(e.column, 21);
    // Tunnel options need -i, and fit their tunnel type.
    let e = err("-a -t 192.0.2.10:80 -r 192.0.2.21 -g --tun-type gue");
    assert_eq!(e.column, 38);
    let e = err("-a -t 192.0.2.10:80 -r 192.0.2.21 -i --tun-type gue");
    assert!(e.to_string().contains("needs --tun-port"), "{e}");
    let e = err("-a -t 192.0.2.10:80 -r 192.0.2.21 -i --tun-port 5");
    assert!(e.to_string().contains("tunnel type ipip"), "{e}");
    let e = err("-a -t 192.0.2.10:80 -r 192.0.2.21 -i --tun-type gre --tun-remcsum");
    assert_eq!(e.column, 53);
    let e = err(
        "-a -t 192.0.2.10:80 -r 192.0.2.21 -i --tun-type gue --tun-port 1 --tun-csum --tun-remcsum",
    );
    assert!(
        e.to_string()
            .contains("--tun-remcsum conflicts with --tun-csum"),
        "{e}"
    );
    // Netmasks fit the family.
    let e = err("-A -t 192.0.2.10:80 -p -M 64");
    assert_eq!(e.column, 27);
    let e = err("-A -t [2001:db8::1]:80 -p -M 255.255.255.0");
    assert!(e.to_string().contains("prefix length"), "{e}");
    // Thresholds in order (the kernel's rule, checked through the model).
    assert!(rules::parse("-a -t 192.0.2.10:80 -r 192.0.2.21 -x 10 -y 20").is_err());
    // Names are at most 15 bytes.
    let e = err("-A -t 192.0.2.10:80 -s a-very-long-scheduler");
    assert_eq!(e.column, 24);
}

#[test]
fn from_rules_text_reports_the_line_of_a_rule_that_cannot_apply() {
    let e = State::from_rules_text("-A -t 192.0.2.10:80\n\n-a -t 192.0.2.11:80 -r 192.0.2.21\n")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "rule on line 3: no service TCP 192.0.2.11:80"
    );
    let e = State::from_rules_text("-A -t 192.0.2.10:80\n-A -t 192.0.2.10:80 -s rr\n").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = State::from_rules_text("-A -t 192.0.2.10:80\n-A -t 192.0.2.10:80 -s\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "rules: line 2, column 23: -s: expected a scheduler name"
    );
}

#[test]
fn rules_run_like_ipvsadm_restore() {
    let state = State::from_rules_text(
        "\
-A -t 192.0.2.10:80 -s rr
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 2
-a -t 192.0.2.10:80 -r 192.0.2.22:80 -m -w 2
-A -t 192.0.2.11:80 -s rr
-E -t 192.0.2.10:80 -s wrr -p 60
-e -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 5
-d -t 192.0.2.10:80 -r 192.0.2.22:80
-D -t 192.0.2.11:80
--set 0 60 0
",
    )
    .unwrap();
    assert_eq!(
        state.to_rules_text(),
        "\
--set 0 60 0
-A -t 192.0.2.10:80 -s wrr -p 60
-a -t 192.0.2.10:80 -r 192.0.2.21:80 -m -w 5
"
    );
    let state = State::from_rules_text("-A -t 192.0.2.10:80\n-C\n").unwrap();
    assert!(state.services.is_empty());
}

// ---- property: whatever a valid state holds, its rules read back the same.

fn arb_v4() -> impl Strategy<Value = std::net::IpAddr> {
    (1u8..=254).prop_map(|n| std::net::IpAddr::from([192, 0, 2, n]))
}

fn arb_v6() -> impl Strategy<Value = std::net::IpAddr> {
    (any::<u16>(), any::<u16>())
        .prop_map(|(a, b)| std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, a, b]))
}

fn arb_tunnel() -> impl Strategy<Value = Tunnel> {
    let csum = prop_oneof![
        Just(TunnelChecksum::None),
        Just(TunnelChecksum::Checksum),
        Just(TunnelChecksum::Remote)
    ];
    prop_oneof![
        Just(Tunnel::Ipip),
        (1u16.., csum.clone()).prop_map(|(port, checksum)| Tunnel::Gue { port, checksum }),
        prop_oneof![Just(TunnelChecksum::None), Just(TunnelChecksum::Checksum)]
            .prop_map(|checksum| Tunnel::Gre { checksum }),
    ]
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    let key = prop_oneof![
        (
            prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Sctp)
            ],
            prop_oneof![arb_v4(), arb_v6()],
            1u16..
        )
            .prop_map(|(protocol, address, port)| ServiceKey::Address {
                protocol,
                address,
                port
            }),
        (1u32.., any::<bool>()).prop_map(|(m, v6)| if v6 {
            ServiceKey::fwmark_v6(m)
        } else {
            ServiceKey::fwmark(m)
        }),
    ];
    let sched = prop_oneof![
        Just(Scheduler::RoundRobin),
        Just(Scheduler::WeightedRoundRobin),
        Just(Scheduler::SourceHashing),
        Just(Scheduler::MaglevHashing),
        Just(Scheduler::None),
        Just(Scheduler::Other("custom".into())),
    ];
    let service = (
        key.clone(),
        sched,
        proptest::option::of((1u32..=2_678_400, any::<bool>())),
        0u32..8,
        proptest::option::of(Just("sip")),
        any::<bool>(),
    )
        .prop_map(|(key, sched, persist, sched_flags, pe, ops)| {
            let mut s = Service::new(key, sched);
            if let Some((t, narrow)) = persist {
                s = s.with_persistence(t);
                if narrow {
                    s = s.with_netmask(match key.family() {
                        AddressFamily::Ipv4 => Netmask::V4("255.255.0.0".parse().unwrap()),
                        AddressFamily::Ipv6 => Netmask::V6(64),
                    });
                }
            }
            s.flags = ServiceFlags::from_bits_retain(sched_flags << 3);
            let udp = matches!(
                key,
                ServiceKey::Fwmark { .. }
                    | ServiceKey::Address {
                        protocol: Protocol::Udp,
                        ..
                    }
            );
            if ops && udp {
                s.flags |= ServiceFlags::ONE_PACKET;
            }
            s.persistence_engine = pe.map(Into::into);
            s
        });
    let dest = (
        key.clone(),
        arb_v4(),
        arb_v6(),
        any::<u16>(),
        0u8..3,
        arb_tunnel(),
        0u32..=i32::MAX as u32,
    )
        .prop_map(|(key, a4, a6, port, method, tunnel, weight)| {
            let forward = match method {
                0 => ForwardMethod::Masquerade,
                1 => ForwardMethod::DirectRoute,
                _ => ForwardMethod::Tunnel(tunnel),
            };
            let address = match (key.family(), forward) {
                (AddressFamily::Ipv4, ForwardMethod::Tunnel(_)) if port % 2 == 0 => a6,
                (AddressFamily::Ipv4, _) => a4,
                _ => a6,
            };
            let port = match (key, forward) {
                // ipvsadm: direct routing and tunnels use the service's port.
                (
                    ServiceKey::Address { port: p, .. },
                    ForwardMethod::DirectRoute | ForwardMethod::Tunnel(_),
                ) => p,
                _ => port,
            };
            (
                key,
                Destination::new(SocketAddr::new(address, port))
                    .with_forward(forward)
                    .with_weight(weight),
            )
        })
        .boxed();
    prop_oneof![
        service
            .clone()
            .prop_map(|service| Rule::AddService { service }),
        service.prop_map(|service| Rule::UpdateService { service }),
        key.clone()
            .prop_map(|service| Rule::DeleteService { service }),
        dest.clone()
            .prop_map(|(service, dest)| Rule::AddDestination { service, dest }),
        dest.clone()
            .prop_map(|(service, dest)| Rule::UpdateDestination { service, dest }),
        dest.prop_map(|(service, dest)| Rule::DeleteDestination {
            service,
            dest: dest.socket_addr()
        }),
        Just(Rule::Clear),
        proptest::option::of(key).prop_map(|service| Rule::Zero { service }),
        (0u32..=2_678_400, 0u32..1000, 0u32..1000).prop_map(|(tcp, tcp_fin, udp)| {
            Rule::SetTimeouts {
                timeouts: Timeouts { tcp, tcp_fin, udp },
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn written_rules_parse_back_identically(rules in proptest::collection::vec(arb_rule(), 1..20)) {
        let text = rules::write(&rules);
        let back = rules::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &rules);
        prop_assert_eq!(rules::write(&back), text);
    }

    #[test]
    fn parser_never_panics(text in "[-a-zA-Z0-9:.\\[\\] ,#=\n]{0,80}") {
        let _ = rules::parse(&text);
    }

    #[test]
    fn errors_point_inside_the_text(text in "(-[AaEeDdtusrwpMbxy6]|--tun-type|--tun-port|--set|[0-9]{1,4}|192\\.0\\.2\\.[0-9]{1,3}(:[0-9]{1,3})?|gue|sh-port| ){0,12}") {
        if let Err(e) = rules::parse(&text) {
            let line = text.lines().nth(e.line - 1).unwrap_or("");
            prop_assert!(e.column >= 1 && e.column <= line.chars().count() + 1, "{} in {:?}", e, text);
        }
    }
}

#[test]
fn names_that_could_not_be_written_back_are_refused() {
    // Found by the parse_rules fuzz target: `-s#wlc` parsed as scheduler
    // "#wlc", which writes as `-s #wlc`, a comment.
    for text in [
        "-A -t 192.0.2.10:80 -s#wlc",
        "-A -t 192.0.2.10:80 --scheduler=#wlc",
        "-A -u 192.0.2.10:5060 -s rr -p 60 --pe=#sip",
    ] {
        let e = err(text);
        assert!(
            matches!(e.kind, RulesErrorKind::BadValue { .. }),
            "{text}: {e}"
        );
    }
}
