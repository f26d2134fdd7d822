//! Streaming response bodies: a blocking producer writes into a
//! [`ChannelWriter`]; the HTTP body reads the channel. The channel is bounded,
//! so a slow client slows the producer and memory stays flat; a client that
//! goes away makes the next write fail with `BrokenPipe`. Until the first
//! chunk is sent the producer may still [`ChannelWriter::discard`] what it
//! wrote, so that a failure at the start is answered with an error status.

use std::io::{self, Write};

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

const CHUNK: usize = 256 * 1024;
const DEPTH: usize = 8;

/// `io::Write` into a bounded channel of byte chunks.
pub struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    sent: bool,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.sent = true;
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client disconnected"))
    }

    /// Ends the body with an error (the client sees an aborted response,
    /// never a silently truncated one).
    pub fn fail(mut self, message: String) {
        let _ = self.send();
        let _ = self.tx.blocking_send(Err(io::Error::other(message)));
    }

    /// True once a chunk went to the client side.
    pub fn sent_any(&self) -> bool {
        self.sent
    }

    /// Drops what was written and closes the channel without sending.
    pub fn discard(mut self) {
        self.buf.clear();
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// The receiving end of a [`ChannelWriter`].
pub type Chunks = mpsc::Receiver<Result<Bytes, io::Error>>;

/// A writer and the channel end that receives what it writes.
pub fn channel() -> (ChannelWriter, Chunks) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        ChannelWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
            sent: false,
        },
        rx,
    )
}

/// A body of `first` (already received) followed by the rest of `rx`.
pub fn body(first: Option<Result<Bytes, io::Error>>, rx: Chunks) -> Body {
    let rest = tokio_stream::wrappers::ReceiverStream::new(rx);
    Body::from_stream(futures::stream::iter(first).chain(rest))
}
