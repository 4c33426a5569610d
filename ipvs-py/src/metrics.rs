//! `ipvs.metrics`: the table's Prometheus text exposition, rendered by
//! Rust's `ipvs::metrics` (the same names, labels and values as
//! `ipvsctl run --listen`'s `/metrics`).

use std::sync::Arc;

use ipvs::metrics::{CONTENT_TYPE, Metrics, MetricsOptions, OPENMETRICS_CONTENT_TYPE};
use ipvs::state::{ServiceState, State};
use pyo3::prelude::*;

use crate::PyClient;
use crate::errors::error_to_py;
use crate::state::state_from_py;

/// Render `services` as `ipvs::metrics` does for a scrape.
fn render(services: Vec<ServiceState>, node_exporter: bool, openmetrics: bool) -> String {
    let services = Arc::new(services);
    let metrics = Metrics::new(
        move || Ok(services.as_ref().clone()),
        MetricsOptions {
            ipvs: true,
            node_exporter,
        },
    );
    if openmetrics {
        metrics.encode_openmetrics()
    } else {
        metrics.encode()
    }
}

/// The kernel's table (read now through `client`, the GIL released) as
/// Prometheus text; a failed read raises as the client's calls do.
#[pyfunction]
#[pyo3(signature = (client, node_exporter = false, openmetrics = false))]
fn metrics_text(
    py: Python<'_>,
    client: &Bound<'_, PyClient>,
    node_exporter: bool,
    openmetrics: bool,
) -> PyResult<String> {
    let c = client.get().get()?;
    let services = py
        .detach(|| c.snapshot())
        .map_err(|e| error_to_py(py, &e))?
        .into_iter()
        .map(ServiceState::from)
        .collect();
    Ok(py.detach(|| render(services, node_exporter, openmetrics)))
}

/// The services of an `ipvs.State` as Prometheus text (counters where the
/// state has them).
#[pyfunction]
#[pyo3(signature = (state, node_exporter = false, openmetrics = false))]
fn metrics_text_of_state(
    py: Python<'_>,
    state: &Bound<'_, PyAny>,
    node_exporter: bool,
    openmetrics: bool,
) -> PyResult<String> {
    let State { services, .. } = state_from_py(py, state)?;
    Ok(py.detach(|| render(services, node_exporter, openmetrics)))
}

/// Register the functions and content types on `_ipvs`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(metrics_text, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_text_of_state, m)?)?;
    m.add("METRICS_CONTENT_TYPE", CONTENT_TYPE)?;
    m.add("METRICS_OPENMETRICS_CONTENT_TYPE", OPENMETRICS_CONTENT_TYPE)?;
    Ok(())
}
