//! States and plans against the kernel: reading the table, applying a plan
//! in batches with a report of exactly what was and was not applied,
//! rolling back, and the reconcile loop that drains removed destinations.
//!
//! ```no_run
//! use ipvs::client::Client;
//! use ipvs::state::{ApplyOptions, DiffOptions, State, diff};
//!
//! let client = Client::new()?;
//! let desired = State::from_rules_text("-A -t 192.0.2.10:80 -s rr\n")?;
//! let actual = State::read(&client)?;
//! let plan = diff(&actual, &desired, &DiffOptions::default());
//! let report = plan.apply(&client, &actual, &ApplyOptions::default().with_rollback());
//! if !report.is_ok() {
//!     eprintln!("{report}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use super::replay::Table;
use super::{Change, Draining, Plan, Reconciler, State};
use crate::client::core::{self, Driver, now};
#[cfg(any(feature = "tokio", feature = "smol"))]
use crate::client::{AsyncClient, Runtime};
use crate::client::{Client, Error};
use crate::codec::{Command, encode};
use crate::engine::Payloads;
use crate::model::{ServiceKey, Timeouts, ValidationError};

impl State {
    /// The kernel's whole table: every service with its destinations
    /// (with stats and connection counts, [`Client::snapshot`]) and the
    /// connection timeouts ([`Client::timeouts`]).
    pub fn read(client: &Client) -> Result<State, Error> {
        now(read(client))
    }

    /// [`State::read`] with an async client.
    #[cfg(any(feature = "tokio", feature = "smol"))]
    pub async fn read_async<S: Runtime>(client: &AsyncClient<S>) -> Result<State, Error> {
        read(client).await
    }
}

/// The whole table, through either client.
async fn read(d: &impl Driver) -> Result<State, Error> {
    let timeouts = core::timeouts(d).await?;
    let entries = core::snapshot(d).await?;
    Ok(State::from_snapshot(entries, Some(timeouts)))
}

/// What to do after an operation the kernel refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum OnError {
    /// Send nothing after the batch write that held the refused operation
    /// (the default). The operations of that write after the refused one
    /// were already sent: each is reported applied or failed as it went;
    /// everything after that write is reported not attempted.
    /// [`ApplyOptions::chunk`] bounds how many that can be.
    #[default]
    Stop,
    /// Attempt every operation, whatever happened to the ones before.
    Continue,
}

/// How [`Plan::apply`] sends a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct ApplyOptions {
    /// If anything was not applied, undo what was: the inverse of each
    /// applied operation, in reverse order (see [`Rollback`]).
    pub rollback: bool,
    /// Stop at the first refusal, or carry on.
    pub on_error: OnError,
    /// Operations per batch call with [`OnError::Stop`] (at least 1;
    /// default 256): the most operations that can still go after a refused
    /// one. With [`OnError::Continue`] the whole plan is one batch.
    pub chunk: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            rollback: false,
            on_error: OnError::Stop,
            chunk: 256,
        }
    }
}

impl ApplyOptions {
    /// Roll back what was applied if anything was not.
    pub fn with_rollback(mut self) -> Self {
        self.rollback = true;
        self
    }

    /// What to do after a refusal.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Operations per batch call with [`OnError::Stop`].
    pub fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }
}

/// A change the kernel (or validation) refused.
#[derive(Debug)]
pub struct FailedChange {
    /// Its index in the plan.
    pub index: usize,
    /// The change.
    pub op: Change,
    /// Why.
    pub error: Error,
}

#[cfg(feature = "serde")]
impl serde::Serialize for FailedChange {
    /// `{"index", "op", "error": message, "errno": n or null}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("FailedChange", 4)?;
        st.serialize_field("index", &self.index)?;
        st.serialize_field("op", &self.op)?;
        st.serialize_field("error", &self.error.to_string())?;
        st.serialize_field("errno", &self.error.errno())?;
        st.end()
    }
}

