#!/usr/bin/env python3
"""Capture golden netlink fixtures from the real kernel: what ipvsadm sends, what IPVS answers.

Runs INSIDE the guest (as root, ip_vs and nlmon loaded), from the repo root:

    scripts/guest run --rwdir ipvs/tests/fixtures 'python3 scripts/capture-fixtures.py ipvs/tests/fixtures'

Started on the host (outside scripts/guest), it runs exactly that itself:

    scripts/capture-fixtures.py [OUTDIR [NAME...]]

Optional further arguments select scenarios by name (substring match). For each scenario: a fresh
network namespace `fx`, the setup commands run in it (not captured; `ip netns add` ones run in the
guest's initial namespace), an nlmon interface in it
(netlink taps are per network namespace), tcpdump on that interface while the command of interest
runs in the namespace, then the pcap (LINKTYPE_NETLINK) is split into netlink messages and those
of the IPVS generic netlink family (plus the NLMSG_ERROR / NLMSG_DONE answering them) are written
to <outdir>/<name>.json. Only the Python standard library is used.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

NS = "fx"

# --- Setup fragments ------------------------------------------------------------------------------

TCP = "ipvsadm -A -t 192.0.2.10:80 -s wrr"
UDP = "ipvsadm -A -u 192.0.2.10:53 -s rr"
TCP6 = "ipvsadm -A -t [2001:db8::10]:443 -s rr"
FWM = "ipvsadm -A -f 7 -s rr"
DUM0 = [
    "ip link add dum0 type dummy",
    "ip addr add 198.51.100.1/24 dev dum0",
    "ip addr add 2001:db8:100::1/64 dev dum0 nodad",
    "ip link set dum0 up",
]
# Two services, three destinations.
TABLE = [
    TCP,
    "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -w 1",
    "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.22:8080 -m -w 2 -x 100 -y 10",
    UDP,
    "ipvsadm -a -u 192.0.2.10:53 -r 198.51.100.23:53 -m -w 3",
]
# One of nearly everything, for list parsing.
TABLE_ALL = TABLE + [
    "ipvsadm -A --sctp-service 192.0.2.10:9999 -s lc -p 30 --pe sip",
    "ipvsadm -a --sctp-service 192.0.2.10:9999 -r 192.0.2.21 -g -w 0",
    "ipvsadm -A -u 192.0.2.11:53 -s sh -o -b sh-fallback,sh-port",
    "ipvsadm -a -u 192.0.2.11:53 -r 192.0.2.23 -i -w 1",
    "ipvsadm -A -t [2001:db8::10]:443 -s rr -p 60 -M 64",
    "ipvsadm -a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3",
    "ipvsadm -a -t [2001:db8::10]:443 -r 192.0.2.22 -i --tun-type gre -w 4",
    "ipvsadm -A -t 192.0.2.12:0 -s wlc -p 120 -M 255.255.255.0",
    "ipvsadm -A -f 7 -s mh -b mh-fallback",
    "ipvsadm -a -f 7 -r 192.0.2.24:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum",
    "ipvsadm -A -f 8 -6 -s none",
]

# A NAT service 192.0.2.10:80 in `fx` (the director), a client in `cl` (203.0.113.2) and a
# busybox httpd real server in `rs` (198.51.100.2), then some HTTP requests through the VIP.
TRAFFIC = [
    "sysctl -qw net.ipv4.ip_forward=1",
    "sysctl -qw net.ipv4.vs.conntrack=0",
    "ip netns add cl",
    "ip netns add rs",
    "ip link add vcl type veth peer name eth0 netns cl",
    "ip link add vrs type veth peer name eth0 netns rs",
    "ip addr add 203.0.113.1/24 dev vcl",
    "ip addr add 198.51.100.1/24 dev vrs",
    "ip addr add 192.0.2.10/32 dev lo",
    "ip link set vcl up",
    "ip link set vrs up",
    "ip -n cl link set lo up",
    "ip -n cl addr add 203.0.113.2/24 dev eth0",
    "ip -n cl link set eth0 up",
    "ip -n cl route add 192.0.2.0/24 via 203.0.113.1",
    "ip -n rs link set lo up",
    "ip -n rs addr add 198.51.100.2/24 dev eth0",
    "ip -n rs link set eth0 up",
    "ip -n rs route add default via 198.51.100.1",
    "mkdir -p /tmp/www && echo hello > /tmp/www/index.html",
    "ip netns exec rs busybox httpd -p 80 -h /tmp/www",
    "ipvsadm -A -t 192.0.2.10:80 -s rr",
    "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 1",
    "sleep 1",
    "for i in 1 2 3 4 5; do ip netns exec cl curl -sS --max-time 10 http://192.0.2.10/ >/dev/null || exit 1; done",
]

SCHEDULERS = "rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos none".split()


def sc(name, command, setup=(), lo_up=True):
    # In a brand-new netns (lo down, no address) IPv4 NEW_DEST fails with EINVAL: the kernel's
    # unicast check finds no local routing table yet. So every scenario first brings lo up.
    setup = list(setup)
    if lo_up and "ip link set lo up" not in setup:
        setup.insert(0, "ip link set lo up")
    return {"name": name, "command": command, "setup": setup}


SCENARIOS = [
    # Services.
    sc("add_service_tcp", "ipvsadm -A -t 192.0.2.10:80 -s wrr -p 600"),
    sc("add_service_udp_sh_flags", "ipvsadm -A -u 192.0.2.10:53 -s sh -b sh-fallback,sh-port"),
    sc("add_service_udp_ops", "ipvsadm -A -u 192.0.2.10:53 -s rr -o"),
    sc("add_service_sctp_pe_sip", "ipvsadm -A --sctp-service 192.0.2.10:5060 -s lc -p 30 --pe sip"),
    sc("add_service_tcp6", "ipvsadm -A -t [2001:db8::10]:443 -s rr -p 60 -M 64"),
    sc("add_service_persistent_netmask", "ipvsadm -A -t 192.0.2.10:0 -s rr -p 300 -M 255.255.255.0"),
    sc("add_service_fwmark_mh", "ipvsadm -A -f 7 -s mh -b mh-fallback,mh-port"),
    sc("add_service_fwmark6", "ipvsadm -A -f 8 -6 -s rr"),
]
SCENARIOS += [sc(f"add_service_sched_{s}", f"ipvsadm -A -t 192.0.2.10:80 -s {s}") for s in SCHEDULERS]
SCENARIOS += [
    sc("edit_service", "ipvsadm -E -t 192.0.2.10:80 -s rr -p 900", ["ipvsadm -A -t 192.0.2.10:80 -s wrr -p 600"]),
    sc("edit_service_remove_persistence", "ipvsadm -E -t 192.0.2.10:80 -s wlc",
       ["ipvsadm -A -t 192.0.2.10:80 -s wrr -p 600"]),
    sc("delete_service", "ipvsadm -D -t 192.0.2.10:80", [TCP]),
    sc("delete_service_fwmark", "ipvsadm -D -f 7", [FWM]),
    # Destinations.
    sc("add_dest_nat_thresholds", "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -w 5 -x 100 -y 10", [TCP]),
    sc("add_dest_dr", "ipvsadm -a -t 192.0.2.10:80 -r 192.0.2.21 -g -w 2", [TCP]),
    sc("add_dest_tun_ipip", "ipvsadm -a -t 192.0.2.10:80 -r 192.0.2.22 -i -w 1", [TCP]),
    sc("add_dest_tun_gre", "ipvsadm -a -t 192.0.2.10:80 -r 192.0.2.22 -i --tun-type gre", [TCP]),
    sc("add_dest_tun_gue", "ipvsadm -a -t 192.0.2.10:80 -r 192.0.2.22 -i --tun-type gue --tun-port 6080", [TCP]),
    sc("add_dest_tun_gue_nocsum",
       "ipvsadm -a -t 192.0.2.10:80 -r 192.0.2.22 -i --tun-type gue --tun-port 6080 --tun-nocsum", [TCP]),
    sc("add_dest_tun_gue_csum",
       "ipvsadm -a -t 192.0.2.10:80 -r 192.0.2.22 -i --tun-type gue --tun-port 6080 --tun-csum", [TCP]),
    sc("add_dest_tun_gue_remcsum",
       "ipvsadm -a -t 192.0.2.10:80 -r 192.0.2.22 -i --tun-type gue --tun-port 6080 --tun-remcsum", [TCP]),
    sc("add_dest_ipv6", "ipvsadm -a -t [2001:db8::10]:443 -r [2001:db8::21]:8443 -m -w 3", [TCP6]),
    sc("add_dest_ipv6_on_ipv4_tun", "ipvsadm -a -t 192.0.2.10:80 -r [2001:db8::22] -i -w 1", [TCP]),
    sc("add_dest_fwmark", "ipvsadm -a -f 7 -r 192.0.2.23 -g -w 4", [FWM]),
    sc("edit_dest_weight", "ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -w 7",
       [TCP, "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -w 1"]),
    sc("delete_dest", "ipvsadm -d -t 192.0.2.10:80 -r 198.51.100.21:8080",
       [TCP, "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -w 1"]),
    # Listing and global commands.
    sc("list_empty", "ipvsadm -Ln"),
    sc("list", "ipvsadm -Ln", TABLE),
    sc("list_stats", "ipvsadm -Ln --stats", TABLE),
    sc("list_rate", "ipvsadm -Ln --rate", TABLE),
    sc("list_exact", "ipvsadm -Ln --exact", TABLE),
    sc("list_one_service", "ipvsadm -Ln -t 192.0.2.10:80", TABLE),
    sc("list_all_kinds", "ipvsadm -Ln", TABLE_ALL),
    sc("save", "ipvsadm -Sn", TABLE),
    sc("save_all_kinds", "ipvsadm -Sn", TABLE_ALL),
    sc("get_timeouts", "ipvsadm -Ln --timeout"),
    sc("set_timeouts", "ipvsadm --set 100 20 30"),
    sc("set_timeouts_partial", "ipvsadm --set 0 0 45"),
    sc("zero_all", "ipvsadm -Z", TABLE),
    sc("zero_service", "ipvsadm -Z -t 192.0.2.10:80", TABLE),
    sc("flush", "ipvsadm -C", TABLE),
    sc("flush_empty", "ipvsadm -C"),
    # Sync daemons.
    sc("list_daemon_none", "ipvsadm -Ln --daemon"),
    sc("list_daemon_master", "ipvsadm -Ln --daemon",
       DUM0 + ["ipvsadm --start-daemon master --mcast-interface dum0 --syncid 5"]),
    sc("list_daemon_both", "ipvsadm -Ln --daemon",
       DUM0 + ["ipvsadm --start-daemon master --mcast-interface dum0 --syncid 5",
               "ipvsadm --start-daemon backup --mcast-interface dum0 --syncid 6"]),
    sc("start_daemon_master", "ipvsadm --start-daemon master --mcast-interface dum0 --syncid 5", DUM0),
    sc("start_daemon_backup", "ipvsadm --start-daemon backup --mcast-interface dum0 --syncid 5", DUM0),
    sc("start_daemon_master_options",
       "ipvsadm --start-daemon master --mcast-interface dum0 --mcast-group 224.0.0.90 --mcast-port 8850"
       " --mcast-ttl 2 --sync-maxlen 1400", DUM0),
    sc("start_daemon_master_ipv6_group",
       "ipvsadm --start-daemon master --mcast-interface dum0 --mcast-group ff02::1234", DUM0),
    sc("stop_daemon_master", "ipvsadm --stop-daemon master",
       DUM0 + ["ipvsadm --start-daemon master --mcast-interface dum0 --syncid 5"]),
    sc("stop_daemon_backup", "ipvsadm --stop-daemon backup",
       DUM0 + ["ipvsadm --start-daemon backup --mcast-interface dum0 --syncid 5"]),
    # Errors.
    sc("error_add_service_exists", "ipvsadm -A -t 192.0.2.10:80 -s wrr", [TCP]),
    sc("error_edit_service_missing", "ipvsadm -E -t 192.0.2.10:80 -s rr"),
    sc("error_delete_service_missing", "ipvsadm -D -t 192.0.2.10:80"),
    sc("error_get_service_missing", "ipvsadm -Ln -t 192.0.2.10:80"),
    sc("error_add_dest_no_service", "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m"),
    sc("error_add_dest_exists", "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m",
       [TCP, "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m"]),
    sc("error_edit_dest_missing", "ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -w 2", [TCP]),
    sc("error_delete_dest_missing", "ipvsadm -d -t 192.0.2.10:80 -r 198.51.100.21:8080", [TCP]),
    sc("error_unknown_scheduler", "ipvsadm -A -t 192.0.2.10:80 -s nosuch"),
    sc("error_unknown_pe", "ipvsadm -A -t 192.0.2.10:80 -s rr -p 60 --pe nosuch"),
    sc("add_dest_weight_65536", "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -w 65536", [TCP]),
    sc("error_threshold_upper_below_lower",
       "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m -x 10 -y 100", [TCP]),
    sc("error_add_dest_fresh_netns", "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.21:8080 -m", [TCP], lo_up=False),
    sc("error_start_daemon_no_interface", "ipvsadm --start-daemon master --mcast-interface nosuch0 --syncid 5"),
    sc("error_start_daemon_running", "ipvsadm --start-daemon master --mcast-interface dum0 --syncid 5",
       DUM0 + ["ipvsadm --start-daemon master --mcast-interface dum0 --syncid 5"]),
    sc("error_stop_daemon_not_running", "ipvsadm --stop-daemon master"),
    # Counters from real traffic.
    sc("stats_traffic", "ipvsadm -Ln --stats", TRAFFIC),
    sc("stats_traffic_rate", "ipvsadm -Ln --rate", TRAFFIC),
    sc("stats_traffic_exact", "ipvsadm -Ln --stats --exact", TRAFFIC),
]

# --- Hand-built requests ---------------------------------------------------------------------------
# What ipvsadm refuses to send (weight > INT_MAX, GUE without port, IPv6 dest on an IPv4 NAT
# service...) or never sends, built here and sent by `capture-fixtures.py --send NAME` with
# NETLINK_EXT_ACK on, so the fixtures hold the kernel's real answer. The nlmsg type is patched to
# the IPVS family id and seq numbered 1, 2, ... when sent.

NLMSG_ERROR, NLMSG_DONE, GENL_ID_CTRL, NETLINK_GENERIC = 2, 3, 0x10, 16
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLA_F_NESTED = 0x1, 0x4, 0x300, 0x8000
(NEW_SERVICE, SET_SERVICE, DEL_SERVICE, GET_SERVICE, NEW_DEST, SET_DEST, DEL_DEST, GET_DEST) = range(1, 9)


def nla(atype, payload):
    return struct.pack("=HH", 4 + len(payload), atype) + payload + b"\0" * (-len(payload) % 4)


def nest(atype, *children):
    return nla(atype | NLA_F_NESTED, b"".join(children))


def u16(v): return struct.pack("=H", v)
def u32(v): return struct.pack("=I", v)
def be16(v): return struct.pack(">H", v)
def addr(a): return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a).ljust(16, b"\0")


def genl(cmd, *attrs_, flags=NLM_F_REQUEST | NLM_F_ACK):
    payload = struct.pack("=BBH", cmd, 1, 0) + b"".join(attrs_)
    return struct.pack("=IHHII", 16 + len(payload), 0, flags, 0, 0) + payload


# The service 192.0.2.10:80/TCP: its identity, and the full set NEW/SET_SERVICE need.
SVC_ID = [nla(1, u16(socket.AF_INET)), nla(2, u16(6)), nla(3, addr("192.0.2.10")), nla(4, be16(80))]
SVC_FULL = SVC_ID + [nla(6, b"wrr\0"), nla(7, u32(0) + u32(0xFFFFFFFF)), nla(8, u32(0)), nla(9, u32(0xFFFFFFFF))]


def dest(address, port, fwd, weight=1, extra=()):
    af = socket.AF_INET6 if ":" in address else socket.AF_INET
    return nest(2, nla(11, u16(af)), nla(1, addr(address)), nla(2, be16(port)), nla(3, u32(fwd)),
                nla(4, u32(weight)), nla(5, u32(0)), nla(6, u32(0)), *extra)


def new_dest(*args, **kw):
    return genl(NEW_DEST, nest(1, *SVC_ID), dest(*args, **kw))


LIST_DESTS = genl(GET_DEST, nest(1, *SVC_ID), flags=NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP)
LIST_SERVICES = genl(GET_SERVICE, flags=NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP)
GUE, TUNNEL, DROUTE, MASQ = 1, 2, 3, 0

RAW = {
    # weight > INT_MAX: ERANGE (ipvsadm: "illegal weight specified").
    "dest_weight_2147483648": [new_dest("192.0.2.21", 80, DROUTE, weight=0x80000000)],
    # GUE with TUN_PORT 0 / without TUN_PORT: EINVAL (ipvsadm insists on --tun-port).
    "dest_gue_port_0": [new_dest("192.0.2.22", 80, TUNNEL, extra=[nla(13, b"\x01"), nla(14, be16(0))])],
    "dest_gue_no_port": [new_dest("192.0.2.22", 80, TUNNEL, extra=[nla(13, b"\x01")])],
    # A dest of another family needs TUNNEL: EINVAL (ipvsadm refuses it itself).
    "dest_ipv6_on_ipv4_nat": [new_dest("2001:db8::22", 80, MASQ)],
    # Values the kernel does not validate: forwarding method 5, tunnel type 3. Listed after.
    "dest_fwd_method_5": [new_dest("192.0.2.21", 80, 5), LIST_DESTS],
    "dest_tun_type_3": [new_dest("192.0.2.22", 80, TUNNEL, extra=[nla(13, b"\x03")]), LIST_DESTS],
    # GET_DEST of a service that does not exist: an empty dump, not an error.
    "get_dest_unknown_service": [LIST_DESTS],
    # NEW_SERVICE with the identity only (no SCHED_NAME, FLAGS, TIMEOUT, NETMASK): EINVAL.
    "service_identity_only": [genl(NEW_SERVICE, nest(1, *SVC_ID))],
    # ADDR of 4 bytes for IPv4 (ipvsadm always sends 16), then the dump.
    "service_addr_4_bytes": [genl(NEW_SERVICE, nest(1, nla(1, u16(socket.AF_INET)), nla(2, u16(6)),
                                                 nla(3, socket.inet_aton("192.0.2.10")), nla(4, be16(80)),
                                                 *SVC_FULL[4:])), LIST_SERVICES],
    # PORT of 1 byte: fails the attribute policy, with an extended ACK.
    "service_port_1_byte": [genl(NEW_SERVICE, nest(1, *SVC_ID[:3], nla(4, b"\x50"), *SVC_FULL[4:]))],
    # An unknown command: EOPNOTSUPP.
    "unknown_command": [genl(99)],
}


def send_raw(name):
    """Send RAW[name] one message at a time (EXT_ACK on); print each answer; exit 1 on any error."""
    family_id = resolve_family()
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    s.setsockopt(270, 11, 1)  # SOL_NETLINK, NETLINK_EXT_ACK
    s.bind((0, 0))
    failed = False
    for seq, msg in enumerate(RAW[name], 1):
        msg = bytearray(msg)
        struct.pack_into("=H", msg, 4, family_id)
        struct.pack_into("=I", msg, 8, seq)
        s.send(msg)
        done = False
        while not done:
            for m in split_messages(s.recv(65536)):
                _, mtype, flags = struct.unpack_from("=IHH", m)
                if mtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", m, 16)
                    text = ""
                    if flags & 0x200:  # NLM_F_ACK_TLVS
                        inner_len = 16 if flags & 0x100 else struct.unpack_from("=I", m, 20)[0]
                        text = " ".join(f"[{t}] {v.rstrip(bytes(1)).decode(errors='replace')}"
                                        for t, v in attrs(m[20 + inner_len:]))
                    print(f"seq {seq}: errno {-err} {os.strerror(-err) if err else 'ack'} {text}".rstrip())
                    failed |= err != 0
                    done = True
                elif mtype == NLMSG_DONE:
                    print(f"seq {seq}: done")
                    done = True
                else:
                    print(f"seq {seq}: reply cmd {m[16]}, {len(m)} bytes")
    sys.exit(1 if failed else 0)


def raw(name, setup=(TCP,)):
    return sc(f"raw_{name}", f"python3 scripts/capture-fixtures.py --send {name}", setup)


SCENARIOS += [raw(n) for n in RAW if not n.startswith("service_") and n != "get_dest_unknown_service"]
SCENARIOS += [raw(n, ()) for n in RAW if n.startswith("service_") or n == "get_dest_unknown_service"]

# --- Netlink helpers ------------------------------------------------------------------------------



def resolve_family(name="IPVS"):
    """Ask nlctrl for a generic netlink family's id (CTRL_CMD_GETFAMILY)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        s.bind((0, 0))
        attr_name = name.encode() + b"\0"
        attr = struct.pack("=HH", 4 + len(attr_name), 2) + attr_name  # CTRL_ATTR_FAMILY_NAME
        attr += b"\0" * (-len(attr) % 4)
        payload = struct.pack("=BBH", 3, 1, 0) + attr  # CTRL_CMD_GETFAMILY, version 1
        s.send(struct.pack("=IHHII", 16 + len(payload), GENL_ID_CTRL, NLM_F_REQUEST, 1, 0) + payload)
        for msg in split_messages(s.recv(65536)):
            length, mtype = struct.unpack_from("=IH", msg)
            if mtype == NLMSG_ERROR:
                raise SystemExit(f"family {name} not found: errno {-struct.unpack_from('=i', msg, 16)[0]}")
            for atype, value in attrs(msg[20:]):
                if atype == 1:  # CTRL_ATTR_FAMILY_ID
                    return struct.unpack("=H", value[:2])[0]
    finally:
        s.close()
    raise SystemExit(f"no id for family {name}")


