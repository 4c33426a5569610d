//! Making the table what a file says: `restore`, `apply` and `diff` (the
//! plan `apply` would carry out). Read the table, diff, apply the
//! difference: the table is never empty on the way, and unchanged services
//! keep their connections.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use ipvs::state::{
    ApplyOptions, ApplyReport, DiffOptions, DrainOptions, DrainTracker, OnError, Plan, Reconciler,
    RunOptions, State, Step, diff,
};

use crate::exit::{Exit, Failure, Result, exit_of};
use crate::files::{FormatOption, Source, read_state};
use crate::kernel::{Global, read_table};

// How the changes are applied (`restore`, `apply`).
#[derive(Debug, Clone, Default, Args)]
pub struct ApplyFlags {
    /// Print the plan (as ipvsadm rules) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (--dry-run) or the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// If an operation fails, undo those applied before it.
    #[arg(long)]
    pub rollback: bool,
    /// Attempt every operation even after one fails.
    #[arg(long)]
    pub keep_going: bool,
}

// Draining instead of deleting (`apply`, `diff`).
#[derive(Debug, Clone, Default, Args)]
pub struct DrainFlags {
    /// Destinations going away that still have connections drain first:
    /// weight 0 until their connections end or DURATION passes, then they
    /// are deleted. DURATION: seconds, or with units (30s, 5m, 1h30m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub drain: Option<Duration>,
    /// With --drain: when each drain started, kept in FILE from one run to
    /// the next.
    #[arg(long, value_name = "FILE", requires = "drain")]
    pub drain_state: Option<PathBuf>,
}

// `restore [FILE|-]`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The rules, as `ipvsadm -R` reads them (`-`, the default: stdin); a
    /// state file is read by its extension (.json, .yaml or .yml, .toml).
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatOption,
    #[command(flatten)]
    pub apply: ApplyFlags,
}

// `apply FILE`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub apply: ApplyFlags,
    #[command(flatten)]
    pub drain: DrainFlags,
    /// With --drain: keep reconciling until every drain is over, printing
    /// the draining destinations each round.
    #[arg(long, requires = "drain", conflicts_with = "dry_run")]
    pub wait: bool,
    /// With --dry-run: compare with FILE (read by its extension) instead of
    /// the kernel's table.
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub from: Option<PathBuf>,
}

// `diff FILE`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub source: Source,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 4 if the table differs from FILE, 0 if not.
    #[arg(long)]
    pub exit_code: bool,
    /// Compare with FILE (read by its extension) instead of the kernel's table.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub drain: DrainFlags,
}

/// A duration: whole seconds (`30`), or with units as humantime reads them
/// (`30s`, `5m`, `1h30m`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map(Duration::from_secs)
            .map_err(|e| format!("{e}"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("not a duration (like 30, 30s, 5m, 1h30m): {e}"))
}

/// `restore`: make the table what the rules say.
pub fn restore(args: &RestoreArgs, global: &Global) -> Result<Exit> {
    let desired = read_state(&args.file, args.format.format)?;
    apply_state(
        global,
        &desired,
        &args.apply,
        &DrainFlags::default(),
        false,
        None,
    )
}

/// `apply`: make the table what FILE says (or preview it, --dry-run).
pub fn apply(args: &ApplyArgs, global: &Global) -> Result<Exit> {
    let desired = args.source.read()?;
    apply_state(
        global,
        &desired,
        &args.apply,
        &args.drain,
        args.wait,
        args.from.as_deref(),
    )
}

/// `diff`: the plan `apply` would carry out.
pub fn diff_file(args: &DiffArgs, global: &Global) -> Result<Exit> {
    let desired = args.source.read()?;
    let plan = plan(global, args.from.as_deref(), &args.drain, &desired)?;
    print_plan(&plan, args.json);
    Ok(if args.exit_code && !plan.is_empty() {
        Exit::Different
    } else {
        Exit::Done
    })
}

