//! keepalived's notify FIFO: one line per VRRP event, such as
//! `INSTANCE "web" MASTER 150`, parsed into [`Notice`]s; and the [`Role`]
//! a director has.

use std::fmt;

/// A director's VRRP role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Holds the VIPs and advertises: the table is active, the sync daemon
    /// sends.
    Master,
    /// Listens to the master: the table is ready, the sync daemon receives.
    Backup,
    /// VRRP cannot run (interface down, keepalived gone): no VIPs.
    Fault,
    /// VRRP stopped (keepalived shut down, the instance removed): no VIPs.
    Stop,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Master => "MASTER",
            Role::Backup => "BACKUP",
            Role::Fault => "FAULT",
            Role::Stop => "STOP",
        })
    }
}

/// What one FIFO line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A VRRP instance changed state (`INSTANCE "name" STATE PRIORITY`).
    Instance {
        /// The instance's name.
        name: String,
        /// Its new state.
        state: InstanceState,
        /// Its priority as keepalived reports it.
        priority: u8,
    },
    /// A sync group changed state (`GROUP "name" STATE`).
    Group {
        /// The group's name.
        name: String,
        /// Its new state.
        state: String,
    },
    /// Any other line (checker events, later keepalived versions).
    Other(String),
}

/// An instance's state word in a FIFO line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// A role change.
    Role(Role),
    /// `DELETED`: the instance went away in a reload (a STOP for us).
    Deleted,
    /// `MASTER_RX_LOWER_PRI`: a master heard a lower-priority master (after
    /// a split); keepalived answers it itself.
    MasterRxLowerPri,
    /// `MASTER_PRIORITY` / `BACKUP_PRIORITY`: the priority changed, the role did not.
    PriorityChanged(Role),
}

impl InstanceState {
    /// The role this state puts the director in, if it is a role change.
    pub fn role(self) -> Option<Role> {
        match self {
            InstanceState::Role(r) => Some(r),
            InstanceState::Deleted => Some(Role::Stop),
            InstanceState::MasterRxLowerPri | InstanceState::PriorityChanged(_) => None,
        }
    }
}

impl Notice {
    /// Parse one line (without its newline). Unknown lines are
    /// [`Notice::Other`]; a malformed `INSTANCE` line too.
    ///
    /// ```
    /// use ipvs::failover::{InstanceState, Notice, Role};
    /// let n = Notice::parse(r#"INSTANCE "web" MASTER 150"#);
    /// assert_eq!(n, Notice::Instance {
    ///     name: "web".into(), state: InstanceState::Role(Role::Master), priority: 150 });
    /// ```
    pub fn parse(line: &str) -> Notice {
        let other = || Notice::Other(line.to_owned());
        let line = line.trim_end_matches(['\r', '\n']);
        let Some((kind, rest)) = line.split_once(' ') else {
            return other();
        };
        let Some((name, rest)) = quoted(rest) else {
            return other();
        };
        let mut words = rest.split_ascii_whitespace();
        let state = words.next();
        let priority = words.next();
        match (kind, state, priority, words.next()) {
            ("INSTANCE", Some(state), Some(priority), None) => {
                let Ok(priority) = priority.parse::<u8>() else {
                    return other();
                };
                let state = match state {
                    "MASTER" => InstanceState::Role(Role::Master),
                    "BACKUP" => InstanceState::Role(Role::Backup),
                    "FAULT" => InstanceState::Role(Role::Fault),
                    "STOP" => InstanceState::Role(Role::Stop),
                    "DELETED" => InstanceState::Deleted,
                    "MASTER_RX_LOWER_PRI" => InstanceState::MasterRxLowerPri,
                    "MASTER_PRIORITY" => InstanceState::PriorityChanged(Role::Master),
                    "BACKUP_PRIORITY" => InstanceState::PriorityChanged(Role::Backup),
                    _ => return other(),
                };
                Notice::Instance {
                    name,
                    state,
                    priority,
                }
            }
            ("GROUP", Some(state), _, None) => Notice::Group {
                name,
                state: state.to_owned(),
            },
            _ => other(),
        }
    }
}

/// `"name" rest` → (`name`, `rest`).
fn quoted(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('"')?;
    let end = s.find('"')?;
    let name = &s[..end];
    let rest = &s[end + 1..];
    if name.is_empty() || !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((name.to_owned(), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(name: &str, state: InstanceState, priority: u8) -> Notice {
        Notice::Instance {
            name: name.into(),
            state,
            priority,
        }
    }

    #[test]
    fn instance_lines() {
        use InstanceState::*;
        let cases = [
            (
                r#"INSTANCE "ipvs" BACKUP 100"#,
                inst("ipvs", Role(super::Role::Backup), 100),
            ),
            (
                r#"INSTANCE "ipvs" MASTER 100"#,
                inst("ipvs", Role(super::Role::Master), 100),
            ),
            (
                r#"INSTANCE "VI_1" FAULT 0"#,
                inst("VI_1", Role(super::Role::Fault), 0),
            ),
            (
                r#"INSTANCE "a.b-c" STOP 254"#,
                inst("a.b-c", Role(super::Role::Stop), 254),
            ),
            (r#"INSTANCE "x" DELETED 10"#, inst("x", Deleted, 10)),
            (
                r#"INSTANCE "x" MASTER_RX_LOWER_PRI 10"#,
                inst("x", MasterRxLowerPri, 10),
            ),
            (
                r#"INSTANCE "x" MASTER_PRIORITY 90"#,
                inst("x", PriorityChanged(super::Role::Master), 90),
            ),
            (
                "INSTANCE \"x\" BACKUP_PRIORITY 90\r\n",
                inst("x", PriorityChanged(super::Role::Backup), 90),
            ),
            (
                r#"GROUP "g" MASTER"#,
                Notice::Group {
                    name: "g".into(),
                    state: "MASTER".into(),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(Notice::parse(line), want, "{line:?}");
        }
        assert_eq!(Deleted.role(), Some(super::Role::Stop));
        assert_eq!(MasterRxLowerPri.role(), None);
        assert_eq!(Role(super::Role::Fault).role(), Some(super::Role::Fault));
    }

    #[test]
    fn other_lines() {
        for line in [
            "",
            "INSTANCE",
            r#"INSTANCE "ipvs" MASTER"#,
            r#"INSTANCE "ipvs" MASTER 256"#,
            r#"INSTANCE "ipvs" MASTER -1"#,
            r#"INSTANCE "ipvs" MASTER 100 extra"#,
            r#"INSTANCE "ipvs" SLEEPING 100"#,
            r#"INSTANCE ipvs MASTER 100"#,
            r#"INSTANCE "ipvs MASTER 100"#,
            r#"INSTANCE "" MASTER 100"#,
            r#"INSTANCE "ipvs"MASTER 100"#,
            "VS [192.0.2.10]:tcp:80 UP",
            "RS [192.0.2.21]:tcp:80 [192.0.2.10]:tcp:80 DOWN",
        ] {
            assert_eq!(Notice::parse(line), Notice::Other(line.into()), "{line:?}");
        }
    }
}
