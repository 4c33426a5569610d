use std::fmt;

/// A rules line ipvsadm would not take, with where (1-based line and
/// column, in characters) and what was expected there.
///
/// ```
/// let err = ipvs::rules::parse("\n-a -t 192.0.2.10:80 -r 192.0.2.21:80 -w heavy").unwrap_err();
/// assert_eq!(err.to_string(),
///     "line 2, column 41: -w: expected a weight (0 to 2147483647), found \"heavy\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct RulesError {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, counted in characters.
    pub column: usize,
    /// What is wrong.
    pub kind: RulesErrorKind,
}

impl RulesError {
    pub(crate) fn new(line: usize, column: usize, kind: RulesErrorKind) -> Self {
        RulesError { line, column, kind }
    }
}

/// What is wrong with a rules line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RulesErrorKind {
    /// An option ipvsadm does not have.
    UnknownOption(String),
    /// An ipvsadm option that is not a rule (listing, saving, daemons...).
    NotARule(String),
    /// A line with options but no command.
    NoCommand,
    /// A second command on one line.
    SecondCommand {
        /// The first command.
        first: String,
        /// The second one.
        second: String,
    },
    /// An option given twice, or two options that exclude each other.
    Conflict {
        /// The option.
        option: String,
        /// The option given before it.
        previous: String,
    },
    /// An option the command does not take.
    IllegalOption {
        /// The command.
        command: String,
        /// The option.
        option: String,
    },
    /// A compulsory option is missing.
    MissingOption {
        /// The command.
        command: String,
        /// What it needs.
        needs: &'static str,
    },
    /// An option's value is missing.
    MissingValue {
        /// The option.
        option: String,
        /// What was expected.
        expected: &'static str,
    },
    /// An option's value cannot be read.
    BadValue {
        /// The option.
        option: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A word that is neither an option nor an option's value.
    UnexpectedArgument(String),
    /// A rule ipvsadm itself refuses before sending it.
    Invalid(String),
    /// No rule where exactly one was expected.
    NoRule,
    /// More than one rule where exactly one was expected.
    MoreThanOneRule,
}

impl fmt::Display for RulesErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesErrorKind::UnknownOption(o) => write!(f, "unknown option {o}"),
            RulesErrorKind::NotARule(o) => write!(
                f,
                "{o} is not a rule: expected one of -A, -E, -D, -a, -e, -d, -C, -Z, --set"
            ),
            RulesErrorKind::NoCommand => {
                f.write_str("expected a command: -A, -E, -D, -a, -e, -d, -C, -Z or --set")
            }
            RulesErrorKind::SecondCommand { first, second } => {
                write!(
                    f,
                    "{second}: only one command per line, and this one has {first}"
                )
            }
            RulesErrorKind::Conflict { option, previous } if option == previous => {
                write!(f, "{option} given twice")
            }
            RulesErrorKind::Conflict { option, previous } => {
                write!(f, "{option} conflicts with {previous}")
            }
            RulesErrorKind::IllegalOption { command, option } => {
                write!(f, "{option} is not an option of {command}")
            }
            RulesErrorKind::MissingOption { command, needs } => {
                write!(f, "{command} needs {needs}")
            }
            RulesErrorKind::MissingValue { option, expected } => {
                write!(f, "{option}: expected {expected}")
            }
            RulesErrorKind::BadValue {
                option,
                expected,
                found,
            } => write!(f, "{option}: expected {expected}, found {found:?}"),
            RulesErrorKind::UnexpectedArgument(a) => {
                write!(f, "unexpected argument {a:?}: expected an option")
            }
            RulesErrorKind::Invalid(msg) => f.write_str(msg),
            RulesErrorKind::NoRule => f.write_str("expected a rule, found none"),
            RulesErrorKind::MoreThanOneRule => f.write_str("expected one rule, found more"),
        }
    }
}
