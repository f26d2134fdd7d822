//! The merged stream of one PV: the tiers' sources fed through the
//! merge/de-duplication rule ([`super::merge`]), as an [`EventStream`].

use super::merge::{Merge, Verdict};
use super::partial::{not_answering, PartialTiers};
use crate::storage::{EventStream, Source};
use crate::types::{ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

/// Consecutive unreadable lines after which a source is abandoned.
const MAX_BAD_LINES: u32 = 1000;

/// Sources of one PV merged into one stream.
pub struct MergedStream {
    sources: Vec<Source>,
    idx: usize,
    merge: Merge,
    held: Option<(ArchiverSample, Timestamp)>,
    pending: Option<(ArchiverSample, Timestamp)>,
    desc: EventStreamDesc,
    bad: u32,
    /// Time of the newest sample passed through without checks (steady state).
    steady_last: Option<Timestamp>,
    /// Lines skipped because they could not be decoded.
    pub skipped: u64,
    /// Where a tier that stops answering mid-stream is recorded.
    partial: Option<PartialTiers>,
}

impl MergedStream {
    /// Merges `sources` (oldest tier first) for a request starting at `from`;
    /// `desc` describes the result (name, type and metadata headers).
    pub fn new(sources: Vec<Source>, from: Timestamp, desc: EventStreamDesc) -> Self {
        MergedStream {
            sources,
            idx: 0,
            merge: Merge::new(from),
            held: None,
            pending: None,
            desc,
            bad: 0,
            steady_last: None,
            skipped: 0,
            partial: None,
        }
    }

    /// Records in `p` the tiers whose reads stop answering mid-stream
    /// (their sources end there; the other sources go on).
    pub fn with_partial(mut self, p: PartialTiers) -> Self {
        self.partial = Some(p);
        self
    }

    /// The next merged sample into `out`, with its time; `None` at the end.
    pub fn next_with_ts(&mut self, out: &mut ArchiverSample) -> anyhow::Result<Option<Timestamp>> {
        if let Some((p, ts)) = self.pending.take() {
            *out = p;
            return Ok(Some(ts));
        }
        loop {
            let Some(src) = self.sources.get_mut(self.idx) else {
                if self.merge.finish() {
                    if let Some((h, ts)) = self.held.take() {
                        *out = h;
                        return Ok(Some(ts));
                    }
                }
                return Ok(None);
            };
            let ts = match src.next_into_ts(out) {
                Ok(Some(ts)) => {
                    self.bad = 0;
                    ts
                }
                Ok(None) => {
                    if let Some(t) = self.steady_last.take() {
                        self.merge.emitted(t);
                    }
                    self.merge.end_source();
                    self.idx += 1;
                    continue;
                }
                Err(e) => {
                    if let Some(d) = not_answering(&e) {
                        match &self.partial {
                            Some(p) => p.missed(&self.desc.pv_name, d),
                            None => tracing::warn!(error = %d, "tier stopped answering; source ended"),
                        }
                        if let Some(t) = self.steady_last.take() {
                            self.merge.emitted(t);
                        }
                        self.merge.end_source();
                        self.idx += 1;
                        self.bad = 0;
                        continue;
                    }
                    self.skipped += 1;
                    self.bad += 1;
                    tracing::warn!(error = %e, "skipping unreadable sample");
                    if self.bad >= MAX_BAD_LINES {
                        tracing::error!(source = %src.desc().source, "too many unreadable lines; source abandoned");
                        self.merge.end_source();
                        self.idx += 1;
                        self.bad = 0;
                    }
                    continue;
                }
            };
            if self.merge.steady() {
                // The rest of this source passes unchecked; only its newest
                // time matters (for the next source's de-duplication).
                self.steady_last = Some(ts);
                return Ok(Some(ts));
            }
            match self.merge.offer(ts) {
                Verdict::Skip => continue,
                Verdict::Hold => {
                    self.held = Some((out.clone(), ts));
                    continue;
                }
                Verdict::Emit => return Ok(Some(ts)),
                Verdict::EmitHeldThenThis => {
                    if let Some((h, hts)) = self.held.take() {
                        self.pending = Some((std::mem::replace(out, h), ts));
                        return Ok(Some(hts));
                    }
                    return Ok(Some(ts));
                }
                Verdict::EmitHeldOnly => {
                    if let Some((h, hts)) = self.held.take() {
                        *out = h;
                        return Ok(Some(hts));
                    }
                    continue;
                }
            }
        }
    }
}

impl EventStream for MergedStream {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = ArchiverSample::new(std::time::UNIX_EPOCH, SampleValue::Double(0.0));
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        Ok(self.next_with_ts(out)?.is_some())
    }
}

/// Only the samples of a PV that carry field `field`, with the field's value
/// as the value (a number when it parses, else a string): `PV.HIHI` for a
/// field archived as part of the PV's stream.
pub struct FieldStream {
    inner: Box<dyn EventStream>,
    field: String,
    desc: EventStreamDesc,
}

impl FieldStream {
    /// Extracts `field` from `inner`'s samples; `name` is the echoed name.
    pub fn new(inner: Box<dyn EventStream>, field: &str, name: &str) -> Self {
        let mut desc = inner.description().clone();
        desc.pv_name = name.to_string();
        desc.db_type = crate::types::ArchDbType::ScalarDouble;
        desc.element_count = Some(1);
        FieldStream {
            inner,
            field: field.to_string(),
            desc,
        }
    }
}

impl EventStream for FieldStream {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        while let Some(s) = self.inner.next_event()? {
            if let Some(v) = s.field(&self.field) {
                let value = match v.trim().parse::<f64>() {
                    Ok(x) => SampleValue::Double(x),
                    Err(_) => SampleValue::String(v.to_string()),
                };
                let mut out = ArchiverSample::new(s.timestamp, value);
                out.severity = s.severity;
                out.status = s.status;
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}
