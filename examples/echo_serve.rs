//! A line-echo server for the echo StatefulSet in `examples/k8s/echo.yaml`: each line `x`
//! is answered `<pod hostname> x`, so a client can see which pod served it. (Locally, the
//! testkit's echo pods speak the same protocol.)
//!
//!     echo_serve --listen 0.0.0.0:7000

use std::net::SocketAddr;

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Answer each line with this pod's hostname and the line.
#[derive(Debug, Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "0.0.0.0:7000")]
    listen: SocketAddr,
    /// The name to answer with (default: $HOSTNAME, the pod's name in Kubernetes).
    #[arg(long, env = "HOSTNAME", default_value = "echo")]
    name: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    println!("{} answering on {}", args.name, listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let name = args.name.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if write
                    .write_all(format!("{name} {line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}
