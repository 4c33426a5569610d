#!/usr/bin/env bash
# Write the seed corpora of the fuzz targets:
#
# decode_datagram:
#   - every captured netlink message of the golden fixtures
#     (ipvs/tests/fixtures/*.json, `messages: [{dir, hex}]`), one file each,
#     plus each fixture's replies concatenated as one multi-message datagram;
#   - a few hand-built datagrams (dump + DONE, ACK, error with extended ACK,
#     info, config, daemon), so the corpus is useful without fixtures.
# parse_rules:
#   - the committed seeds fuzz/seeds/parse_rules/* (ipvsadm -Sn style rules:
#     every command, long options, clusters, IPv6, fwmark, tunnels, flags, PE);
#   - the ipvsadm commands of the golden fixtures (`command` and `setup`,
#     less the leading `ipvsadm`), one file each and all together.
# load_config:
#   - the committed seeds fuzz/seeds/load_config/* (JSON, YAML and TOML).
# parse_keepalived, parse_piranha:
#   - the committed seeds fuzz/seeds/<target>/* (copies of the test files of
#     ipvs/tests/data/import/: keepalived.conf and lvs.cf, every key).
# roundtrip_model takes structured input and needs no seeds.
#
# Usage: fuzz/seed.sh [corpus-root]   (default fuzz/corpus; writes <root>/<target>/)
#   Old form: fuzz/seed.sh DIR/decode_datagram also works (seeds DIR/*).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${1:-$here/corpus}"
# The old interface named the decode_datagram directory itself.
[[ "$(basename "$root")" == decode_datagram ]] && root="$(dirname "$root")"
fixtures="$here/../ipvs/tests/fixtures"
mkdir -p "$root/decode_datagram" "$root/parse_rules" "$root/load_config" \
    "$root/parse_keepalived" "$root/parse_piranha"
exec python3 - "$root" "$fixtures" "$here/seeds" <<'EOF'
import glob, hashlib, json, os, shutil, struct, sys

root, fixtures, seeds = sys.argv[1], sys.argv[2], sys.argv[3]
out = os.path.join(root, "decode_datagram")
written = {}

