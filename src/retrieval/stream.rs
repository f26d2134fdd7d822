//! The merged stream of one PV: the tiers' sources fed through the
//! merge/de-duplication rule ([`super::merge`]), as an [`EventStream`].

use super::merge::{Merge, Verdict};
use crate::storage::{EventStream, Source};
use crate::types::{ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

/// Consecutive unreadable lines after which a source is abandoned.
const MAX_BAD_LINES: u32 = 1000;

/// Sources of one PV merged into one stream.
pub struct MergedStream {
    sources: Vec<Source>,
    idx: usize,
    merge: Merge,
    held: Option<ArchiverSample>,
    pending: Option<ArchiverSample>,
    desc: EventStreamDesc,
    bad: u32,
    /// Time of the newest sample passed through without checks (steady state).
    steady_last: Option<std::time::SystemTime>,
    /// Lines skipped because they could not be decoded.
    pub skipped: u64,
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
        if let Some(p) = self.pending.take() {
            *out = p;
            return Ok(true);
        }
        loop {
            let Some(src) = self.sources.get_mut(self.idx) else {
                if self.merge.finish() {
                    if let Some(h) = self.held.take() {
                        *out = h;
                        return Ok(true);
                    }
                }
                return Ok(false);
            };
            match src.next_into(out) {
                Ok(true) => self.bad = 0,
                Ok(false) => {
                    if let Some(t) = self.steady_last.take() {
                        self.merge.emitted(Timestamp::from_system_time(t));
                    }
                    self.merge.end_source();
                    self.idx += 1;
                    continue;
                }
                Err(e) => {
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
            }
            if self.merge.steady() {
                // The rest of this source passes unchecked; only its newest
                // time matters (for the next source's de-duplication).
                self.steady_last = Some(out.timestamp);
                return Ok(true);
            }
            match self.merge.offer(out.ts()) {
                Verdict::Skip => continue,
                Verdict::Hold => {
                    self.held = Some(out.clone());
                    continue;
                }
                Verdict::Emit => return Ok(true),
                Verdict::EmitHeldThenThis => {
                    if let Some(h) = self.held.take() {
                        self.pending = Some(std::mem::replace(out, h));
                    }
                    return Ok(true);
                }
                Verdict::EmitHeldOnly => {
                    if let Some(h) = self.held.take() {
                        *out = h;
                        return Ok(true);
                    }
                    continue;
                }
            }
        }
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
