//! Starts a `solo::pool` in which every worker accepts on its own `SO_REUSEPORT` listener for
//! one port (shared by `http_per_core` and `hyper_server`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;

use solo::net::TcpListener;
use solo::pool::{Builder, JoinError, Pool};

/// A running server: its workers and the address every one of them listens on.
pub struct Server {
    pool: Pool,
    addr: SocketAddr,
}

impl Server {
    /// The address every worker listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops every worker (open connections are dropped) and joins the threads.
    pub fn shutdown(self) -> Result<(), JoinError> {
        self.pool.shutdown()
    }

    /// Waits for the workers (forever, unless they panic).
    #[allow(dead_code)]
    pub fn join(self) -> Result<(), JoinError> {
        self.pool.join()
    }
}

/// Starts `builder`'s workers, each running `accept_loop` on its own listener bound to `addr`
/// with `SO_REUSEPORT`; returns once every worker listens, with the port resolved (port 0
/// picks a free one, the same for every worker).
pub fn start<F, Fut>(builder: Builder, addr: SocketAddr, accept_loop: F) -> io::Result<Server>
where
    F: FnOnce(TcpListener) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    // Resolve port 0 once, so that every worker binds the same port. The probe is in the
    // SO_REUSEPORT group until every worker has bound; nobody knows the port before `start`
    // returns, so no connection can land on it.
    let probe = TcpListener::bind_reuseport(addr)?;
    let addr = probe.local_addr()?;
    let (bound_tx, bound_rx) = mpsc::channel::<io::Result<()>>();
    let pool = builder.spawn(move |_worker| async move {
        let listener = match TcpListener::bind_reuseport(addr) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = bound_tx.send(Err(e));
                return;
            }
        };
        let _ = bound_tx.send(Ok(()));
        drop(bound_tx);
        accept_loop(listener).await;
    })?;
    for _ in 0..pool.workers() {
        let bound = bound_rx
            .recv()
            .map_err(|_| io::Error::other("a worker exited before binding its listener"))?;
        if let Err(e) = bound {
            let _ = pool.shutdown();
            return Err(e);
        }
    }
    drop(probe);
    Ok(Server { pool, addr })
}
