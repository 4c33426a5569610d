//! `ipvsctl`: the kernel's IPVS table as a file. Show it, save it, make it
//! what a file says (without ever emptying it on the way), preview changes.
//! Built on the `ipvs` library; see `ipvsctl --help`.

mod ipvsctl {
    pub mod args;
    pub mod table;
}

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ipvs::client::{Client, Error as ClientError, Netns};
use ipvs::rules::{self, WriteOptions};
use ipvs::state::{
    ApplyOptions, DiffOptions, DrainTracker, OnError, Plan, Reconciler, RunOptions, State, Step,
    diff,
};

use ipvsctl::args::{Args, Command, Format};

/// Exit statuses a script can rely on.
mod exit {
    /// Done; for `diff --exit-code`, no difference.
    pub const OK: u8 = 0;
    /// The kernel refused an operation or a read failed; the table may be
    /// partly changed (the report says exactly what was applied).
    pub const KERNEL: u8 = 1;
    /// Bad command line, or a file that does not read, parse or validate.
    pub const USAGE: u8 = 2;
    /// IPVS is not available here: no ip_vs module, no permission
    /// (CAP_NET_ADMIN), or no such network namespace.
    pub const UNAVAILABLE: u8 = 3;
    /// `diff --exit-code`: the table differs from the file.
    pub const DIFFERENT: u8 = 4;
}

pub const HELP: &str = "\
ipvsctl: show, save and change the kernel's IPVS (LVS) table

Usage: ipvsctl [--netns NAME] COMMAND [OPTIONS]

Commands:
  show [--json]              The table, as `ipvsadm -Ln` lists it (--json: the
                             whole state, stats and connection counts included).
  save [--format FMT] [--complete]
                             The table as ipvsadm rules, exactly as `ipvsadm -Sn`
                             writes them (--complete adds thresholds and the
                             timeouts); or as json, yaml or toml.
  restore [FILE|-]           Make the table what rules (as `ipvsadm -R` reads them,
                             from FILE or stdin) describe: read, diff, apply the
                             difference. Unlike `ipvsadm -C` then `-R`, the table
                             is never empty on the way and unchanged services keep
                             their connections.
  apply FILE                 Make the table what FILE describes, the same way.
      --dry-run              Print the plan (as ipvsadm rules) and change nothing.
      --json                 Print the plan (--dry-run) or the report as JSON.
      --rollback             If an operation fails, undo those applied before it.
      --keep-going           Attempt every operation even after one fails.
      --drain SECS           Destinations going away that still have connections
                             drain first: weight 0 until their connections end or
                             SECS pass (suffixes s, m, h), then they are deleted.
      --wait                 With --drain: keep reconciling until every drain is
                             over, printing the draining destinations each round.
      --drain-state FILE     With --drain: when each drain started, kept in FILE
                             from one run to the next.
  diff FILE [--json] [--exit-code]
                             The plan that `apply FILE` would apply.
  check FILE                 Read and validate FILE; print it as ipvsadm rules.
  convert FILE --to FMT      Print FILE in another format.

  FILE is read by its extension: .json, .yaml or .yml, .toml, anything else
  (or `-`, stdin) as ipvsadm rules; --format FMT (rules, json, yaml, toml)
  overrides it. For diff and apply --dry-run, --from FILE compares with FILE
  (read by its extension) instead of the kernel's table.

Options:
  --netns NAME               Work in the network namespace NAME (`ip netns add NAME`).
  -h, --help                 This help.
  -V, --version              The version.

Exit status:
  0  done (diff --exit-code: no difference)
  1  the kernel refused an operation, or a read failed: the table may be partly
     changed; the report on stderr (or --json) says which operations were applied
  2  usage error, or a file that does not read, parse or validate (nothing changed)
  3  IPVS not available: no ip_vs module, no permission (CAP_NET_ADMIN), or no
     such network namespace (nothing changed)
  4  diff --exit-code: the table differs from FILE
";

/// A failure, with the exit status it means.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }

    fn client(what: &str, e: ClientError) -> Self {
        let code = match &e {
            ClientError::IpvsNotAvailable | ClientError::PermissionDenied { .. } => {
                exit::UNAVAILABLE
            }
            // No socket in that namespace, or no IPVS family to talk to.
            _ if what == "open" => exit::UNAVAILABLE,
            _ => exit::KERNEL,
        };
        let message = match what {
            "open" => e.to_string(),
            _ => format!("{what}: {e}"),
        };
        Failure { code, message }
    }
}

