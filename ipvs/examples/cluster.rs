//! Build an LVS cluster with `ipvs::cluster`: the code an operator would
//! otherwise keep in `ifconfig lo:0 ...; echo 1 > .../arp_ignore` scripts.
//!
//! On each real server, and on the director:
//! ```text
//! cluster real-server apply    --vip 192.0.2.10 --mode dr        # or ipip, gue:6080
//! cluster real-server status   --vip 192.0.2.10 --mode dr
//! cluster real-server teardown --vip 192.0.2.10
//! cluster director apply --vip 192.0.2.10 --interface eth0 --forward dr --scheduler wrr \
//!     --real 198.51.100.11@1 --real 198.51.100.12@2 --real 198.51.100.13@3
//! cluster director teardown --vip 192.0.2.10 --interface eth0
//! cluster report --vip 192.0.2.10 --interval 10
//! ```
//! Every command takes `--netns NAME` (a namespace made by `ip netns add`)
//! and `--journal DIR` (default /run/ipvs-netlink).
//!
//! Or the whole cluster on one machine, in network namespaces (needs root
//! and a kernel with IPVS; the topology is built with `ip`, everything else
//! through the library), torn down at the end:
//! ```text
//! cargo run --example cluster --features cluster -- demo dr
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use ipvs::client::{Client, Netns};
use ipvs::cluster::{BalanceReport, DirectorSetup, RealServerSetup, TunnelMode};
use ipvs::{Destination, ForwardMethod, Scheduler, Service, ServiceKey, Tunnel, TunnelChecksum};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "usage:
  cluster real-server apply|teardown|status --vip IP --mode dr|ipip|gue[:PORT] [--netns NAME] [--journal DIR]
  cluster director apply|teardown|status --vip IP --interface IF [--forward nat|dr|ipip|gue[:PORT]]
          [--port 80] [--scheduler wrr] [--persistent SECS] [--real IP[:PORT][@WEIGHT]]...
          [--prefix-len N] [--netns NAME] [--journal DIR]
  cluster report --vip IP [--port 80] [--interval SECS] [--netns NAME]
  cluster demo [nat|dr|ipip|gue]";

/// `--flag value` pairs, repeatable.
struct Args(BTreeMap<String, Vec<String>>);

impl Args {
    fn parse(raw: &[String]) -> Result<Args> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut it = raw.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected {flag:?}\n{USAGE}"))?;
            let value = if name == "nat" {
                "true".to_owned()
            } else {
                it.next()
                    .ok_or_else(|| format!("--{name} needs a value"))?
                    .clone()
            };
            map.entry(name.to_owned()).or_default().push(value);
        }
        Ok(Args(map))
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str)
    }
    fn need(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required\n{USAGE}").into())
    }
    fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
    fn netns(&self) -> Result<Netns> {
        Ok(self
            .get("netns")
            .map(Netns::named)
            .transpose()?
            .unwrap_or_default())
    }
    fn journal(&self) -> String {
        self.get("journal")
            .unwrap_or(ipvs::cluster::DEFAULT_DIR)
            .to_owned()
    }
}

/// `dr`, `ipip`, `gue` or `gue:PORT` (default port 6080).
fn parse_mode(s: &str) -> Result<Option<TunnelMode>> {
    Ok(match s {
        "dr" => None,
        "ipip" => Some(TunnelMode::Ipip),
        _ if s.starts_with("gue") => {
            let port = s
                .strip_prefix("gue:")
                .map(str::parse)
                .transpose()?
                .unwrap_or(6080);
            Some(TunnelMode::Gue { port })
        }
        _ => return Err(format!("unknown mode {s:?}: dr, ipip or gue[:PORT]").into()),
    })
}

fn parse_forward(s: &str) -> Result<ForwardMethod> {
    Ok(match s {
        "nat" => ForwardMethod::Masquerade,
        other => match parse_mode(other)? {
            None => ForwardMethod::DirectRoute,
            Some(TunnelMode::Ipip) => ForwardMethod::Tunnel(Tunnel::Ipip),
            Some(TunnelMode::Gue { port }) => ForwardMethod::Tunnel(Tunnel::Gue {
                port,
                checksum: TunnelChecksum::None,
            }),
        },
    })
}

