//! Reference WebSocket echo server for `benches/ws/run.sh` and
//! `benches/ws/instr.sh`: tokio + tokio-tungstenite, echoes text and binary
//! with their type, one `send` (one flush, so one write) per message.
//!
//! `tungstenite-echo [ADDR=127.0.0.1:0] [READ_BUFFER_SIZE]` (prints
//! `listening on ADDR` once bound)
//!
//! Without READ_BUFFER_SIZE tungstenite's defaults are used (a 128 KiB read
//! buffer, which tungstenite zero-fills up to its capacity before every
//! read); `tungstenite-echo 127.0.0.1:0 4096` is the tuned variant.
//!
//! tokio's multi-threaded runtime sizes itself by `available_parallelism`,
//! which honours the CPU affinity mask: pinned to one CPU (`taskset -c 0`, as
//! the benchmarks run it) it has one worker thread.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr).await?;
    let config = std::env::args()
        .nth(2)
        .map(|n| WebSocketConfig::default().read_buffer_size(n.parse().expect("READ_BUFFER_SIZE")));
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (sock, _) = listener.accept().await?;
        let _ = sock.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(sock, config).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_text() || msg.is_binary() {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                } else if msg.is_close() {
                    // tungstenite queued the close reply; flush it.
                    let _ = ws.close(None).await;
                    break;
                }
            }
        });
    }
}