/// What [`Plan::apply`] did: every operation of the plan is in exactly one
/// of `applied`, `failed`, `not_attempted` and `in_doubt`, each list in
/// plan order.
#[derive(Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ApplyReport {
    /// Applied by the kernel.
    pub applied: Vec<Change>,
    /// Refused, by the kernel or (before anything was sent) by validation.
    pub failed: Vec<FailedChange>,
    /// Never sent.
    pub not_attempted: Vec<Change>,
    /// Sent, but the socket failed or timed out before the kernel said
    /// what became of them, and reading the table back could not settle it.
    pub in_doubt: Vec<Change>,
    /// The rollback, if one was asked for and something was not applied.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub rollback: Option<Rollback>,
}

/// Undoing what a failed apply had applied.
#[derive(Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Rollback {
    /// The inverse operations sent, in the order sent (inverse of the last
    /// applied operation first).
    pub ops: Vec<Change>,
    /// Those the kernel applied.
    pub applied: Vec<Change>,
    /// Those it refused (index into `ops`).
    pub failed: Vec<FailedChange>,
    /// Applied operations that could not be inverted: the table they were
    /// applied to did not have what they changed (it was not the one the
    /// plan was diffed from).
    pub not_invertible: Vec<Change>,
}

impl Rollback {
    /// Whether everything applied was undone.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.not_invertible.is_empty()
    }
}

impl ApplyReport {
    /// Whether the whole plan was applied.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty() && self.not_attempted.is_empty() && self.in_doubt.is_empty()
    }

    /// Whether the table is as it was before: nothing was applied, or all
    /// of it was rolled back.
    pub fn is_unchanged(&self) -> bool {
        self.in_doubt.is_empty()
            && (self.applied.is_empty()
                || self.rollback.as_ref().is_some_and(Rollback::is_complete))
    }

    /// The first refusal, if any.
    pub fn first_error(&self) -> Option<&Error> {
        self.failed.first().map(|f| &f.error)
    }

    /// `Ok` if the whole plan was applied, else the first refusal (or
    /// [`Error::NotAttempted`] for operations left in doubt).
    pub fn into_result(self) -> Result<(), Error> {
        if let Some(f) = self.failed.into_iter().next() {
            return Err(f.error);
        }
        if !self.in_doubt.is_empty() || !self.not_attempted.is_empty() {
            return Err(Error::NotAttempted {
                reason: format!(
                    "{} operations in doubt, {} not attempted",
                    self.in_doubt.len(),
                    self.not_attempted.len()
                ),
            });
        }
        Ok(())
    }

    /// The report as pretty-printed JSON.
    #[cfg(feature = "config")]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }
}

impl fmt::Display for ApplyReport {
    /// A summary, then each refusal, and the rollback's outcome.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} applied, {} failed, {} not attempted",
            self.applied.len(),
            self.failed.len(),
            self.not_attempted.len()
        )?;
        if !self.in_doubt.is_empty() {
            write!(f, ", {} in doubt", self.in_doubt.len())?;
        }
        for x in &self.failed {
            write!(
                f,
                "\nfailed: operation {} `{}`: {}",
                x.index + 1,
                x.op,
                x.error
            )?;
        }
        if let Some(r) = &self.rollback {
            write!(
                f,
                "\nrolled back: {} of {} inverse operations applied",
                r.applied.len(),
                r.ops.len()
            )?;
            for x in &r.failed {
                write!(f, "\nrollback failed: `{}`: {}", x.op, x.error)?;
            }
            for op in &r.not_invertible {
                write!(f, "\nrollback: cannot invert `{op}`")?;
            }
        }
        Ok(())
    }
}

/// Check an op as the client would before sending it.
fn validate(op: &Change) -> Result<(), ValidationError> {
    match op {
        Change::SetTimeouts { .. } => Ok(()),
        Change::AddService { service } | Change::UpdateService { service } => service.validate(),
        Change::DeleteService { service } => service.validate(),
        Change::AddDestination { service, dest }
        | Change::UpdateDestination { service, dest }
        | Change::DrainDestination { service, dest } => {
            service.validate()?;
            dest.validate(service)
        }
        Change::DeleteDestination { service, .. } => service.validate(),
    }
}

