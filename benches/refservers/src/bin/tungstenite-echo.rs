//! Reference WebSocket echo server for `benches/ws/run.sh` and
//! `benches/ws/instr.sh`: tokio + tokio-tungstenite, echoes text and binary
//! with their type.
//!
//! `tungstenite-echo [ADDR=127.0.0.1:0] [READ_BUFFER_SIZE] [forward]` (prints
//! `listening on ADDR` once bound)
//!
//! Without READ_BUFFER_SIZE (or with 0) tungstenite's defaults are used (a
//! 128 KiB read buffer, which tungstenite zero-fills up to its capacity
//! before every read); `tungstenite-echo 127.0.0.1:0 4096` is the tuned
//! variant.
//!
//! By default each echo is one `send` (one flush, so one write per message).
//! With `forward` the loop is tokio-tungstenite's own echo example
//! (`read.forward(write)`): the sink is fed while more messages are ready
//! and flushed when the stream would wait, so pipelined echoes are written
//! together, as our `WebSocket::feed` does.
//!
//! tokio's multi-threaded runtime sizes itself by `available_parallelism`,
//! which honours the CPU affinity mask: pinned to one CPU (`taskset -c 0`, as
//! the benchmarks run it) it has one worker thread.

use futures_util::{future, SinkExt, StreamExt, TryStreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let config = args
        .get(1)
        .map(|n| n.parse::<usize>().expect("READ_BUFFER_SIZE"))
        .filter(|&n| n > 0)
        .map(|n| WebSocketConfig::default().read_buffer_size(n));
    let forward = args.get(2).is_some_and(|m| m == "forward");
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (sock, _) = listener.accept().await?;
        let _ = sock.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(sock, config).await else {
                return;
            };
            if forward {
                let (write, read) = ws.split();
                let _ = read
                    .try_filter(|m| future::ready(m.is_text() || m.is_binary()))
                    .forward(write)
                    .await;
                return;
            }
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_text() || msg.is_binary() {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                } else if msg.is_close() {
                    let _ = ws.close(None).await;
                    break;
                }
            }
        });
    }
}
