//! Echo pods: tiny TCP servers that say which pod answered, for balancer tests and demos.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A line-echo server: each line `x` is answered `<pod> x`. Stops when dropped.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl EchoServer {
    /// Listens on `addr` (a pod's IP and port) and answers as `pod`.
    ///
    /// # Errors
    ///
    /// The bind error, if the address is taken or not local.
    pub async fn start(addr: SocketAddr, pod: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let pod = pod.to_owned();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, pod.clone()));
            }
        });
        Ok(Self { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: TcpStream, pod: String) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if write
            .write_all(format!("{pod} {line}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Sends one line to an echo server and returns its answer (`<pod> <line>`), within `timeout`.
///
/// # Errors
///
/// Connection errors, a closed connection, or [`io::ErrorKind::TimedOut`].
pub async fn request(addr: SocketAddr, line: &str, timeout: Duration) -> io::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(format!("{line}\n").as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(&mut stream).read_line(&mut reply).await?;
        if reply.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "echo server closed the connection",
            ));
        }
        Ok(reply.trim_end().to_owned())
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no echo from {addr} within {timeout:?}"),
        )
    })?
}