/// The fate of each op of a batch.
#[derive(Debug)]
enum Status {
    Pending,
    Applied,
    /// Boxed: a plan's statuses are many, refusals few.
    Failed(Box<Error>),
    NotAttempted,
    InDoubt,
}

/// Append the request of `op` to `payloads`: the bytes of
/// `op.to_operation()`'s request, written straight from the change.
fn encode(op: &Change, payloads: &mut Payloads) {
    payloads.push(|buf| match op {
        Change::SetTimeouts { timeouts } => encode::set_config(buf, timeouts),
        Change::AddService { service } => encode::service(buf, Command::NEW_SERVICE, service),
        Change::UpdateService { service } => encode::service(buf, Command::SET_SERVICE, service),
        Change::DeleteService { service } => encode::del_service(buf, service),
        Change::AddDestination { service, dest } => {
            encode::dest(buf, Command::NEW_DEST, service, dest)
        }
        Change::UpdateDestination { service, dest }
        | Change::DrainDestination { service, dest } => {
            encode::dest(buf, Command::SET_DEST, service, dest)
        }
        Change::DeleteDestination { service, dest } => {
            encode::del_dest(buf, service, dest.address, dest.port)
        }
    });
}

/// Send `ops`; one status per op. Unless `validated` (as [`apply_plan`]
/// does for the whole plan first), each batch is validated before it
/// goes, and an invalid op fails the batch: nothing of it is sent.
async fn send(
    client: &impl Driver,
    ops: &[Change],
    on_error: OnError,
    chunk: usize,
    validated: bool,
) -> Vec<Status> {
    let mut status: Vec<Status> = ops.iter().map(|_| Status::Pending).collect();
    let chunk = match on_error {
        OnError::Stop => chunk.max(1),
        OnError::Continue => ops.len().max(1),
    };
    let mut start = 0;
    while start < ops.len() {
        let end = (start + chunk).min(ops.len());
        let batch = &ops[start..end];
        let mut refused = false;
        let mut lost = false;
        let invalid = if validated {
            None
        } else {
            batch
                .iter()
                .enumerate()
                .find_map(|(index, op)| validate(op).err().map(|source| (index, source)))
        };
        match invalid {
            None => {
                let mut payloads = Payloads::with_capacity(batch.len(), batch.len() * 160);
                for op in batch {
                    encode(op, &mut payloads);
                }
                let result = core::execute_encoded(client, payloads, |i, e| {
                    batch[i].to_operation().error(e)
                })
                .await;
                for (i, r) in result.results.into_iter().enumerate() {
                    status[start + i] = match r {
                        Ok(()) => Status::Applied,
                        // A write (or its replies) failed: the client stops
                        // there, and what it had sent may or may not have
                        // been applied.
                        Err(Error::Io(_) | Error::Timeout(_)) => {
                            lost = true;
                            Status::InDoubt
                        }
                        Err(Error::NotAttempted { .. }) if lost => Status::InDoubt,
                        Err(Error::NotAttempted { .. }) => Status::NotAttempted,
                        Err(e) => {
                            refused = true;
                            Status::Failed(Box::new(e))
                        }
                    };
                }
            }
            // An invalid op: nothing of this batch went.
            Some((index, source)) => {
                status[start] = Status::Failed(Box::new(Error::InvalidOperation { index, source }));
                for s in &mut status[start + 1..end] {
                    *s = Status::NotAttempted;
                }
                lost = true;
            }
        }
        start = end;
        if lost || (refused && on_error == OnError::Stop) {
            break;
        }
    }
    for s in &mut status[start..] {
        *s = Status::NotAttempted;
    }
    status
}

