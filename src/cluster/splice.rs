//! Joins per-PV-run answers of `getDataForPVs` (json, qw, raw) into one
//! answer in request order, streaming: a run's body is read only when its
//! turn comes, so nothing is buffered beyond a few frames.

use axum::body::Body;
use axum::http::Response;
use bytes::Bytes;

/// Multi-PV formats whose per-PV answers can be joined into one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Splice {
    /// `json` / `qw`: each part is `[ \n` + section + `\n ]\n` (or `[ \n ]\n`
    /// when the PV has no data); the whole is `[ \n` + sections joined by
    /// `,\n` + `\n ]\n`.
    Json,
    /// `raw`: each part is chunks (a header line, samples); parts are joined
    /// with one empty line between non-empty parts.
    Raw,
}

/// Why a spliced answer had to stop (the HTTP body is then aborted, so the
/// client sees a broken transfer, never a short 200).
#[derive(Debug, thiserror::Error)]
pub enum SpliceError {
    /// A part failed (member died mid-answer, or answered an error).
    #[error("part {index} ({pv}): {reason}")]
    Part {
        /// Position in the request.
        index: usize,
        /// PV name.
        pv: String,
        /// Cause.
        reason: String,
    },
}

/// One part of a multi-PV answer: the PV and a future yielding its answer.
pub type PartFuture = futures::future::BoxFuture<'static, Result<Response<Body>, String>>;

