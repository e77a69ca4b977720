//! The kubefed-rs testbed: real control planes (etcd + kube-apiserver + kube-controller-manager) on
//! loopback, a host and N member clusters, for end-to-end tests and for the demo.
//!
//! Processes are started once per test binary ([`shared_testbed`]); each test creates its own namespace
//! ([`Testbed::namespace`]). Every process runs under a watchdog that ends it when this process exits,
//! however it exits (normal end, panic, SIGKILL), so no stray API servers outlive a test run.
//!
//! Fault tests ([`Testbed::freeze_apiserver`] / [`Testbed::resume_apiserver`], [`Testbed::kill_apiserver`] /
//! [`Testbed::start_apiserver`], [`Testbed::restart_apiserver`]) freeze, kill and restart any cluster's API
//! server — host included — on the same port and etcd data; killed processes are reaped with their
//! watchdogs, and a frozen one is resumed before it is stopped.

pub mod bins;
pub mod cluster;
pub mod controller;
pub mod fixtures;
pub mod images;
pub mod node;
pub mod process;
pub mod requests;
pub mod testbed;
pub mod wait;
pub mod webhook;

pub use bins::Binaries;
pub use cluster::{Cluster, ClusterOptions, User};
pub use controller::{ControllerSetup, shared_controller};
pub use node::Node;
pub use testbed::{Testbed, TestbedOptions, shared_testbed};
pub use wait::wait_for;

/// Errors of the testbed. The message names the process and points at its log file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building or locating the testbed binaries failed: {0}")]
    Binaries(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate certificates: {0}")]
    Pki(#[from] kubefed_core::pki::PkiError),
    #[error("{process} did not become ready within {seconds}s; last lines of {log}:\n{tail}")]
    NotReady {
        process: String,
        seconds: u64,
        log: String,
        tail: String,
    },
    #[error("{process} exited early ({status}); last lines of {log}:\n{tail}")]
    Exited {
        process: String,
        status: String,
        log: String,
        tail: String,
    },
    #[error("kube client for {context}: {message}")]
    Client { context: String, message: String },
    /// This machine cannot run the testbed's node (not root, no cgroups, packages missing). Tests that need a
    /// node skip on this error only, saying why.
    #[error("this machine cannot run a testbed node: {0}")]
    NodeUnavailable(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