/// Whether `table` shows the effect of `op` (for operations in doubt).
/// Plans never hold an operation that changes nothing, so the effect
/// being there means the operation was applied.
fn effect_present(table: &State, op: &Change) -> bool {
    match op {
        Change::SetTimeouts { timeouts } => table.timeouts.is_some_and(|have| {
            [
                (timeouts.tcp, have.tcp),
                (timeouts.tcp_fin, have.tcp_fin),
                (timeouts.udp, have.udp),
            ]
            .iter()
            .all(|(want, have)| *want == 0 || want == have)
        }),
        Change::AddService { service } | Change::UpdateService { service } => table
            .service(&service.key)
            .is_some_and(|s| s.service.config() == service.config()),
        Change::DeleteService { service } => table.service(service).is_none(),
        Change::AddDestination { service, dest }
        | Change::UpdateDestination { service, dest }
        | Change::DrainDestination { service, dest } => table
            .service(service)
            .and_then(|s| s.dest(dest.socket_addr()))
            .is_some_and(|d| d.config() == dest.config()),
        Change::DeleteDestination { service, dest } => table
            .service(service)
            .is_none_or(|s| s.dest(dest.socket_addr()).is_none()),
    }
}

/// The operations that undo `op`, applied to `before` (the table just
/// before it); `None` if `before` lacks what `op` changes.
fn inverse(before: &Table<'_>, op: &Change) -> Option<Vec<Change>> {
    let svc = |k: &ServiceKey| before.find(k);
    let dest = |k: &ServiceKey, d: &crate::model::Destination| {
        svc(k)
            .and_then(|s| s.dest(d.socket_addr()))
            .map(|d| d.config())
    };
    Some(match op {
        Change::SetTimeouts { .. } => vec![Change::SetTimeouts {
            timeouts: before
                .state()
                .timeouts
                .filter(|t| *t != Timeouts::UNCHANGED)?,
        }],
        Change::AddService { service } => vec![Change::DeleteService {
            service: service.key,
        }],
        Change::UpdateService { service } => vec![Change::UpdateService {
            service: svc(&service.key)?.service.config(),
        }],
        Change::DeleteService { service } => {
            let s = svc(service)?;
            let mut ops = vec![Change::AddService {
                service: s.service.config(),
            }];
            ops.extend(s.destinations.iter().map(|d| Change::AddDestination {
                service: *service,
                dest: d.config(),
            }));
            ops
        }
        Change::AddDestination { service, dest } => vec![Change::DeleteDestination {
            service: *service,
            dest: dest.config(),
        }],
        Change::UpdateDestination { service, dest: d }
        | Change::DrainDestination { service, dest: d } => {
            vec![Change::UpdateDestination {
                service: *service,
                dest: dest(service, d)?,
            }]
        }
        Change::DeleteDestination { service, dest: d } => vec![Change::AddDestination {
            service: *service,
            dest: dest(service, d)?,
        }],
    })
}

/// The operations that undo `applied` (operations applied in that order
/// to the table `actual`): the inverse of each, last first. Also returns
/// the operations that cannot be inverted because `actual` lacks what they
/// change (it was not the table they were applied to).
///
/// ```
/// use ipvs::state::{DiffOptions, State, diff, inverse_of};
/// let actual = State::from_rules_text("-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1\n").unwrap();
/// let desired = State::from_rules_text("-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 2\n").unwrap();
/// let plan = diff(&actual, &desired, &DiffOptions::default());
/// let (undo, not_invertible) = inverse_of(&actual, &plan.ops);
/// assert!(not_invertible.is_empty());
/// let mut table = actual.clone();
/// plan.replay(&mut table).unwrap();
/// undo.replay(&mut table).unwrap();
/// assert!(table.config_eq(&actual));
/// ```
pub fn inverse_of(actual: &State, applied: &[Change]) -> (Plan, Vec<Change>) {
    let mut state = actual.config();
    // One index for the whole replay: a rollback of a big restore is as
    // long as the restore.
    let mut table = Table::new(&mut state);
    let mut groups = Vec::with_capacity(applied.len());
    let mut not_invertible = Vec::new();
    for op in applied {
        match inverse(&table, op) {
            Some(inv) => groups.push(inv),
            None => not_invertible.push(op.clone()),
        }
        // The kernel applied it, so the table it applied to had what it
        // needed; if ours does not, it was not the kernel's.
        let _ = table.op(op);
    }
    let plan = Plan {
        ops: groups.into_iter().rev().flatten().collect(),
        draining: Vec::new(),
    };
    (plan, not_invertible)
}

