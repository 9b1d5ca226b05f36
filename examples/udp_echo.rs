//! A UDP echo server and a client on one thread, over loopback.
//!
//! ```text
//! cargo run --release --example udp_echo            # 10,000 datagrams
//! cargo run --release --example udp_echo -- 100000
//! ```

use std::io;
use std::time::Instant;

use solo::net::UdpSocket;

fn main() -> io::Result<()> {
    let count: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("COUNT"))
        .unwrap_or(10_000);
    solo::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0")?;
        let server_addr = server.local_addr()?;
        println!("udp echo server on {server_addr}");
        let echo = solo::spawn_local(async move {
            let mut buf = [0; 2048];
            loop {
                let (n, from) = server.recv_from(&mut buf).await?;
                if n == 0 {
                    return io::Result::Ok(()); // the empty datagram says "stop"
                }
                server.send_to(&buf[..n], from).await?;
            }
        });

        let client = UdpSocket::bind("127.0.0.1:0")?;
        client.connect(server_addr)?;
        let start = Instant::now();
        let mut buf = [0; 2048];
        for i in 0..count {
            let msg = i.to_le_bytes();
            client.send(&msg).await?;
            let n = client.recv(&mut buf).await?;
            assert_eq!(&buf[..n], &msg);
        }
        let elapsed = start.elapsed();
        client.send(&[]).await?; // stop the server
        echo.await?;
        println!(
            "{count} datagram round trips in {elapsed:?} ({:.0}/s)",
            count as f64 / elapsed.as_secs_f64()
        );
        Ok(())
    })
}
