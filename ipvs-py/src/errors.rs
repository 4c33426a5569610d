//! Rust errors as the exception classes of `ipvs.errors`.

use ipvs::ValidationError;
use ipvs::client::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde_json::{Value, json};

/// The field a validation error names.
pub(crate) fn validation_field(e: &ValidationError) -> &'static str {
    match e {
        ValidationError::NameTooLong { field, .. }
        | ValidationError::BadName { field, .. }
        | ValidationError::ThresholdOutOfRange { field, .. } => field,
        ValidationError::UnsupportedProtocol(_) => "protocol",
        ValidationError::ZeroFwmark => "fwmark",
        ValidationError::ZeroPortWithoutPersistence => "port",
        ValidationError::DerivedFlags(_) => "flags",
        ValidationError::BadNetmask { .. } => "netmask",
        ValidationError::WeightOutOfRange(_) => "weight",
        ValidationError::ThresholdOrder { .. } => "lower_threshold",
        ValidationError::UnknownForwardMethod(_)
        | ValidationError::GueWithoutPort
        | ValidationError::RemoteChecksumOnGre => "forward",
        ValidationError::MixedFamily { .. } => "address",
        ValidationError::UnknownDaemonState(_) => "state",
        ValidationError::SyncIdOutOfRange(_) => "sync_id",
        ValidationError::NotMulticast(_) => "group",
        // Every message starts with its field.
        _ => "",
    }
}

/// The variant's name: `ThresholdOrder`, `ZeroFwmark`, ...
fn variant_name<T: std::fmt::Debug>(v: &T) -> String {
    let debug = format!("{v:?}");
    debug
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The field and the message without its `field: ` prefix.
fn field_and_message(e: &ValidationError) -> (String, String) {
    let text = e.to_string();
    let mut field = validation_field(e).to_owned();
    if field.is_empty() {
        field = text.split(':').next().unwrap_or_default().to_owned();
    }
    let message = text
        .strip_prefix(&format!("{field}: "))
        .unwrap_or(&text)
        .to_owned();
    (field, message)
}

fn build(
    py: Python<'_>,
    kind: &str,
    message: String,
    errno: Option<i32>,
    kernel_message: Option<&str>,
    details: Value,
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let module = py.import("ipvs.errors")?;
        let exc = module.getattr("_from_native")?.call1((
            kind,
            message.as_str(),
            errno,
            kernel_message,
            details.to_string(),
        ))?;
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|e| {
        PyRuntimeError::new_err(format!(
            "{message} (and ipvs.errors could not make the exception: {e})"
        ))
    })
}

/// A validation error as `ipvs.ValidationError`; `index` for a batch's.
pub(crate) fn validation_to_py(py: Python<'_>, e: &ValidationError, index: Option<usize>) -> PyErr {
    let (field, message) = field_and_message(e);
    build(
        py,
        "Validation",
        message.clone(),
        None,
        None,
        json!({ "field": field, "message": message, "kind": variant_name(e), "index": index }),
    )
}

/// Any client error as the matching `ipvs.errors` exception.
pub(crate) fn error_to_py(py: Python<'_>, e: &Error) -> PyErr {
    let details = match e {
        Error::Validation(v) => return validation_to_py(py, v, None),
        Error::InvalidOperation { index, source } => {
            return validation_to_py(py, source, Some(*index));
        }
        Error::ServiceExists { service } | Error::ServiceNotFound { service } => {
            json!({ "service": service })
        }
        Error::DestinationExists {
            service,
            destination,
        }
        | Error::DestinationNotFound {
            service,
            destination,
        } => json!({
            "service": service,
            "address": destination.ip().to_string(),
            "port": destination.port(),
        }),
        Error::SchedulerNotFound { name }
        | Error::PersistenceEngineNotFound { name }
        | Error::InterfaceNotFound { name } => json!({ "name": name }),
        Error::SchedulerOrPersistenceEngineNotFound {
            scheduler,
            persistence_engine,
        } => json!({ "scheduler": scheduler, "persistence_engine": persistence_engine }),
        Error::DaemonExists { state } | Error::DaemonNotFound { state } => {
            json!({ "state": state })
        }
        Error::InvalidArgument { command, .. } | Error::Kernel { command, .. } => {
            json!({ "command": command.to_string() })
        }
        Error::NotAttempted { reason } => json!({ "reason": reason }),
        Error::Timeout(d) => json!({ "seconds": d.as_secs_f64() }),
        Error::DumpInterrupted { attempts } => json!({ "attempts": attempts }),
        _ => json!({}),
    };
    let kind = match e {
        Error::Io(_) => "Io".to_owned(),
        other => variant_name(other),
    };
    let errno = e.errno().or_else(|| match e {
        // An error made with a message (opening a namespace file) keeps its kind only.
        Error::Io(io) => kind_errno(io.kind()),
        _ => None,
    });
    build(py, &kind, e.to_string(), errno, e.kernel_message(), details)
}

pub(crate) fn kind_errno(kind: std::io::ErrorKind) -> Option<i32> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::NotFound => libc::ENOENT,
        K::PermissionDenied => libc::EACCES,
        K::TimedOut => libc::ETIMEDOUT,
        K::InvalidInput => libc::EINVAL,
        K::NotADirectory => libc::ENOTDIR,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs::{Destination, ServiceKey};

    #[test]
    fn every_validation_message_starts_with_its_field() {
        let key = ServiceKey::tcp("192.0.2.10:80".parse().unwrap());
        let rs = Destination::new("192.0.2.21:80".parse().unwrap()).with_thresholds(10, 20);
        let e = rs.validate(&key).unwrap_err();
        assert_eq!(variant_name(&e), "ThresholdOrder");
        let (field, message) = field_and_message(&e);
        assert_eq!(field, "lower_threshold");
        assert_eq!(message, "20 is above upper_threshold 10");
        assert_eq!(variant_name(&Error::IpvsNotAvailable), "IpvsNotAvailable");
    }
}
