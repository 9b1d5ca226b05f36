//! `task::Builder`: spawn with a name.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use super::{LocalExecutor, Task, spawn_local_at};

/// Configures a task before spawning it: currently its name, shown in slow-poll reports.
///
/// # Examples
///
/// ```
/// use solo::task::Builder;
///
/// solo::block_on(async {
///     let task = Builder::new().name("conn 127.0.0.1:80").spawn_local(async { 7 });
///     assert_eq!(task.await, 7);
/// });
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a Builder does nothing until it spawns"]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder with no name.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = solo::task::Builder::new();
    /// # drop(builder);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (shown in diagnostics).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = solo::task::Builder::new().name(format!("worker {}", 3));
    /// # drop(builder);
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Spawns onto the executor running on this thread (see [`crate::spawn_local`]).
    ///
    /// # Panics
    ///
    /// Panics if called while this thread's thread-locals are being destroyed.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = solo::task::Builder::new().name("tick").spawn_local(async { 1 });
    /// assert_eq!(solo::block_on(task), 1);
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_local_at(future, Location::caller(), self.name)
    }

    /// Spawns onto `executor` (see [`LocalExecutor::spawn`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = solo::task::Builder::new().name("sum").spawn(&ex, async { 2 + 2 });
    /// assert_eq!(ex.block_on(task), 4);
    /// ```
    #[track_caller]
    pub fn spawn<'a, F>(self, executor: &LocalExecutor<'a>, future: F) -> Task<F::Output>
    where
        F: Future + 'a,
        F::Output: 'a,
    {
        executor.spawn_at(future, Location::caller(), self.name)
    }
}