type Result<T> = std::result::Result<T, Failure>;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match Args::parse(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("ipvsctl: {msg}\nTry `ipvsctl --help`.");
            return ExitCode::from(exit::USAGE);
        }
    };
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("ipvsctl: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(args: &Args) -> Result<u8> {
    match &args.command {
        Command::Help => {
            print!("{HELP}");
            Ok(exit::OK)
        }
        Command::Version => {
            println!("ipvsctl {}", env!("CARGO_PKG_VERSION"));
            Ok(exit::OK)
        }
        Command::Show { json } => show(args, *json),
        Command::Save { format, complete } => save(args, *format, *complete),
        Command::Restore { file } => {
            let desired = read_state(file.as_deref().unwrap_or(Path::new("-")), args.format)?;
            apply(args, &desired)
        }
        Command::Apply { file } => {
            let desired = read_state(file, args.format)?;
            apply(args, &desired)
        }
        Command::Diff { file, exit_code } => {
            let desired = read_state(file, args.format)?;
            let plan = plan(args, &desired)?;
            print_plan(&plan, args.json);
            Ok(if *exit_code && !plan.is_empty() {
                exit::DIFFERENT
            } else {
                exit::OK
            })
        }
        Command::Check { file } => {
            let state = read_state(file, args.format)?;
            print!("{}", state.to_rules_text());
            eprintln!(
                "ipvsctl: {}: {} services, {} destinations, valid",
                file.display(),
                state.services.len(),
                state.dest_count()
            );
            Ok(exit::OK)
        }
        Command::Convert { file, to } => {
            let state = read_state(file, args.format)?;
            print!("{}", write_state(&state, *to, true)?);
            Ok(exit::OK)
        }
    }
}

fn client(args: &Args) -> Result<Client> {
    let mut b = Client::builder();
    if let Some(ns) = &args.netns {
        let path = Netns::named(ns);
        if let Netns::Path(p) = &path {
            if !p.exists() {
                return Err(Failure {
                    code: exit::UNAVAILABLE,
                    message: format!(
                        "no network namespace {ns:?} ({} does not exist)",
                        p.display()
                    ),
                });
            }
        }
        b = b.netns(path);
    }
    b.build().map_err(|e| Failure::client("open", e))
}

fn read_kernel(client: &Client) -> Result<State> {
    State::read(client).map_err(|e| Failure::client("reading the table", e))
}

/// The format of `path`, from `format` or its extension.
fn format_of(path: &Path, format: Option<Format>) -> Format {
    if let Some(f) = format {
        return f;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "json" => Format::Json,
        "yaml" | "yml" => Format::Yaml,
        "toml" => Format::Toml,
        // ipvsadm's own files have none (/etc/sysconfig/ipvsadm).
        _ => Format::Rules,
    }
}

fn read_state(path: &Path, format: Option<Format>) -> Result<State> {
    let format = format_of(path, format);
    let mut text = String::new();
    let name = if path == Path::new("-") {
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::usage(format!("stdin: {e}")))?;
        "stdin".to_owned()
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        path.display().to_string()
    };
    let state = match format {
        Format::Rules => State::from_rules_text(&text),
        Format::Json => State::from_json(&text),
        Format::Yaml => State::from_yaml(&text),
        Format::Toml => State::from_toml(&text),
    };
    state.map_err(|e| Failure::usage(format!("{name}: {e}")))
}

fn write_state(state: &State, format: Format, complete: bool) -> Result<String> {
    let out = match format {
        Format::Rules => {
            let mut s = state.clone();
            if !complete {
                s.timeouts = None;
            }
            let opts = if complete {
                WriteOptions::COMPLETE
            } else {
                WriteOptions::IPVSADM
            };
            return Ok(rules::write_with(&s.to_rules(), &opts));
        }
        Format::Json => state.to_json(),
        Format::Yaml => state.to_yaml(),
        Format::Toml => state.to_toml(),
    };
    out.map_err(|e| Failure::usage(e.to_string()))
}

fn show(args: &Args, json: bool) -> Result<u8> {
    let client = client(args)?;
    let mut state = read_kernel(&client)?;
    state.sort();
    if json {
        let text = state.to_json().map_err(|e| Failure::usage(e.to_string()))?;
        println!("{text}");
    } else {
        let info = client
            .info()
            .map_err(|e| Failure::client("reading the version", e))?;
        print!("{}", ipvsctl::table::listing(&info, &state));
    }
    Ok(exit::OK)
}

fn save(args: &Args, format: Format, complete: bool) -> Result<u8> {
    let client = client(args)?;
    let mut state = read_kernel(&client)?;
    if format != Format::Rules {
        state = state.config();
    }
    let text = write_state(&state, format, complete)?;
    io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::usage(format!("stdout: {e}")))?;
    Ok(exit::OK)
}