fn real_server(action: &str, args: &Args) -> Result<()> {
    let vip: IpAddr = args.need("vip")?.parse()?;
    let setup = match parse_mode(args.get("mode").unwrap_or("dr"))? {
        None => RealServerSetup::dr(vip),
        Some(t) => RealServerSetup::tun(vip, t),
    }
    .netns(args.netns()?)
    .journal_dir(args.journal());
    match action {
        "apply" => print!("{}", setup.apply()?),
        "teardown" => print!("{}", setup.teardown()?),
        "status" => {
            let st = setup.status()?;
            print!("{st}");
            if !st.is_complete() {
                return Err("incomplete".into());
            }
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// `IP`, `IP:PORT`, `IP@WEIGHT` or `IP:PORT@WEIGHT` (IPv6 in brackets with a port).
fn parse_real(s: &str, port: u16, forward: ForwardMethod) -> Result<Destination> {
    let (addr, weight) = match s.split_once('@') {
        Some((a, w)) => (a, w.parse()?),
        None => (s, 1),
    };
    let sa = addr
        .parse::<SocketAddr>()
        .or_else(|_| addr.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, port)))?;
    Ok(Destination::new(sa)
        .with_forward(forward)
        .with_weight(weight))
}

fn director_setup(args: &Args) -> Result<DirectorSetup> {
    let vip: IpAddr = args.need("vip")?.parse()?;
    let port: u16 = args.get("port").unwrap_or("80").parse()?;
    let forward = parse_forward(args.get("forward").unwrap_or("nat"))?;
    let mut setup = DirectorSetup::new(vip, args.need("interface")?)
        .netns(args.netns()?)
        .journal_dir(args.journal());
    if let Some(len) = args.get("prefix-len") {
        setup = setup.prefix_len(len.parse()?);
    }
    if matches!(forward, ForwardMethod::Masquerade) || args.get("nat").is_some() {
        setup = setup.nat();
    }
    let reals = args.all("real");
    if !reals.is_empty() {
        let mut service = Service::new(
            ServiceKey::tcp(SocketAddr::new(vip, port)),
            Scheduler::from_name(args.get("scheduler").unwrap_or("wrr")),
        );
        if let Some(t) = args.get("persistent") {
            service = service.with_persistence(t.parse()?);
        }
        let dests = reals
            .iter()
            .map(|r| parse_real(r, port, forward))
            .collect::<Result<Vec<_>>>()?;
        setup = setup.service(service, dests);
    }
    Ok(setup)
}

fn director(action: &str, args: &Args) -> Result<()> {
    let setup = director_setup(args)?;
    match action {
        "apply" => print!("{}", setup.apply()?),
        "teardown" => print!("{}", setup.teardown()?),
        "status" => {
            let st = setup.status()?;
            print!("{st}");
            if !st.is_complete() {
                return Err("incomplete".into());
            }
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// The balance of a service, over the kernel's counters or over an interval.
fn report(args: &Args) -> Result<()> {
    let vip: IpAddr = args.need("vip")?.parse()?;
    let port: u16 = args.get("port").unwrap_or("80").parse()?;
    let key = ServiceKey::tcp(SocketAddr::new(vip, port));
    let client = Client::builder().netns(args.netns()?).build()?;
    let before = match args.get("interval") {
        Some(secs) => {
            let b = client.destinations(&key)?;
            std::thread::sleep(Duration::from_secs(secs.parse()?));
            b
        }
        None => Vec::new(),
    };
    let report =
        BalanceReport::between(&client.service(&key)?, &before, &client.destinations(&key)?);
    print!("{report}");
    Ok(())
}

// --- demo: the whole cluster in network namespaces -------------------------

/// A namespace of the demo, deleted on drop.
struct Ns(String);

impl Ns {
    fn new(name: &str) -> Result<Ns> {
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ))?;
        Ok(Ns(name.to_owned()))
    }
    fn run(&self, cmd: &str) -> Result<String> {
        sh(&format!("ip netns exec {} sh -c '{}'", self.0, cmd))
    }
    fn netns(&self) -> Netns {
        Netns::named(&self.0).expect("a namespace name made here")
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = sh(&format!("ip netns del {}", self.0));
    }
}

struct Httpd(Child);

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(cmd: &str) -> Result<String> {
    let out = Command::new("sh").arg("-c").arg(cmd).output()?;
    if !out.status.success() {
        return Err(format!("`{cmd}`: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn demo(mode: &str) -> Result<()> {
    let forward = parse_forward(mode)?;
    let tunnel = if mode == "nat" {
        None
    } else {
        Some(parse_mode(mode)?)
    };
    let pid = std::process::id();
    let www = std::env::temp_dir().join(format!("ipvs-cluster-demo-{pid}"));
    let journal = www.join("journal");
    let (cl, lb) = (
        Ns::new(&format!("demo{pid}-cl"))?,
        Ns::new(&format!("demo{pid}-lb"))?,
    );
    let rs: Vec<Ns> = (1..=3)
        .map(|i| Ns::new(&format!("demo{pid}-rs{i}")))
        .collect::<Result<_>>()?;
    let mut _switch = None;
    let mut reals = Vec::new();

    // Scaffolding with `ip`: the cables. NAT: client net 203.0.113.0/24, a
    // /30 per real server behind the director. DR and TUN: one bridge.
    let (vip, lb_if): (IpAddr, &str) = if tunnel.is_none() {
        cl.run(&format!(
            "ip link add eth0 type veth peer name cl0 netns {}",
            lb.0
        ))?;
        cl.run("ip addr add 203.0.113.2/24 dev eth0 && ip link set eth0 up")?;
        lb.run("ip addr add 203.0.113.1/24 dev cl0 && ip link set cl0 up")?;
        for (i, r) in rs.iter().enumerate() {
            let n = 4 * (i + 1);
            r.run(&format!(
                "ip link add eth0 type veth peer name rs{i} netns {}",
                lb.0
            ))?;
            r.run(&format!(
                "ip addr add 198.51.100.{}/30 dev eth0 && ip link set eth0 up",
                n + 2
            ))?;
            r.run(&format!("ip route add default via 198.51.100.{}", n + 1))?;
            lb.run(&format!(
                "ip addr add 198.51.100.{}/30 dev rs{i} && ip link set rs{i} up",
                n + 1
            ))?;
            reals.push(format!("198.51.100.{}", n + 2).parse::<IpAddr>()?);
        }
        ("203.0.113.10".parse()?, "cl0")
    } else {
        let sw = Ns::new(&format!("demo{pid}-sw"))?;
        sw.run("ip link add br0 type bridge && ip link set br0 up")?;
        let hosts = [(&cl, 2), (&lb, 1)]
            .into_iter()
            .chain(rs.iter().zip([11, 12, 13]));
        for (n, (host, last)) in hosts.enumerate() {
            host.run(&format!(
                "ip link add eth0 type veth peer name p{n} netns {}",
                sw.0
            ))?;
            sw.run(&format!(
                "ip link set p{n} master br0 && ip link set p{n} up"
            ))?;
            host.run(&format!(
                "ip addr add 198.51.100.{last}/24 dev eth0 && ip link set eth0 up"
            ))?;
            if last > 10 {
                reals.push(format!("198.51.100.{last}").parse()?);
            }
        }
        _switch = Some(sw);
        ("198.51.100.100".parse()?, "eth0")
    };
    let mut httpd = Vec::new();
    for (i, r) in rs.iter().enumerate() {
        let dir = www.join(format!("rs{}", i + 1));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("index.html"), format!("rs{}\n", i + 1))?;
        let child = Command::new("ip")
            .args([
                "netns", "exec", &r.0, "busybox", "httpd", "-f", "-p", "80", "-h",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        httpd.push(Httpd(child));
    }

    // The library: real servers first, then the director and its service.
    let real_servers: Vec<RealServerSetup> = match tunnel {
        None => Vec::new(),
        Some(t) => rs
            .iter()
            .map(|r| {
                match t {
                    None => RealServerSetup::dr(vip),
                    Some(t) => RealServerSetup::tun(vip, t),
                }
                .netns(r.netns())
                .journal_dir(&journal)
            })
            .collect(),
    };
    for s in &real_servers {
        print!("{}", s.apply()?);
    }
    let key = ServiceKey::tcp(SocketAddr::new(vip, 80));
    let dests = reals.iter().zip([1, 2, 3]).map(|(ip, w)| {
        Destination::new(SocketAddr::new(*ip, 80))
            .with_forward(forward)
            .with_weight(w)
    });
    let mut director = DirectorSetup::new(vip, lb_if)
        .netns(lb.netns())
        .journal_dir(&journal)
        .service(Service::new(key, Scheduler::WeightedRoundRobin), dests);
    if tunnel.is_none() {
        director = director.nat();
    }
    print!("{}", director.apply()?);
    print!("{}", director.status()?);
    std::thread::sleep(Duration::from_millis(500)); // httpd start-up

    // Traffic, and the balance it made.
    let client = Client::builder().netns(lb.netns()).build()?;
    let before = client.destinations(&key)?;
    let urls = vec![format!("http://{vip}/"); 60].join(" ");
    let answers = cl.run(&format!(
        "curl -s --max-time 10 -H \"Connection: close\" {urls}"
    ))?;
    let mut counts = BTreeMap::new();
    for line in answers.lines() {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    println!("60 requests with wrr 1:2:3: {counts:?}");
    // The kernel folds its per-CPU counters into what it reports every 2 s:
    // wait until they show the 60 connections (or 10 s) before judging.
    let service = client.service(&key)?;
    let started = std::time::Instant::now();
    let report = loop {
        let report = BalanceReport::between(&service, &before, &client.destinations(&key)?);
        if report.total_connections >= 60 || started.elapsed() > Duration::from_secs(10) {
            break report;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    print!("{report}");

    // Teardown: the VIP goes first, then the services, then the real servers.
    print!("{}", director.teardown()?);
    for s in &real_servers {
        print!("{}", s.teardown()?);
    }
    drop(httpd);
    let _ = std::fs::remove_dir_all(&www);
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let res = match argv.first().map(String::as_str) {
        Some("real-server") if argv.len() >= 2 => {
            Args::parse(&argv[2..]).and_then(|a| real_server(&argv[1], &a))
        }
        Some("director") if argv.len() >= 2 => {
            Args::parse(&argv[2..]).and_then(|a| director(&argv[1], &a))
        }
        Some("report") => Args::parse(&argv[1..]).and_then(|a| report(&a)),
        Some("demo") => demo(argv.get(1).map(String::as_str).unwrap_or("dr")),
        _ => Err(USAGE.into()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster: {e}");
            ExitCode::FAILURE
        }
    }
}
