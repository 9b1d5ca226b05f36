//! The tour: tasks sharing `Rc<RefCell<_>>` state, timers, and a loopback TCP exchange, all on
//! the thread's default runtime.
//!
//! ```text
//! cargo run --release --example demo
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::net::{TcpListener, TcpStream};
use solo::time::{interval, sleep, timeout};

fn main() -> std::io::Result<()> {
    let start = Instant::now();
    // Shared state without Arc or Mutex: every task runs on this thread.
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let say = {
        let log = log.clone();
        move |line: String| {
            println!("[{:>7.3} ms] {line}", start.elapsed().as_secs_f64() * 1e3);
            log.borrow_mut().push(line);
        }
    };

    solo::block_on(async {
        // 1. Timers: three tasks sleep different amounts and finish in deadline order.
        let mut sleepers = Vec::new();
        for (name, ms) in [("slow", 30), ("fast", 10), ("medium", 20)] {
            let say = say.clone();
            sleepers.push(solo::spawn_local(async move {
                sleep(Duration::from_millis(ms)).await;
                say(format!("timer task `{name}` woke after {ms} ms"));
            }));
        }

        // 2. An interval ticking while the others work.
        let ticker = {
            let say = say.clone();
            solo::spawn_local(async move {
                let mut every = interval(Duration::from_millis(8));
                for n in 0..4 {
                    every.tick().await;
                    say(format!("interval tick {n}"));
                }
            })
        };

        // 3. A loopback TCP echo: server task and client task on the same thread.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = {
            let say = say.clone();
            solo::spawn_local(async move {
                let (mut stream, peer) = listener.accept().await?;
                say(format!("server accepted {peer}"));
                let mut buf = [0; 64];
                let n = stream.read(&mut buf).await?;
                stream.write_all(&buf[..n]).await?;
                std::io::Result::Ok(n)
            })
        };
        let client = {
            let say = say.clone();
            solo::spawn_local(async move {
                let mut stream = TcpStream::connect(addr).await?;
                let sent = Instant::now();
                stream.write_all(b"hello from solo").await?;
                let mut buf = [0; 64];
                let n = stream.read(&mut buf).await?;
                say(format!(
                    "client got {:?} back in {:.1} us",
                    String::from_utf8_lossy(&buf[..n]),
                    sent.elapsed().as_secs_f64() * 1e6
                ));
                std::io::Result::Ok(())
            })
        };

        // 4. A timeout that fires, and one that does not.
        let quick = timeout(Duration::from_millis(50), async { 42 }).await;
        say(format!("timeout around a ready future: {quick:?}"));
        let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))).await;
        say(format!(
            "timeout around a 60 s sleep: {}",
            slow.unwrap_err()
        ));

        client.await?;
        let echoed = server.await?;
        say(format!("server echoed {echoed} bytes"));
        for task in sleepers {
            task.await;
        }
        ticker.await;
        std::io::Result::Ok(())
    })?;

    println!(
        "done: {} events in {:.2} ms on one thread",
        log.borrow().len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    // What the runtime did on this thread (solo::diag::stats).
    println!("{:#?}", solo::diag::stats());
    Ok(())
}
