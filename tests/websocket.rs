//! futures-io interop: async-tungstenite (built on futures-io, with none of its runtime
//! features) runs WebSocket connections over `solo::net::TcpStream` with no adapter; the
//! example's echo server (`examples/websocket_echo.rs`) against its client and against a
//! hand-written client sending pings, fragments-worth large messages and a close.

#[path = "support/threads.rs"]
mod threads;
#[path = "../examples/websocket_echo.rs"]
mod ws;

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use futures_lite::StreamExt;
use solo::net::{TcpListener, TcpStream};
use threads::{under_valgrind, watchdog};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn example_client_and_server_echo_hundreds_of_messages_each_and_close() {
    let _w = watchdog("ws_example", LIMIT);
    solo::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = solo::spawn_local(ws::serve(listener));
        let count = if under_valgrind() { 50 } else { 500 };
        // Two clients at once on the one thread.
        let a =
            solo::spawn_local(
                async move { ws::client(addr, count).await.map_err(|e| e.to_string()) },
            );
        let b =
            solo::spawn_local(
                async move { ws::client(addr, count).await.map_err(|e| e.to_string()) },
            );
        a.await.unwrap();
        b.await.unwrap();
        drop(server);
    });
}

#[test]
fn pings_large_messages_and_a_close_code_round_trip() {
    let _w = watchdog("ws_protocol", LIMIT);
    solo::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = solo::spawn_local(async move {
            let (stream, _) = listener.accept().await.unwrap();
            ws::echo(stream).await
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut client, _) = async_tungstenite::client_async("ws://localhost/", stream)
            .await
            .unwrap();
        client
            .send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        match client.next().await {
            Some(Ok(Message::Pong(data))) => assert_eq!(&data[..], b"are you there"),
            other => panic!("expected a pong, got {other:?}"),
        }
        // 3 MiB (256 KiB under valgrind): many reads and writes on both sides.
        let size = if under_valgrind() {
            256 * 1024
        } else {
            3 * 1024 * 1024
        };
        let big: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        client.send(Message::binary(big.clone())).await.unwrap();
        match client.next().await {
            Some(Ok(Message::Binary(data))) => assert!(data[..] == big[..], "the echo differs"),
            Some(Ok(other)) => panic!("expected the big echo, got a {}-byte message", other.len()),
            other => panic!("expected the big echo, got {other:?}"),
        }
        let frame = CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        };
        client.close(Some(frame)).await.unwrap();
        match client.next().await {
            Some(Ok(Message::Close(Some(reply)))) => assert_eq!(reply.code, CloseCode::Away),
            other => panic!("expected the close reply, got {other:?}"),
        }
        assert!(client.next().await.is_none());
        server.await.unwrap();
    });
}
