//! The tasks the host-loop examples (`calloop_host`, `callback_host`) run: a timer, a loopback
//! TCP exchange and a message from another thread, each recording what happened in
//! `Rc<RefCell<_>>` state that the host reads between its turns, as a GUI would on redraw.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::net::{TcpListener, TcpStream};
use solo::{LocalExecutor, Task};

/// What the tasks did, in order; read by the host.
pub type Ui = Rc<RefCell<Vec<String>>>;

/// Spawns the four tasks onto `ex`; the host runs them.
pub fn spawn(ex: &LocalExecutor<'_>, ui: &Ui) -> io::Result<Vec<Task<io::Result<()>>>> {
    let mut tasks = Vec::new();

    // 1. A timer.
    let u = ui.clone();
    tasks.push(ex.spawn(async move {
        solo::time::sleep(Duration::from_millis(20)).await;
        u.borrow_mut().push("timer: slept 20 ms".into());
        Ok(())
    }));

    // 2. A loopback TCP exchange: a server task and a client task.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let u = ui.clone();
    tasks.push(ex.spawn(async move {
        let (mut stream, peer) = listener.accept().await?;
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        stream.write_all(b"pong").await?;
        u.borrow_mut().push(format!(
            "tcp server: got {:?} from {peer}",
            String::from_utf8_lossy(&buf)
        ));
        Ok(())
    }));
    let u = ui.clone();
    tasks.push(ex.spawn(async move {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"ping").await?;
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        u.borrow_mut().push(format!(
            "tcp client: got {:?} back",
            String::from_utf8_lossy(&buf)
        ));
        Ok(())
    }));

    // 3. A message from another thread: `unblock` runs the job on solo's blocking pool and
    //    wakes this task through the cross-thread path (the host's fd becomes readable, or
    //    its wake callback is called).
    let u = ui.clone();
    tasks.push(ex.spawn(async move {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            let _ = tx.send("hello from a std thread");
        });
        let message = solo::unblock(move || rx.recv().unwrap_or("sender gone")).await;
        u.borrow_mut().push(format!("cross-thread: {message}"));
        Ok(())
    }));
    Ok(tasks)
}