/// The rollback of `applied` (in plan order), applied to `actual`.
async fn rollback(client: &impl Driver, actual: &State, applied: &[Change]) -> Rollback {
    let (Plan { ops, .. }, not_invertible) = inverse_of(actual, applied);
    let status = send(client, &ops, OnError::Continue, 0, false).await;
    let mut r = Rollback {
        ops: ops.clone(),
        not_invertible,
        ..Rollback::default()
    };
    for (index, (op, s)) in ops.into_iter().zip(status).enumerate() {
        match s {
            Status::Applied => r.applied.push(op),
            Status::Failed(error) => r.failed.push(FailedChange {
                index,
                op,
                error: *error,
            }),
            _ => r.failed.push(FailedChange {
                index,
                op,
                error: Error::NotAttempted {
                    reason: "the rollback's batch stopped earlier".into(),
                },
            }),
        }
    }
    r
}

/// What [`Plan::apply`] does, through either client: the report takes the
/// operations, copied from a borrowed plan, moved from an owned one.
async fn apply_plan(
    client: &impl Driver,
    ops: Cow<'_, [Change]>,
    actual: &State,
    opts: &ApplyOptions,
) -> ApplyReport {
    let mut report = ApplyReport::default();

    // Everything is validated before anything is sent.
    if let Some((index, source)) = ops
        .iter()
        .enumerate()
        .find_map(|(i, op)| validate(op).err().map(|e| (i, e)))
    {
        report.not_attempted = ops.into_owned();
        let op = report.not_attempted.remove(index);
        report.failed.push(FailedChange {
            index,
            op,
            error: Error::InvalidOperation { index, source },
        });
        return report;
    }

    // Rolling back timeouts needs the ones they replace.
    let mut before = None;
    if opts.rollback
        && actual.timeouts.is_none()
        && ops
            .iter()
            .any(|op| matches!(op, Change::SetTimeouts { .. }))
    {
        let mut a = actual.clone();
        a.timeouts = core::timeouts(client).await.ok();
        before = Some(a);
    }
    let actual = before.as_ref().unwrap_or(actual);

    let mut status = send(client, &ops, opts.on_error, opts.chunk, true).await;

    // Settle what is in doubt by reading the table back.
    if status.iter().any(|s| matches!(s, Status::InDoubt)) {
        if let Ok(table) = read(client).await {
            for (op, s) in ops.iter().zip(status.iter_mut()) {
                // An op whose effect was there before cannot be judged
                // (diffed plans have none: each changes something).
                if matches!(s, Status::InDoubt) && !effect_present(actual, op) {
                    *s = if effect_present(&table, op) {
                        Status::Applied
                    } else {
                        Status::NotAttempted
                    };
                }
            }
        }
    }

    let applied = status
        .iter()
        .filter(|s| matches!(s, Status::Applied))
        .count();
    if applied == ops.len() {
        // The usual end: the operations whole (not each moved in turn).
        report.applied = ops.into_owned();
        return report;
    }
    report.applied.reserve_exact(applied);
    for (index, (op, s)) in ops.into_owned().into_iter().zip(status).enumerate() {
        match s {
            Status::Applied => report.applied.push(op),
            Status::Failed(error) => report.failed.push(FailedChange {
                index,
                op,
                error: *error,
            }),
            Status::InDoubt => report.in_doubt.push(op),
            Status::NotAttempted | Status::Pending => report.not_attempted.push(op),
        }
    }

    if opts.rollback && !report.is_ok() && !report.applied.is_empty() {
        report.rollback = Some(rollback(client, actual, &report.applied).await);
    }
    report
}