def attrs(data):
    off = 0
    while off + 4 <= len(data):
        alen, atype = struct.unpack_from("=HH", data, off)
        if alen < 4:
            break
        yield atype & 0x3FFF, data[off + 4:off + alen]
        off += (alen + 3) & ~3


def split_messages(data):
    """Split one netlink datagram into its messages by nlmsg_len."""
    out, off = [], 0
    while off + 16 <= len(data):
        (length,) = struct.unpack_from("=I", data, off)
        if length < 16 or off + length > len(data):
            raise ValueError(f"bad nlmsg_len {length} at {off} of {len(data)}")
        out.append(data[off:off + length])
        off += (length + 3) & ~3
    return out


def read_pcap(path):
    """Yield (netlink protocol, datagram) from a LINKTYPE_NETLINK pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        raise ValueError(f"{path}: not a pcap file")
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    if linktype != 253:
        raise ValueError(f"{path}: linktype {linktype}, expected 253 (NETLINK)")
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, origlen = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        pkt = data[off:off + caplen]
        off += caplen
        if caplen != origlen:
            raise ValueError(f"{path}: truncated packet ({caplen} of {origlen} bytes)")
        # 16-byte cooked header (like Linux SLL), big-endian: packet type, ARPHRD_NETLINK (824),
        # address length, 8 address bytes, netlink protocol.
        pkttype, hatype, _, proto = struct.unpack_from(">HHH8xH", pkt)
        if hatype != 824:
            raise ValueError(f"{path}: ARPHRD {hatype}, expected 824")
        yield proto, pkt[16:]


def ipvs_messages(pcap, family_id):
    """The IPVS messages of a capture, with the errors and DONEs answering them."""
    msgs = [m for proto, dgram in read_pcap(pcap) if proto == NETLINK_GENERIC for m in split_messages(dgram)]
    requests = set()  # (port id, seq) of IPVS requests
    out = []
    for m in msgs:
        _, mtype, flags, seq, pid = struct.unpack_from("=IHHII", m)
        is_request = bool(flags & NLM_F_REQUEST)
        if mtype == family_id:
            if is_request:
                requests.add((pid, seq))
        elif mtype == NLMSG_ERROR and not is_request:
            (inner_type,) = struct.unpack_from("=H", m, 20 + 4)
            if inner_type != family_id and (pid, seq) not in requests:
                continue
        elif mtype == NLMSG_DONE and not is_request:
            if (pid, seq) not in requests:
                continue
        else:
            continue
        out.append({"dir": "request" if is_request else "reply", "hex": m.hex()})
    return out


def check_complete(messages):
    """Every dump request got its NLMSG_DONE (or an error) and every other request asking for an
    ACK its NLMSG_ERROR (ack or error), else packets were lost. (A dump gets no ACK after DONE.)"""
    pending = set()
    for m in messages:
        _, mtype, flags, seq, pid = struct.unpack_from("=IHHII", bytes.fromhex(m["hex"]))
        if m["dir"] == "request" and flags & (0x4 | 0x300):  # NLM_F_ACK, NLM_F_DUMP
            pending.add((pid, seq))
        elif mtype in (NLMSG_ERROR, NLMSG_DONE):
            pending.discard((pid, seq))
    if pending:
        raise RuntimeError(f"no ACK/error captured for requests {sorted(pending)}")


# --- Running scenarios ----------------------------------------------------------------------------

def sh(cmd, check=True, **kw):
    r = subprocess.run(["sh", "-c", cmd], stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}")
    return r


def in_ns(cmd):
    return f"ip netns exec {NS} sh -c {sh_quote(cmd)}"


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def cleanup_namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        ns = line.split()[0]
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        sh(f"ip netns del {ns}", check=False)


def capture(scenario, family_id, workdir):
    cleanup_namespaces()
    sh(f"ip netns add {NS}")
    for cmd in scenario["setup"]:
        # `ip netns add` inside `ip netns exec` makes a namespace nobody else can enter (the
        # nsfs bind mount stays in exec's private mount namespace): run those outside.
        sh(cmd if cmd.startswith("ip netns add ") else in_ns(cmd), stdout=subprocess.DEVNULL)
    sh(in_ns("ip link add nlmon0 type nlmon && ip link set nlmon0 up"))
    pcap = os.path.join(workdir, scenario["name"] + ".pcap")
    dump = subprocess.Popen(
        # Immediate mode uses a ring of snaplen-sized frames: keep the snaplen modest (netlink
        # datagrams are at most 32 KiB; truncation is detected) and the buffer big, or a busy
        # machine drops packets.
        ["ip", "netns", "exec", NS, "tcpdump", "-i", "nlmon0", "-U", "--immediate-mode", "-s", "65535",
         "-B", "65536", "-w", pcap],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = ""
    while "listening on" not in line:  # tcpdump is ready
        line = dump.stderr.readline()
        if not line:
            raise RuntimeError(f"tcpdump failed: {dump.stderr.read()}")
    r = subprocess.run(["ip", "netns", "exec", NS, "sh", "-c", scenario["command"]],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    time.sleep(0.5)
    dump.send_signal(signal.SIGINT)
    tail = dump.stderr.read()
    dump.wait()
    if not re.search(r"^0 packets dropped by kernel", tail, re.M):
        raise RuntimeError(f"tcpdump: {tail}")
    cleanup_namespaces()
    messages = ipvs_messages(pcap, family_id)
    check_complete(messages)
    return {
        "name": scenario["name"],
        "command": scenario["command"],
        "setup": scenario["setup"],
        "family_id": family_id,
        "exit_status": r.returncode,
        "output": r.stdout + r.stderr,
        "messages": messages,
    }


def main():
    if sys.argv[1:2] == ["--send"]:
        return send_raw(sys.argv[2])
    outdir = sys.argv[1] if len(sys.argv) > 1 else "ipvs/tests/fixtures"
    if not os.environ.get("IN_IPVS_GUEST"):
        # On the host: boot the guest (scripts/guest) and run this script in it.
        os.makedirs(outdir, exist_ok=True)
        guest = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest")
        os.execv(guest, [guest, "run", "--rwdir", outdir, "--", "python3", os.path.abspath(__file__),
                         outdir, *sys.argv[2:]])
    selected = [s for s in SCENARIOS if len(sys.argv) <= 2 or any(a in s["name"] for a in sys.argv[2:])]
    names = [s["name"] for s in SCENARIOS]
    assert len(names) == len(set(names)), "duplicate scenario names"
    family_id = resolve_family()
    print(f"kernel {os.uname().release}, IPVS family id {family_id}, {len(selected)} scenarios", flush=True)
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        failed = []
        for s in selected:
            t0 = time.monotonic()
            for attempt in range(3):  # tcpdump, rarely, drops a packet on a busy machine
                try:
                    fx = capture(s, family_id, workdir)
                    break
                except Exception as e:
                    print(f"{s['name']}: attempt {attempt + 1} failed: {e}", flush=True)
            else:  # report, go on with the others
                failed.append(s["name"])
                continue
            with open(os.path.join(outdir, s["name"] + ".json"), "w") as f:
                json.dump(fx, f, indent=1)
                f.write("\n")
            print(f"{s['name']}: exit {fx['exit_status']}, {len(fx['messages'])} messages,"
                  f" {time.monotonic() - t0:.1f} s", flush=True)
    if failed:
        sys.exit(f"{len(failed)} scenarios failed: {' '.join(failed)}")


if __name__ == "__main__":
    main()