/// The plan from the kernel's table (or the file `from`) to `desired`.
fn plan(global: &Global, from: Option<&Path>, drain: &DrainFlags, desired: &State) -> Result<Plan> {
    let actual = match from {
        Some(from) => read_state(from, None)?,
        None => read_table(&global.client()?)?,
    };
    Ok(diff(&actual, desired, &diff_options(drain)?))
}

fn diff_options(drain: &DrainFlags) -> Result<DiffOptions> {
    let mut opts = DiffOptions::default();
    if let Some(deadline) = drain.drain {
        let mut d = DrainOptions::new(deadline);
        if let Some(path) = &drain.drain_state {
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

/// The plan's summary, in the words the Python package prints too
/// (`PlanSummary`'s `Display`).
fn describe(plan: &Plan) -> String {
    plan.summary().to_string()
}

/// Each drain under way (`Draining`'s `Display`, as Python prints it).
fn print_draining(plan: &Plan) {
    for d in &plan.draining {
        eprintln!("ipvsctl: {d}");
    }
}

fn apply_options(flags: &ApplyFlags) -> ApplyOptions {
    ApplyOptions {
        rollback: flags.rollback,
        on_error: if flags.keep_going {
            OnError::Continue
        } else {
            OnError::Stop
        },
        ..ApplyOptions::default()
    }
}

/// Make the kernel's table `desired` (or print the plan, `--dry-run`).
fn apply_state(
    global: &Global,
    desired: &State,
    flags: &ApplyFlags,
    drain: &DrainFlags,
    wait: bool,
    from: Option<&Path>,
) -> Result<Exit> {
    if flags.dry_run {
        let plan = plan(global, from, drain, desired)?;
        print_plan(&plan, flags.json);
        return Ok(Exit::Done);
    }
    let client = global.client()?;
    let mut reconciler = match drain.drain {
        Some(deadline) => Reconciler::with_drain(deadline),
        None => Reconciler::new(),
    };
    if let Some(path) = &drain.drain_state {
        reconciler.set_tracker(load_tracker(path)?);
    }
    let report_plan = |plan: &Plan| {
        if !plan.is_empty() {
            eprintln!("ipvsctl: {}", describe(plan));
        }
        print_draining(plan);
    };
    // Whether the (last) plan changed anything, left drains, and its report.
    let (changed, draining, report) = if wait {
        let opts = RunOptions {
            poll: Duration::from_secs(1),
            timeout: None,
            apply: apply_options(flags),
        };
        let step = reconciler
            .run(&client, desired, &opts, |step: &Step| {
                report_plan(&step.plan)
            })
            .map_err(|e| Failure::kernel("reading the table", e))?;
        (
            !step.plan.is_empty(),
            !step.plan.draining.is_empty(),
            step.report,
        )
    } else {
        // One round as `Reconciler::step`, the plan moved into its report.
        let actual = read_table(&client)?;
        let plan = reconciler.plan(&actual, desired, SystemTime::now());
        report_plan(&plan);
        let (changed, draining) = (!plan.is_empty(), !plan.draining.is_empty());
        let report = if changed {
            plan.apply_owned(&client, &actual, &apply_options(flags))
        } else {
            ApplyReport::default()
        };
        (changed, draining, report)
    };
    if let Some(path) = &drain.drain_state {
        save_tracker(path, reconciler.tracker())?;
    }
    if flags.json {
        println!("{}", report.to_json());
    }
    if report.is_ok() {
        if changed {
            eprintln!("ipvsctl: applied {} operations", report.applied.len());
        } else if !draining {
            eprintln!("ipvsctl: the table is already as wanted");
        }
        Ok(Exit::Done)
    } else {
        eprintln!("ipvsctl: {report}");
        // Nothing applied and every failure says IPVS is out of reach.
        let unavailable = report
            .failed
            .iter()
            .all(|f| exit_of(&f.error) == Exit::Unavailable);
        Ok(if unavailable && report.applied.is_empty() {
            Exit::Unavailable
        } else {
            Exit::Kernel
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