impl Plan {
    /// Apply the plan to the kernel, as batches ([`Client::execute_batch`]: many
    /// operations per `sendmsg`), and report what became of each
    /// operation ([`ApplyReport`]).
    ///
    /// `actual` is the table the plan was diffed from: what a rollback
    /// ([`ApplyOptions::rollback`]) restores. Every operation is validated
    /// before anything is sent. With [`OnError::Stop`] (the default) the
    /// plan goes [`ApplyOptions::chunk`] operations per batch call and
    /// stops after a call with a refusal.
    ///
    /// Diffed plans add before they remove ([`super::diff`]), so applying
    /// a whole new table this way never leaves a service without its
    /// destinations, nor the table empty, as `ipvsadm -C` then `-R` does.
    pub fn apply(&self, client: &Client, actual: &State, opts: &ApplyOptions) -> ApplyReport {
        now(apply_plan(client, Cow::Borrowed(&self.ops), actual, opts))
    }

    /// [`Plan::apply`], taking the plan: its operations move into the
    /// report rather than being copied (a whole new table's plan is most of
    /// what a `restore` holds).
    ///
    /// ```no_run
    /// # use ipvs::client::Client;
    /// # use ipvs::state::{ApplyOptions, DiffOptions, State, diff};
    /// # let client = Client::new()?;
    /// let desired = State::from_rules_text("-A -t 192.0.2.10:80 -s rr\n")?;
    /// let actual = State::read(&client)?;
    /// let plan = diff(&actual, &desired, &DiffOptions::default());
    /// let summary = plan.summary();
    /// let report = plan.apply_owned(&client, &actual, &ApplyOptions::default());
    /// println!("{summary}: {report}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_owned(self, client: &Client, actual: &State, opts: &ApplyOptions) -> ApplyReport {
        now(apply_plan(client, Cow::Owned(self.ops), actual, opts))
    }

    /// [`Plan::apply`] with an async client.
    #[cfg(any(feature = "tokio", feature = "smol"))]
    pub async fn apply_async<S: Runtime>(
        &self,
        client: &AsyncClient<S>,
        actual: &State,
        opts: &ApplyOptions,
    ) -> ApplyReport {
        apply_plan(client, Cow::Borrowed(&self.ops), actual, opts).await
    }

    /// [`Plan::apply_owned`] with an async client.
    #[cfg(any(feature = "tokio", feature = "smol"))]
    pub async fn apply_owned_async<S: Runtime>(
        self,
        client: &AsyncClient<S>,
        actual: &State,
        opts: &ApplyOptions,
    ) -> ApplyReport {
        apply_plan(client, Cow::Owned(self.ops), actual, opts).await
    }
}

/// One round of the reconcile loop ([`Reconciler::step`]).
#[derive(Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Step {
    /// When the table was read.
    pub at: SystemTime,
    /// The plan from the table read to the desired one; its
    /// [`Plan::draining`] lists the destinations draining, with the
    /// connections they had.
    pub plan: Plan,
    /// What became of the plan.
    pub report: ApplyReport,
}

impl Step {
    /// The destinations draining after this step.
    pub fn draining(&self) -> &[Draining] {
        &self.plan.draining
    }

    /// Whether the table is the desired one: the plan was applied whole
    /// and nothing is left draining.
    pub fn settled(&self) -> bool {
        self.report.is_ok() && self.plan.draining.is_empty()
    }
}

/// How [`Reconciler::run`] loops.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Time between rounds while destinations drain (default 1 s).
    pub poll: Duration,
    /// Give up after this long (default: never; each drain has its own
    /// deadline anyway, after which its destination is deleted).
    pub timeout: Option<Duration>,
    /// How each round's plan is applied.
    pub apply: ApplyOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            poll: Duration::from_secs(1),
            timeout: None,
            apply: ApplyOptions::default(),
        }
    }
}

impl Reconciler {
    /// One round against the kernel: read the table (connection counts
    /// included), diff it with `desired` (removed destinations with
    /// connections drain, see [`super::DrainOptions`]), and apply the plan.
    pub fn step(
        &mut self,
        client: &Client,
        desired: &State,
        opts: &ApplyOptions,
    ) -> Result<Step, Error> {
        now(self.step_with(client, desired, opts))
    }

