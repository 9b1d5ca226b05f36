//! Waiting for Unix signals: Ctrl-C (`SIGINT`), `SIGTERM` and friends, on the reactor.
//!
//! # Design
//!
//! Each [`Signal`] owns a socket pair: `signal-hook`'s async-signal-safe handler writes a byte
//! into one end when the signal arrives, and the other end is registered with the thread's
//! reactor like any other fd. Every `Signal` has its own pair, so several waiters (on one
//! thread or many) each see every delivery.
//!
//! # Installing a handler does not change a program that is not listening
//!
//! The first `Signal` for a kind also installs a conditional default action: when the signal
//! arrives while **no** `Signal` of that kind exists, the default action runs (for `SIGINT`
//! and `SIGTERM`, the process terminates as if solo had never touched the signal). While at
//! least one `Signal` exists, the signal is delivered to them instead.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::Async;

/// Which signal to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalKind {
    /// `SIGINT` (Ctrl-C in a terminal).
    Interrupt,
    /// `SIGTERM` (polite termination request: `kill`, systemd, container runtimes).
    Terminate,
    /// `SIGHUP` (terminal hang-up; often "reload configuration").
    Hangup,
    /// `SIGQUIT` (Ctrl-\).
    Quit,
    /// `SIGUSR1`.
    User1,
    /// `SIGUSR2`.
    User2,
}

impl SignalKind {
    fn number(self) -> i32 {
        use signal_hook::consts::*;
        match self {
            SignalKind::Interrupt => SIGINT,
            SignalKind::Terminate => SIGTERM,
            SignalKind::Hangup => SIGHUP,
            SignalKind::Quit => SIGQUIT,
            SignalKind::User1 => SIGUSR1,
            SignalKind::User2 => SIGUSR2,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const KINDS: usize = 6;

/// Per kind: how many `Signal`s exist, and the flag the conditional default reads.
struct Registry {
    listeners: [AtomicUsize; KINDS],
    nobody_listens: [Arc<AtomicBool>; KINDS],
    installed: Mutex<[bool; KINDS]>,
}

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        listeners: Default::default(),
        nobody_listens: std::array::from_fn(|_| Arc::new(AtomicBool::new(true))),
        installed: Mutex::new([false; KINDS]),
    })
}

/// A listener for one kind of signal; a stream of deliveries through [`recv`](Signal::recv).
///
/// Deliveries that arrive between two `recv` calls are coalesced into one (signals are not
/// queued by the OS either).
///
/// # Examples
///
/// ```
/// use solo::signal::{Signal, SignalKind};
///
/// solo::block_on(async {
///     let mut usr1 = Signal::new(SignalKind::User1)?;
///     // SAFETY-free way to signal ourselves for the example:
///     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR1)?;
///     usr1.recv().await?;
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Signal {
    kind: SignalKind,
    reader: Async<UnixStream>,
    id: signal_hook::SigId,
}

impl Signal {
    /// Starts listening for `kind` on this thread's reactor.
    ///
    /// # Errors
    ///
    /// Creating the socket pair or registering the handler failed (e.g. out of fds).
    ///
    /// # Examples
    ///
    /// ```
    /// let hangups = solo::signal::Signal::new(solo::signal::SignalKind::Hangup).unwrap();
    /// # drop(hangups);
    /// ```
    pub fn new(kind: SignalKind) -> io::Result<Signal> {
        let reg = registry();
        {
            let mut installed = reg.installed.lock().unwrap_or_else(PoisonError::into_inner);
            if !installed[kind.index()] {
                signal_hook::flag::register_conditional_default(
                    kind.number(),
                    reg.nobody_listens[kind.index()].clone(),
                )?;
                installed[kind.index()] = true;
            }
        }
        let (reader, writer) = UnixStream::pair()?;
        writer.set_nonblocking(true)?;
        let reader = Async::new(reader)?;
        let id = signal_hook::low_level::pipe::register(kind.number(), writer)?;
        if reg.listeners[kind.index()].fetch_add(1, Ordering::SeqCst) == 0 {
            reg.nobody_listens[kind.index()].store(false, Ordering::SeqCst);
        }
        Ok(Signal { kind, reader, id })
    }

    /// Waits for the next delivery of the signal.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a delivery is consumed only when `recv` returns it.
    ///
    /// # Errors
    ///
    /// Reading the notification socket failed (not expected in practice).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # solo::block_on(async {
    /// let mut term = solo::signal::Signal::new(solo::signal::SignalKind::Terminate)?;
    /// term.recv().await?;
    /// println!("shutting down");
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn recv(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 64];
        // Drain every pending byte: deliveries since the last recv count as one.
        let n = self.reader.read_with(|mut s| s.read(&mut buf)).await?;
        if n == buf.len() {
            let mut stream = self.reader.get_ref();
            while let Ok(n) = stream.read(&mut buf) {
                if n < buf.len() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The signal this listener waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::signal::{Signal, SignalKind};
    /// assert_eq!(Signal::new(SignalKind::User2).unwrap().kind(), SignalKind::User2);
    /// ```
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        // Restore the default action before unregistering, the mirror image of `new`: a
        // signal that lands in between then still reaches the default action (and this
        // listener's pipe), instead of being swallowed by a handler that nobody listens to.
        let reg = registry();
        if reg.listeners[self.kind.index()].fetch_sub(1, Ordering::SeqCst) == 1 {
            reg.nobody_listens[self.kind.index()].store(true, Ordering::SeqCst);
        }
        signal_hook::low_level::unregister(self.id);
    }
}

/// Waits for Ctrl-C (`SIGINT`).
///
/// The listener is installed when the future is first polled and removed when it completes or
/// is dropped; while none is installed, Ctrl-C terminates the process as usual.
///
/// # Cancel safety
///
/// Cancelling loses the listener and any delivery it had not yet returned: a `SIGINT` that
/// arrives after the future is dropped, while no other [`Signal`] for it exists, runs the
/// default action (the process terminates). To wait repeatedly without such gaps, keep one
/// [`Signal`] and call [`Signal::recv`], which is cancel-safe.
///
/// # Errors
///
/// Installing the listener failed (e.g. out of file descriptors).
///
/// # Examples
///
/// ```no_run
/// solo::block_on(async {
///     solo::signal::ctrl_c().await?;
///     println!("bye");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    Signal::new(SignalKind::Interrupt)?.recv().await
}

/// Waits for `SIGTERM`. See [`ctrl_c`].
///
/// # Cancel safety
///
/// As for [`ctrl_c`]: cancelling removes the listener, and a `SIGTERM` that arrives while no
/// listener exists terminates the process.
///
/// # Errors
///
/// Installing the listener failed (e.g. out of file descriptors).
///
/// # Examples
///
/// ```no_run
/// solo::block_on(async {
///     solo::signal::terminate().await?;
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub async fn terminate() -> io::Result<()> {
    Signal::new(SignalKind::Terminate)?.recv().await
}
