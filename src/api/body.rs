//! Streaming response bodies: a blocking producer writes into a
//! [`ChannelWriter`]; the HTTP body reads the channel. The channel is bounded,
//! so a slow client slows the producer and memory stays flat; a client that
//! goes away makes the next write fail with `BrokenPipe`.

use std::io::{self, Write};

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;

const CHUNK: usize = 256 * 1024;
const DEPTH: usize = 8;

/// `io::Write` into a bounded channel of byte chunks.
pub struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
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

/// A writer and the body that streams what it receives.
pub fn channel() -> (ChannelWriter, Body) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    (
        ChannelWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        },
        Body::from_stream(stream),
    )
}