    /// [`Reconciler::step`] with an async client.
    #[cfg(any(feature = "tokio", feature = "smol"))]
    pub async fn step_async<S: Runtime>(
        &mut self,
        client: &AsyncClient<S>,
        desired: &State,
        opts: &ApplyOptions,
    ) -> Result<Step, Error> {
        self.step_with(client, desired, opts).await
    }

    async fn step_with(
        &mut self,
        client: &impl Driver,
        desired: &State,
        opts: &ApplyOptions,
    ) -> Result<Step, Error> {
        let actual = read(client).await?;
        let at = SystemTime::now();
        let plan = self.plan(&actual, desired, at);
        let report = if plan.is_empty() {
            ApplyReport::default()
        } else {
            apply_plan(client, Cow::Borrowed(&plan.ops), &actual, opts).await
        };
        Ok(Step { at, plan, report })
    }

    /// Rounds until the table is the desired one and nothing drains
    /// ([`Step::settled`]), a round fails to apply, or `opts.timeout`
    /// passes; `on_step` sees each round. Returns the last round.
    pub fn run(
        &mut self,
        client: &Client,
        desired: &State,
        opts: &RunOptions,
        on_step: impl FnMut(&Step),
    ) -> Result<Step, Error> {
        now(self.run_with(client, desired, opts, on_step))
    }

    /// [`Reconciler::run`] with an async client (pausing on its runtime's timer).
    #[cfg(any(feature = "tokio", feature = "smol"))]
    pub async fn run_async<S: Runtime>(
        &mut self,
        client: &AsyncClient<S>,
        desired: &State,
        opts: &RunOptions,
        on_step: impl FnMut(&Step),
    ) -> Result<Step, Error> {
        self.run_with(client, desired, opts, on_step).await
    }