/// Joins per-PV answers in request order into one streaming body. At most
/// `ahead` parts are requested concurrently; a part's body is only read when
/// its turn comes (the others wait in socket buffers: TCP back-pressure, no
/// buffering here).
pub fn splice(format: Splice, parts: Vec<(String, PartFuture)>, ahead: usize) -> Body {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, SpliceError>>(8);
    tokio::spawn(async move {
        let (names, futs): (Vec<String>, Vec<PartFuture>) = parts.into_iter().unzip();
        let mut heads = futures::stream::iter(futs).buffered(ahead.max(1));
        let mut emitted_any = false;
        if format == Splice::Json && tx.send(Ok(Bytes::from_static(b"[ \n"))).await.is_err() {
            return;
        }
        let mut index = 0;
        while let Some(head) = heads.next().await {
            let fail = |reason: String| SpliceError::Part {
                index,
                pv: names.get(index).cloned().unwrap_or_default(),
                reason,
            };
            let resp = match head {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    let _ = tx.send(Err(fail(format!("status {}", r.status())))).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(fail(e))).await;
                    return;
                }
            };
            let mut body = resp.into_body().into_data_stream();
            let mut part = PartState::new(format);
            while let Some(frame) = body.next().await {
                let chunk = match frame {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(fail(e.to_string()))).await;
                        return;
                    }
                };
                for out in part.push(chunk, &mut emitted_any) {
                    if tx.send(Ok(out)).await.is_err() {
                        return; // client went away
                    }
                }
            }
            match part.finish() {
                Ok(()) => {}
                Err(e) => {
                    let _ = tx.send(Err(fail(e))).await;
                    return;
                }
            }
            index += 1;
        }
        if format == Splice::Json {
            let end: &'static [u8] = if emitted_any { b"\n ]\n" } else { b" ]\n" };
            let _ = tx.send(Ok(Bytes::from_static(end))).await;
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Per-part rewriting: JSON drops the part's `[ \n` and `\n ]\n` and puts
/// `,\n` between sections; raw puts `\n` between non-empty parts.
struct PartState {
    format: Splice,
    /// JSON prefix bytes still to drop.
    skip: usize,
    /// Held-back tail (JSON: the last 4 bytes may be the closing `\n ]\n`).
    tail: Vec<u8>,
    /// Bytes after the prefix seen so far.
    seen: usize,
    started: bool,
}

const JSON_OPEN: &[u8] = b"[ \n";
const JSON_CLOSE: &[u8] = b"\n ]\n";
const JSON_EMPTY_REST: &[u8] = b" ]\n";

impl PartState {
    fn new(format: Splice) -> Self {
        Self {
            format,
            skip: JSON_OPEN.len(),
            tail: Vec::new(),
            seen: 0,
            started: false,
        }
    }

    fn push(&mut self, mut chunk: Bytes, emitted_any: &mut bool) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(3);
        match self.format {
            Splice::Raw => {
                if chunk.is_empty() {
                    return out;
                }
                if !self.started {
                    self.started = true;
                    if *emitted_any {
                        out.push(Bytes::from_static(b"\n"));
                    }
                    *emitted_any = true;
                }
                out.push(chunk);
            }
            Splice::Json => {
                let drop = self.skip.min(chunk.len());
                self.skip -= drop;
                let _ = chunk.split_to(drop);
                if chunk.is_empty() {
                    return out;
                }
                self.seen += chunk.len();
                let hold = JSON_CLOSE.len();
                // Emit everything except the last `hold` bytes of what we have.
                let avail = self.tail.len() + chunk.len();
                if avail <= hold {
                    self.tail.extend_from_slice(&chunk);
                    return out;
                }
                let emit = avail - hold;
                if !self.started {
                    self.started = true;
                    if *emitted_any {
                        out.push(Bytes::from_static(b",\n"));
                    }
                    *emitted_any = true;
                }
                if emit >= self.tail.len() {
                    out.push(Bytes::from(std::mem::take(&mut self.tail)));
                    let from_chunk = emit - out.last().map_or(0, Bytes::len);
                    let keep = chunk.split_off(from_chunk);
                    if !chunk.is_empty() {
                        out.push(chunk);
                    }
                    self.tail = keep.to_vec();
                } else {
                    let rest = self.tail.split_off(emit);
                    out.push(Bytes::from(std::mem::replace(&mut self.tail, rest)));
                    self.tail.extend_from_slice(&chunk);
                }
                out.retain(|b| !b.is_empty());
            }
        }
        out
    }

    fn finish(&mut self) -> Result<(), String> {
        if self.format == Splice::Raw {
            return Ok(());
        }
        if self.skip > 0 {
            return Err("answer shorter than `[ \\n`".into());
        }
        if !self.started {
            // Only the held-back bytes: the part is empty (`[ \n ]\n`).
            return if self.tail == JSON_EMPTY_REST {
                Ok(())
            } else {
                Err(format!(
                    "unexpected short answer {:?}",
                    String::from_utf8_lossy(&self.tail)
                ))
            };
        }
        if self.tail != JSON_CLOSE {
            return Err("answer does not end with `\\n ]\\n`".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod splice_tests {
    use super::*;

    fn run(format: Splice, parts: &[&[u8]], cut: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut any = false;
        if format == Splice::Json {
            out.extend_from_slice(b"[ \n");
        }
        for p in parts {
            let mut st = PartState::new(format);
            for c in p.chunks(cut.max(1)) {
                for b in st.push(Bytes::copy_from_slice(c), &mut any) {
                    out.extend_from_slice(&b);
                }
            }
            st.finish().unwrap();
        }
        if format == Splice::Json {
            out.extend_from_slice(if any { b"\n ]\n" } else { b" ]\n" });
        }
        out
    }

    #[test]
    fn json_sections_join_like_one_answer() {
        let a: &[u8] = b"[ \n{ \"meta\": { \"name\": \"A\" },\n\"data\": [ \n{ \"secs\": 1 }\n] }\n ]\n";
        let e: &[u8] = b"[ \n ]\n";
        let b: &[u8] = b"[ \n{ \"meta\": { \"name\": \"B\" },\n\"data\": [ \n] }\n ]\n";
        let want = b"[ \n{ \"meta\": { \"name\": \"A\" },\n\"data\": [ \n{ \"secs\": 1 }\n] },\n{ \"meta\": { \"name\": \"B\" },\n\"data\": [ \n] }\n ]\n";
        for cut in [1, 2, 3, 4, 5, 7, 1000] {
            assert_eq!(
                run(Splice::Json, &[e, a, e, b, e], cut),
                want.to_vec(),
                "cut {cut}"
            );
            assert_eq!(run(Splice::Json, &[e, e], cut), b"[ \n ]\n".to_vec());
        }
    }

    #[test]
    fn raw_parts_get_one_empty_line_between() {
        for cut in [1, 3, 1000] {
            assert_eq!(
                run(Splice::Raw, &[b"H1\ns\n", b"", b"H2\nt\n"], cut),
                b"H1\ns\n\nH2\nt\n".to_vec()
            );
        }
    }
}
