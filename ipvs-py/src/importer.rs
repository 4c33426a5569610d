//! `ipvs.importer`: Piranha's lvs.cf and keepalived.conf read into a state
//! (with failover settings and warnings), and keepalived.conf written
//! from one, through `ipvs::import`.

use std::path::{Path, PathBuf};

use ipvs::import::keepalived::{self, WriteError};
use ipvs::import::{self as imp, ErrorKind, Format, Import, ImportError, Warning};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::json;

use crate::errors::kind_errno;
use crate::failover::PySettings;
use crate::health::{PyRunConfig, native_error};
use crate::state::{state_from_py, state_to_py};

/// Something in the file not carried over as written (Rust's
/// `ipvs::import::Warning`).
#[pyclass(frozen, module = "ipvs._ipvs", name = "LoadWarning")]
pub(crate) struct PyWarning {
    inner: Warning,
}

#[pymethods]
impl PyWarning {
    /// The file (an included one as the glob found it).
    #[getter]
    fn file(&self) -> String {
        self.inner.at.file.display().to_string()
    }

    /// The line, from 1.
    #[getter]
    fn line(&self) -> u32 {
        self.inner.at.line
    }

    /// The column, from 1 (in characters).
    #[getter]
    fn column(&self) -> u32 {
        self.inner.at.column
    }

    /// Why: `unknown key`, `not carried over`, `corrected`, `inactive`.
    #[getter]
    fn kind(&self) -> String {
        self.inner.kind.to_string()
    }

    /// The key (or block) concerned, as written.
    #[getter]
    fn key(&self) -> &str {
        &self.inner.key
    }

    /// What was dropped or changed.
    #[getter]
    fn message(&self) -> &str {
        &self.inner.message
    }

    /// `FILE:LINE:COLUMN: KIND: KEY: WHAT`.
    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<LoadWarning {}>", self.inner)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyWarning>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
}

fn kind_word(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Syntax => "syntax",
        ErrorKind::Value => "value",
        ErrorKind::Include => "include",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Unsupported => "unsupported",
        _ => "other",
    }
}

fn import_error_to_py(py: Python<'_>, e: &ImportError) -> PyErr {
    let details = match e {
        ImportError::Read { file, error } => json!({
            "kind": "read", "file": file.display().to_string(),
            "errno": kind_errno(error.kind()),
        }),
        ImportError::At { at, kind, .. } => json!({
            "kind": kind_word(*kind), "file": at.file.display().to_string(),
            "line": at.line, "column": at.column,
        }),
        _ => json!({ "kind": "other" }),
    };
    native_error(py, "ipvs.importer", "Load", &e.to_string(), details)
}

fn write_error_to_py(py: Python<'_>, e: &WriteError) -> PyErr {
    native_error(
        py,
        "ipvs.importer",
        "Write",
        &e.to_string(),
        json!({
            "service": e.service,
            "dest": e.dest.map(|d| d.to_string()),
            "reason": e.reason,
        }),
    )
}

fn format_of(path: &Path, format: Option<&str>) -> PyResult<Format> {
    match format {
        Some(f) => f.parse().map_err(PyValueError::new_err),
        None => Format::from_file_name(path).ok_or_else(|| {
            PyValueError::new_err(format!(
                "format: {} is not named lvs.cf or keepalived.conf; say which (piranha or keepalived)",
                path.display()
            ))
        }),
    }
}

type Loaded<'py> = (
    Bound<'py, PyAny>,
    Option<PySettings>,
    Vec<PyWarning>,
    PyRunConfig,
);

fn loaded<'py>(py: Python<'py>, i: Import) -> PyResult<Loaded<'py>> {
    let run = PyRunConfig {
        inner: i.to_run_config(),
    };
    Ok((
        state_to_py(py, &i.state)?,
        i.failover.map(|inner| PySettings { inner }),
        i.warnings
            .into_iter()
            .map(|inner| PyWarning { inner })
            .collect(),
        run,
    ))
}

/// Load `path` (format `piranha` or `keepalived`, or by its name):
/// `(state, failover settings or None, warnings, run configuration)`.
#[pyfunction]
#[pyo3(signature = (path, format=None))]
fn import_load<'py>(py: Python<'py>, path: PathBuf, format: Option<&str>) -> PyResult<Loaded<'py>> {
    let format = format_of(&path, format)?;
    let i = py
        .detach(|| imp::load(&path, format))
        .map_err(|e| import_error_to_py(py, &e))?;
    loaded(py, i)
}

/// Load `text` in `format`, as if read from `path` (which names it in
/// errors and warnings; keepalived's `include`s are relative to it).
#[pyfunction]
#[pyo3(signature = (text, format, path))]
fn import_loads<'py>(
    py: Python<'py>,
    text: &str,
    format: &str,
    path: PathBuf,
) -> PyResult<Loaded<'py>> {
    let format = format_of(&path, Some(format))?;
    let i = py
        .detach(|| imp::load_str(text, &path, format))
        .map_err(|e| import_error_to_py(py, &e))?;
    loaded(py, i)
}

/// The format a file's name says (`piranha` for lvs.cf, `keepalived` for
/// keepalived.conf), or None.
#[pyfunction]
fn import_format_of(path: PathBuf) -> Option<&'static str> {
    Format::from_file_name(&path).map(|f| f.name())
}

/// `state` (and failover `settings`) as keepalived.conf.
#[pyfunction]
#[pyo3(signature = (state, failover=None))]
fn keepalived_write(
    py: Python<'_>,
    state: &Bound<'_, PyAny>,
    failover: Option<&PySettings>,
) -> PyResult<String> {
    let state = state_from_py(py, state)?;
    let text = match failover {
        Some(f) => keepalived::write_with_failover(&state, &f.inner),
        None => keepalived::write(&state),
    };
    text.map_err(|e| write_error_to_py(py, &e))
}

/// A run's whole configuration (table, health and failover settings) as
/// keepalived.conf, checkers included.
#[pyfunction]
fn keepalived_write_run(py: Python<'_>, config: &PyRunConfig) -> PyResult<String> {
    keepalived::write_run_config(&config.inner).map_err(|e| write_error_to_py(py, &e))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(keepalived_write_run, m)?)?;
    m.add_class::<PyWarning>()?;
    m.add_function(wrap_pyfunction!(import_load, m)?)?;
    m.add_function(wrap_pyfunction!(import_loads, m)?)?;
    m.add_function(wrap_pyfunction!(import_format_of, m)?)?;
    m.add_function(wrap_pyfunction!(keepalived_write, m)?)?;
    Ok(())
}