    async fn run_with(
        &mut self,
        client: &impl Driver,
        desired: &State,
        opts: &RunOptions,
        mut on_step: impl FnMut(&Step),
    ) -> Result<Step, Error> {
        let t0 = Instant::now();
        loop {
            let step = self.step_with(client, desired, &opts.apply).await?;
            on_step(&step);
            let out_of_time = opts.timeout.is_some_and(|t| t0.elapsed() + opts.poll > t);
            if step.settled() || !step.report.is_ok() || out_of_time {
                return Ok(step);
            }
            client.sleep(opts.poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{DiffOptions, DrainOptions, diff};

    fn rules(text: &str) -> State {
        State::from_rules_text(text).unwrap()
    }

    fn with_conns(mut s: State, active: u32) -> State {
        for svc in &mut s.services {
            for d in &mut svc.destinations {
                d.connections = Some(crate::model::Connections {
                    active,
                    inactive: 0,
                    persistent: 0,
                });
            }
        }
        s
    }

    #[test]
    fn the_inverse_of_a_plan_restores_the_table() {
        let actual = rules(
            "--set 900 120 300
-A -t 192.0.2.10:80 -s rr -p 300
-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1 -x 100 -y 10
-a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 2
-A -u 192.0.2.11:53 -s sh -b sh-port
-a -u 192.0.2.11:53 -r 198.51.100.3:53 -i -w 4 --tun-type gue --tun-port 6080
-A -f 7 -s mh
-a -f 7 -r 198.51.100.4:0 -g -w 1
",
        );
        let desired = rules(
            "--set 60 0 30
-A -t 192.0.2.10:80 -s wrr
-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 5
-a -t 192.0.2.10:80 -r 198.51.100.5:80 -m -w 1
-A -t [2001:db8::10]:443 -s lc
-a -t [2001:db8::10]:443 -r [2001:db8::21]:443 -m -w 1
-A -f 7 -s mh
",
        );
        let plan = diff(&actual, &desired, &DiffOptions::default());
        let s = plan.summary();
        assert!(
            s.set_timeouts == 1 && s.delete_services == 1 && s.delete_destinations == 2,
            "{plan}"
        );
        let (undo, stuck) = inverse_of(&actual, &plan.ops);
        assert!(stuck.is_empty());
        let mut table = actual.clone();
        plan.replay(&mut table).unwrap();
        assert!(table.config_eq(&{
            let mut d = desired.clone();
            d.timeouts = Some(crate::model::Timeouts {
                tcp: 60,
                tcp_fin: 120,
                udp: 30,
            });
            d
        }));
        undo.replay(&mut table).unwrap();
        assert!(table.config_eq(&actual), "{}", table.to_rules_text());

        // Every prefix of the plan undoes too (what a failed apply leaves).
        for n in 0..plan.len() {
            let (undo, _) = inverse_of(&actual, &plan.ops[..n]);
            let mut table = actual.clone();
            Plan {
                ops: plan.ops[..n].to_vec(),
                draining: vec![],
            }
            .replay(&mut table)
            .unwrap();
            undo.replay(&mut table).unwrap();
            assert!(table.config_eq(&actual), "prefix {n}");
        }
    }

    #[test]
    fn drains_invert_to_the_old_weight() {
        let actual = with_conns(
            rules("-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 7\n"),
            2,
        );
        let desired = rules("-A -t 192.0.2.10:80 -s rr\n");
        let opts = DiffOptions {
            drain: Some(DrainOptions::new(Duration::from_secs(60))),
        };
        let plan = diff(&actual, &desired, &opts);
        assert!(matches!(plan.ops[..], [Change::DrainDestination { .. }]));
        let (undo, _) = inverse_of(&actual, &plan.ops);
        assert!(
            matches!(&undo.ops[..], [Change::UpdateDestination { dest, .. }] if dest.weight == 7)
        );
    }

    #[test]
    fn what_the_table_lacks_cannot_be_inverted() {
        let actual = State::new();
        let op = Change::UpdateService {
            service: crate::model::Service::new(
                ServiceKey::tcp("192.0.2.10:80".parse().unwrap()),
                crate::model::Scheduler::RoundRobin,
            ),
        };
        let set = Change::SetTimeouts {
            timeouts: Timeouts::KERNEL_DEFAULTS,
        };
        let (undo, stuck) = inverse_of(&actual, &[op.clone(), set.clone()]);
        assert!(undo.is_empty());
        assert_eq!(stuck, vec![op, set]);
    }

    #[test]
    fn effects_are_recognised() {
        let before =
            rules("-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1\n");
        let after = rules(
            "--set 10 20 30\n-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 2\n-A -u 192.0.2.10:53 -s rr\n",
        );
        let plan = diff(&before, &after, &DiffOptions::default());
        assert_eq!(plan.len(), 5, "{plan}");
        for op in &plan.ops {
            assert!(effect_present(&after, op), "{op}");
            assert!(!effect_present(&before, op), "{op}");
        }
    }

    #[test]
    fn a_report_says_what_it_holds() {
        let op = Change::DeleteService {
            service: ServiceKey::fwmark(1),
        };
        let report = ApplyReport {
            applied: vec![op.clone()],
            failed: vec![FailedChange {
                index: 1,
                op: op.clone(),
                error: Error::ServiceNotFound {
                    service: ServiceKey::fwmark(1),
                },
            }],
            not_attempted: vec![op],
            ..ApplyReport::default()
        };
        assert!(!report.is_ok() && !report.is_unchanged());
        let text = report.to_string();
        assert!(
            text.starts_with("1 applied, 1 failed, 1 not attempted"),
            "{text}"
        );
        assert!(
            text.contains("failed: operation 2 `-D -f 1`: service FWM 1 not found"),
            "{text}"
        );
        #[cfg(feature = "config")]
        {
            let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
            assert_eq!(json["failed"][0]["errno"], libc::ESRCH);
            assert_eq!(json["failed"][0]["op"]["op"], "delete_service");
        }
    }
}
