//! Background tasks that end with their owner.
//!
//! The controller is a tree of tasks: the type-config manager owns one propagation controller per enabled
//! type, each of which owns one member watch per cluster; the cluster registry owns one health prober per
//! cluster. Each owner keeps its children as [`Task`]s, so stopping an owner (aborting it, or dropping its
//! state) stops everything under it, and nothing keeps running for a type or cluster that went away.

use std::future::Future;

use tokio::task::JoinHandle;

/// A spawned task that is aborted when this handle is dropped.
#[derive(Debug)]
pub struct Task(JoinHandle<()>);

impl Task {
    /// Spawns `fut` on the current runtime.
    pub fn spawn<F>(fut: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Task(tokio::spawn(fut))
    }

    /// Whether the task has finished (returned, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Waits for the task to finish.
    pub async fn join(mut self) {
        let _ = (&mut self.0).await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}