/// The plan from the kernel's table (or `--from FILE`) to `desired`.
fn plan(args: &Args, desired: &State) -> Result<Plan> {
    let actual = match &args.from {
        Some(from) => read_state(from, None)?,
        None => read_kernel(&client(args)?)?,
    };
    Ok(diff(&actual, desired, &diff_options(args)?))
}

fn diff_options(args: &Args) -> Result<DiffOptions> {
    let mut opts = DiffOptions::default();
    if let Some(deadline) = args.drain {
        let mut d = ipvs::state::DrainOptions::new(deadline);
        if let Some(path) = &args.drain_state {
            d = d.with_tracker(load_tracker(path)?);
        }
        opts.drain = Some(d);
    }
    Ok(opts)
}

fn load_tracker(path: &Path) -> Result<DrainTracker> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DrainTracker::default()),
        Err(e) => Err(Failure::usage(format!("{}: {e}", path.display()))),
    }
}

fn save_tracker(path: &Path, tracker: &DrainTracker) -> Result<()> {
    let text = serde_json::to_string_pretty(tracker).expect("a tracker serializes");
    std::fs::write(path, text + "\n")
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn print_plan(plan: &Plan, json: bool) {
    if json {
        println!("{}", plan.to_json());
    } else {
        print!("{plan}");
    }
    eprintln!("ipvsctl: {}", describe(plan));
    print_draining(plan);
}

fn describe(plan: &Plan) -> String {
    if plan.is_empty() {
        return "no changes".to_owned();
    }
    let s = plan.summary();
    let parts: Vec<String> = [
        (s.set_timeouts, "timeouts set"),
        (s.add_services, "services added"),
        (s.update_services, "services changed"),
        (s.delete_services, "services deleted"),
        (s.add_destinations, "destinations added"),
        (s.update_destinations, "destinations changed"),
        (s.drain_destinations, "destinations drained"),
        (s.delete_destinations, "destinations deleted"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    format!("{} operations: {}", plan.len(), parts.join(", "))
}

fn print_draining(plan: &Plan) {
    let now = std::time::SystemTime::now();
    for d in &plan.draining {
        let left = d.deadline.duration_since(now).unwrap_or_default().as_secs();
        eprintln!(
            "ipvsctl: draining {} -> {}: {} active, {} inactive connections; deleted when none are left, at the latest in {left} s{}",
            d.service,
            d.dest,
            d.active,
            d.inactive,
            if d.service_removed {
                " (then the service)"
            } else {
                ""
            }
        );
    }
}

fn apply_options(args: &Args) -> ApplyOptions {
    ApplyOptions {
        rollback: args.rollback,
        on_error: if args.keep_going {
            OnError::Continue
        } else {
            OnError::Stop
        },
        ..ApplyOptions::default()
    }
}

fn apply(args: &Args, desired: &State) -> Result<u8> {
    if args.dry_run {
        let plan = plan(args, desired)?;
        print_plan(&plan, args.json);
        return Ok(exit::OK);
    }
    let client = client(args)?;
    let mut reconciler = match args.drain {
        Some(deadline) => Reconciler::with_drain(deadline),
        None => Reconciler::new(),
    };
    if let Some(path) = &args.drain_state {
        reconciler.set_tracker(load_tracker(path)?);
    }
    let report_step = |step: &Step| {
        if !step.plan.is_empty() {
            eprintln!("ipvsctl: {}", describe(&step.plan));
        }
        print_draining(&step.plan);
    };
    let step = if args.wait {
        let opts = RunOptions {
            poll: Duration::from_secs(1),
            timeout: None,
            apply: apply_options(args),
        };
        reconciler.run(&client, desired, &opts, report_step)
    } else {
        reconciler
            .step(&client, desired, &apply_options(args))
            .inspect(report_step)
    }
    .map_err(|e| Failure::client("reading the table", e))?;
    if let Some(path) = &args.drain_state {
        save_tracker(path, reconciler.tracker())?;
    }
    let report = &step.report;
    if args.json {
        println!("{}", report.to_json());
    }
    if report.is_ok() {
        if !step.plan.is_empty() {
            eprintln!("ipvsctl: applied {} operations", report.applied.len());
        } else if step.plan.draining.is_empty() {
            eprintln!("ipvsctl: the table is already as wanted");
        }
        Ok(exit::OK)
    } else {
        eprintln!("ipvsctl: {report}");
        let unavailable = report.failed.iter().all(|f| {
            matches!(
                f.error,
                ClientError::PermissionDenied { .. } | ClientError::IpvsNotAvailable
            )
        });
        Ok(if unavailable && report.applied.is_empty() {
            exit::UNAVAILABLE
        } else {
            exit::KERNEL
        })
    }
}