def save(data: bytes, target="decode_datagram"):
    if not data:
        return
    path = os.path.join(root, target, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        written[target] = written.get(target, 0) + 1

def pad(b): return b + b"\0" * (-len(b) % 4)
def nla(kind, value): return pad(struct.pack("=HH", 4 + len(value), kind) + value)
def u16(kind, v): return nla(kind, struct.pack("=H", v))
def u32(kind, v): return nla(kind, struct.pack("=I", v))
def be16(kind, v): return nla(kind, struct.pack(">H", v))
def s(kind, v): return nla(kind, v.encode() + b"\0")
def nlmsg(mtype, flags, seq, payload):
    return pad(struct.pack("=IHHII", 16 + len(payload), mtype, flags, seq, 4242) + payload)
def genl(cmd, attrs): return bytes([cmd, 1, 0, 0]) + attrs

FAM, MULTI = 0x25, 0x2
stats = lambda wide: b"".join(
    nla(k, struct.pack("=Q" if wide or k in (4, 5) else "=I", k * 1000)) for k in range(1, 11))
svc = nla(1, u16(1, 2) + u16(2, 6) + nla(3, bytes([192, 0, 2, 10]) + bytes(12)) + be16(4, 80)
          + s(6, "wrr") + nla(7, struct.pack("=II", 3, 0xffffffff)) + u32(8, 600)
          + u32(9, 0xffffffff) + nla(10, stats(False)) + s(11, "sip") + nla(12, stats(True)))
svc6 = nla(1, u16(1, 10) + u16(2, 17) + nla(3, bytes.fromhex("20010db8" + "00" * 11 + "10"))
           + be16(4, 53) + s(6, "mh") + nla(7, struct.pack("=II", 0x18, 0xffffffff))
           + u32(8, 0) + u32(9, 128))
fwm = nla(1, u16(1, 2) + u32(5, 7) + s(6, "sh"))
dest = nla(2, nla(1, bytes([192, 0, 2, 21]) + bytes(12)) + be16(2, 80) + u32(3, 2) + u32(4, 3)
           + u32(5, 100) + u32(6, 10) + u32(7, 1) + u32(8, 2) + u32(9, 3) + u16(11, 2)
           + nla(12, stats(True)) + nla(13, b"\x01") + be16(14, 6080) + u16(15, 2))
daemon = nla(3, u32(1, 1) + s(2, "eth0") + u32(3, 5) + u16(4, 1472) + nla(5, bytes([224, 0, 0, 81]))
             + u16(7, 8848) + nla(8, b"\x01"))
req = nlmsg(FAM, 0x5, 8, genl(4, fwm))
ack_tlvs = s(1, "Unknown service") + u32(2, 20) + u32(5, 6)

save(nlmsg(FAM, MULTI, 1, genl(1, svc)) + nlmsg(FAM, MULTI, 1, genl(1, svc6))
     + nlmsg(FAM, MULTI | 0x10, 1, genl(1, fwm)) + nlmsg(3, MULTI, 1, struct.pack("=i", 0)))
save(nlmsg(FAM, MULTI, 2, genl(5, fwm + dest)) + nlmsg(3, MULTI, 2, struct.pack("=i", 0)))
save(nlmsg(FAM, MULTI, 3, genl(9, daemon)) + nlmsg(3, MULTI, 3, struct.pack("=i", 0)))
save(nlmsg(FAM, 0, 4, genl(14, u32(1, 0x010201) + u32(2, 4096))))
save(nlmsg(FAM, 0, 5, genl(12, u32(4, 900) + u32(5, 120) + u32(6, 300))))
save(nlmsg(2, 0x100, 8, struct.pack("=i", 0) + req[:16]))
save(nlmsg(2, 0x300, 8, struct.pack("=i", -3) + req[:16] + ack_tlvs))
save(nlmsg(2, 0x200, 8, struct.pack("=i", -22) + req + ack_tlvs))
save(nlmsg(3, MULTI | 0x200, 9, struct.pack("=i", -16) + s(1, "busy")))
save(nlmsg(FAM, 0x5, 10, genl(200, nla(0xc000 | 300, b"\x01\x02\x03") + nla(1, nla(99, b"")))))

n_fixtures = 0
all_commands = []
for path in sorted(glob.glob(os.path.join(fixtures, "*.json"))):
    try:
        with open(path) as f:
            fixture = json.load(f)
        messages = fixture.get("messages", [])
    except (OSError, ValueError) as e:
        print(f"seed.sh: skipping {path}: {e}", file=sys.stderr)
        continue
    n_fixtures += 1
    # The ipvsadm commands that made the capture, as rules lines.
    commands = [c for c in fixture.get("setup", []) + [fixture.get("command", "")]
                if isinstance(c, str) and c.startswith("ipvsadm ")]
    for c in commands:
        save((c[len("ipvsadm "):] + "\n").encode(), "parse_rules")
    if commands:
        all_commands += commands
        save(("\n".join(commands) + "\n").encode(), "parse_rules")
    replies = b""
    for m in messages:
        try:
            data = bytes.fromhex(m["hex"])
        except (KeyError, TypeError, ValueError):
            continue
        save(data)
        if m.get("dir") == "reply":
            replies += pad(data)
    save(replies)

save(("\n".join(all_commands) + "\n").encode(), "parse_rules")

# The committed seeds of fuzz/seeds/<target>/.
for target in ("decode_datagram", "parse_rules", "load_config", "parse_keepalived", "parse_piranha"):
    for path in sorted(glob.glob(os.path.join(seeds, target, "*"))):
        with open(path, "rb") as f:
            save(f.read(), target)

for target in ("decode_datagram", "parse_rules", "load_config", "parse_keepalived", "parse_piranha"):
    print(f"seed.sh: {written.get(target, 0)} new seeds in {root}/{target}", file=sys.stderr)
print(f"seed.sh: ({n_fixtures} fixture files)", file=sys.stderr)
EOF
