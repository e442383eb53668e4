//! [`Watched`]: the socket under each multiplexed connection, telling whether the peer
//! closed it and how many bytes went out. redis-rs does not say whether a request
//! reached the socket. A request handed to a connection whose socket had already met
//! EOF, a reset or a failed write cannot have been sent; nor can one that failed with
//! no byte written to the socket after it was handed over. Either may go to another pod.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Whether a connection's socket is known dead. Shared between the socket (which sets
/// it) and the connection's users (who read it before each request).
#[derive(Debug, Default)]
pub(crate) struct SocketState {
    closed: AtomicBool,
    written: AtomicU64,
}

impl SocketState {
    /// Whether the socket met EOF, a reset or a failed write: no request handed to the
    /// connection from now on can reach the pod.
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire pairs with the Release in `close`: a request that sees `false` was
        // handed over before the driver could have seen the socket die.
        self.closed.load(Ordering::Acquire)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Bytes the kernel accepted so far. Equal before and after a failed request: none
    /// of that request's bytes left the process.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    fn wrote(&self, bytes: usize) {
        self.written.fetch_add(bytes as u64, Ordering::AcqRel);
    }
}

/// A stream that marks its [`SocketState`] closed on EOF or an error.
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    state: Arc<SocketState>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, state: Arc<SocketState>) -> Self {
        Self { inner, state }
    }

    fn note<T>(&self, poll: &Poll<io::Result<T>>) {
        if matches!(poll, Poll::Ready(Err(_))) {
            self.state.close();
        }
    }

    fn note_write(&self, poll: &Poll<io::Result<usize>>) {
        self.note(poll);
        if let Poll::Ready(Ok(bytes)) = poll {
            self.state.wrote(*bytes);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.note(&poll);
        // A read that fills nothing into a buffer with room is EOF.
        if matches!(poll, Poll::Ready(Ok(())))
            && buf.filled().len() == before
            && buf.remaining() > 0
        {
            self.state.close();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&poll);
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(&poll);
        poll
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.state.close();
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn eof_from_the_peer_marks_the_socket_closed() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let state = Arc::new(SocketState::default());
        let mut watched = Watched::new(ours, Arc::clone(&state));
        theirs.write_all(b"+OK\r\n").await.expect("write");
        let mut buf = [0u8; 5];
        watched.read_exact(&mut buf).await.expect("read");
        assert!(!state.is_closed(), "data is not EOF");
        drop(theirs);
        let n = watched.read(&mut buf).await.expect("read EOF");
        assert_eq!(n, 0);
        assert!(state.is_closed());
    }

    #[tokio::test]
    async fn a_failed_write_marks_the_socket_closed() {
        let (ours, theirs) = tokio::io::duplex(64);
        let state = Arc::new(SocketState::default());
        let mut watched = Watched::new(ours, Arc::clone(&state));
        drop(theirs);
        assert!(watched.write_all(b"PING\r\n").await.is_err());
        assert!(state.is_closed());
        assert_eq!(state.written(), 0);
    }

    #[tokio::test]
    async fn bytes_written_are_counted() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let state = Arc::new(SocketState::default());
        let mut watched = Watched::new(ours, Arc::clone(&state));
        watched.write_all(b"PING\r\n").await.expect("write");
        assert_eq!(state.written(), 6);
    }
}
