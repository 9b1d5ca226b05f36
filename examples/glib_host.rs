//! A GLib main loop drives solo: `glib::MainLoop::run` is the only loop on this thread.
//!
//! Tasks sleep on a timer, exchange "ping"/"pong" over loopback TCP, and wait for a message
//! from a std thread (a cross-thread wake). They record what happened in `Rc<RefCell<_>>`
//! state that a plain GLib timeout callback (standing in for a widget's refresh) reads; that
//! callback quits the main loop once every task reported.
//!
//! Run with: `cargo run --features glib --example glib_host`

use std::cell::RefCell;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::{Async, LocalExecutor};

/// What the tasks did, read by the GLib callback.
#[derive(Default)]
struct Ui {
    events: Vec<String>,
}

const TASKS: usize = 4;

fn main() -> std::io::Result<()> {
    let start = Instant::now();
    let context = glib::MainContext::default();
    let main_loop = glib::MainLoop::new(Some(&context), false);
    let ex = Rc::new(LocalExecutor::new());
    let attached = solo::glib::attach(ex.clone(), &context);
    let ui = Rc::new(RefCell::new(Ui::default()));

    // 1. A timer.
    let u = ui.clone();
    ex.spawn(async move {
        solo::time::sleep(Duration::from_millis(30)).await;
        let ms = start.elapsed().as_millis();
        u.borrow_mut()
            .events
            .push(format!("timer: slept 30 ms (at {ms} ms)"));
    })
    .detach();

    // 2 and 3. A loopback TCP exchange: a server task and a client task.
    let listener = Async::new(TcpListener::bind("127.0.0.1:0")?)?;
    let addr = listener.get_ref().local_addr()?;
    let u = ui.clone();
    ex.spawn(async move {
        let (stream, peer) = listener.read_with(|l| l.accept()).await?;
        let mut stream = Async::new(stream)?;
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        stream.write_all(b"pong").await?;
        let got = String::from_utf8_lossy(&buf).into_owned();
        u.borrow_mut().events.push(format!(
            "tcp server: got {got:?} from {peer}, answered \"pong\""
        ));
        std::io::Result::Ok(())
    })
    .detach();
    let u = ui.clone();
    ex.spawn(async move {
        // A blocking connect on the thread pool: its result wakes this task from there.
        let stream = solo::unblock(move || TcpStream::connect(addr)).await?;
        let mut stream = Async::new(stream)?;
        stream.write_all(b"ping").await?;
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        let got = String::from_utf8_lossy(&buf).into_owned();
        u.borrow_mut()
            .events
            .push(format!("tcp client: sent \"ping\", got {got:?}"));
        std::io::Result::Ok(())
    })
    .detach();

    // 4. A std thread wakes a task (the wake makes solo's fd readable; GLib's poll sees it).
    let (tx, rx) = async_channel::bounded::<&'static str>(1);
    let worker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send_blocking("hello from another thread").unwrap();
    });
    let u = ui.clone();
    ex.spawn(async move {
        let message = rx.recv().await.unwrap();
        u.borrow_mut()
            .events
            .push(format!("cross-thread: received {message:?}"));
    })
    .detach();

    // A GLib callback that reads the tasks' state, as a widget refresh would.
    let (u, l) = (ui.clone(), main_loop.clone());
    let mut shown = 0;
    glib::timeout_add_local(Duration::from_millis(10), move || {
        let ui = u.borrow();
        for event in &ui.events[shown..] {
            println!("glib callback sees: {event}");
        }
        shown = ui.events.len();
        if shown == TASKS {
            l.quit();
            return glib::ControlFlow::Break;
        }
        glib::ControlFlow::Continue
    });

    main_loop.run();
    worker.join().unwrap();
    println!(
        "done in {} ms: {} events, {} run_ready calls from GLib, {} tasks left",
        start.elapsed().as_millis(),
        ui.borrow().events.len(),
        attached.runs(),
        ex.len(),
    );
    Ok(())
}
