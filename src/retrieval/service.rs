//! The retrieval service: resolves names, reads the tiers' sources, merges,
//! post-processes and writes a format. Blocking; the HTTP layer runs it on
//! the blocking pool and streams what it writes.

use std::io::Write;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::RetrievalError;
use super::format::{self, Format, FormatWriter, NonFinite};
use super::merge::{Merge, Verdict};
use super::partial::{not_answering, PartialTiers};
use super::postprocessors::{split_function_call, PpSpec};
use super::stream::{FieldStream, MergedStream};
use crate::registry::{PvTypeInfo, Registry};
use crate::storage::{EventStream, Source, TieredStore};
use crate::types::{ArchiverSample, EventStreamDesc, PvName, SampleValue, Timestamp};

/// Retrieval settings (`[retrieval]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalConfig {
    /// Non-finite doubles in JSON: `bare` (Java), `null` or `string`.
    pub json_nonfinite: NonFinite,
    /// `usereduced=true`: data older than this many days is reduced with
    /// `firstSample_900` (Java's TwoWeekRaw policy).
    pub reduced_after_days: u32,
    /// Compress `getData.raw` (and other binary responses) for clients that
    /// offer gzip/zstd. Off by default: PB/HTTP clients read the raw bytes,
    /// and the Java appliance does not compress them. Text formats are
    /// compressed either way.
    pub compress_raw: bool,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            json_nonfinite: NonFinite::Bare,
            reduced_after_days: 14,
            compress_raw: false,
        }
    }
}

/// A resolved PV name.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Name echoed in responses (after stripping prefix, `.VAL`, function call).
    pub name: String,
    /// Real PV whose data is read (alias resolved, field removed).
    pub real: String,
    /// `PV.FIELD` for a field archived in the PV's stream.
    pub field: Option<String>,
    /// The registry record, if any.
    pub info: Option<PvTypeInfo>,
}

/// One PV of a request.
#[derive(Debug, Clone)]
pub struct PvRequest {
    /// Resolved name.
    pub resolved: Resolved,
    /// Post-processor, if any.
    pub pp: Option<PpSpec>,
    /// `usereduced=true` without a post-processor.
    pub reduced: bool,
}

/// A parsed data request.
#[derive(Debug, Clone)]
pub struct DataQuery {
    /// PVs in response order.
    pub pvs: Vec<PvRequest>,
    /// Time ranges (inclusive), ordered.
    pub ranges: Vec<(Timestamp, Timestamp)>,
    /// Output format.
    pub format: Format,
    /// Add the PV's full metadata to `meta`.
    pub fetch_latest_metadata: bool,
}

/// Figures of one response.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    /// Samples written.
    pub samples: u64,
    /// PVs with data.
    pub pvs_with_data: u32,
}

/// The retrieval service.
#[derive(Clone)]
pub struct Retrieval {
    /// Storage.
    pub store: TieredStore,
    /// Registry.
    pub registry: Arc<Registry>,
    /// Settings.
    pub cfg: RetrievalConfig,
    /// The ingest engine's write buffers, whose samples are served too.
    pub engine: Option<Arc<dyn crate::engine::BufferedSamples>>,
}

/// Java's default range: `to` = now + 1 h, `from` = `to` − 1 day.
pub fn default_range(
    now: Timestamp,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> (Timestamp, Timestamp) {
    let to = to.unwrap_or(Timestamp::new(now.secs + 3600, now.nanos));
    let from = from.unwrap_or(Timestamp::new(to.secs - 86_400, to.nanos));
    (from, to)
}

const MAX_BAD_LINES: u32 = 1000;

impl Retrieval {
    /// Resolves a requested name (aliases, `PV.FIELD`); 404 when unknown.
    pub fn resolve(&self, requested: &str) -> Result<Resolved, RetrievalError> {
        let name = PvName::new(requested);
        if name.is_empty() {
            return Err(RetrievalError::bad("pv", "empty PV name"));
        }
        let real = self.registry.resolve(&name);
        let info = self.registry.get(&real)?;
        if info.is_some() || self.store.has_data(&real)? {
            return Ok(Resolved {
                name: name.into(),
                real,
                field: None,
                info,
            });
        }
        if let Some((base, field)) = name.rsplit_once('.') {
            let real_base = self.registry.resolve(base);
            if let Some(info) = self.registry.get(&real_base)? {
                if info.archive_fields.iter().any(|f| f == field) {
                    return Ok(Resolved {
                        name: name.to_string(),
                        real: real_base,
                        field: Some(field.to_string()),
                        info: Some(info),
                    });
                }
            }
        }
        Err(RetrievalError::UnknownPv(name.into()))
    }

    /// Parses a `pv` parameter (with optional function call) and `pp`.
    pub fn pv_request(
        &self,
        pv_param: &str,
        pp_param: Option<&str>,
        usereduced: bool,
    ) -> Result<PvRequest, RetrievalError> {
        let (spec, name) =
            match split_function_call(pv_param).map_err(|e| RetrievalError::bad("pv", e.to_string()))? {
                Some((spec, pv)) => (Some(spec), pv),
                None => (
                    pp_param.filter(|p| !p.is_empty()).map(str::to_string),
                    pv_param.to_string(),
                ),
            };
        let pp = match &spec {
            Some(s) => PpSpec::parse(s).map_err(|e| RetrievalError::bad("pp", e.to_string()))?,
            None => None,
        };
        let resolved = self.resolve(&name)?;
        if let (Some(pp), Some(info)) = (&pp, &resolved.info) {
            if resolved.field.is_none() {
                pp.check_input_type(info.dbr_type)
                    .map_err(|e| RetrievalError::bad("pp", e.to_string()))?;
            }
        }
        Ok(PvRequest {
            resolved,
            reduced: usereduced && pp.is_none(),
            pp,
        })
    }

    /// The `meta` description of a PV: first stream's headers, then EGU and
    /// PREC from the registry when the stream has none.
    fn meta(&self, pv: &Resolved, first: &EventStreamDesc, full: bool) -> EventStreamDesc {
        let mut d = first.clone();
        d.pv_name = pv.name.clone();
        d.source = String::new();
        d.headers.retain(|(_, v)| !v.is_empty());
        let add = |d: &mut EventStreamDesc, k: &str, v: String| {
            if !v.is_empty() && d.header(k).is_none() {
                d.headers.push((k.to_string(), v));
            }
        };
        if let Some(info) = &pv.info {
            // Java's mergeFrom: every chunk of the PV says the type info's
            // element count (a buffer or index record knows none).
            d.element_count = Some(info.element_count.max(1));
            if let Some(u) = &info.units {
                add(&mut d, "EGU", u.clone());
            }
            if let Some(p) = info.precision {
                if p.is_finite() {
                    add(&mut d, "PREC", format!("{}", p.trunc() as i64));
                }
            }
            if full {
                // Java's fetchLatestMetadata: the engine's MetaInfo
                // dictionary replaces what the streams said.
                let engine = self
                    .engine
                    .as_ref()
                    .map(|e| e.metadata(&pv.real))
                    .unwrap_or_default();
                for (k, v) in crate::registry::metainfo::meta_info(info, &engine) {
                    if v.is_empty() {
                        continue;
                    }
                    match d.headers.iter_mut().find(|(h, _)| *h == k) {
                        Some(h) => h.1 = v,
                        None => d.headers.push((k, v)),
                    }
                }
            }
        }
        d
    }

    /// Samples still in the engine's buffer, as the last source (Java's
    /// lifetime-0 engine source, consulted when `to` is recent).
    fn engine_source(&self, pv: &str, from: Timestamp, to: Timestamp) -> Option<Source> {
        let engine = self.engine.as_ref()?;
        if to.secs < Timestamp::now().secs - 120 {
            return None;
        }
        let samples = engine.buffered(pv);
        let first = samples.first()?;
        let ty = first.value.db_type();
        let year = first.ts().year();
        let mut desc = EventStreamDesc::new(pv, ty, year);
        desc.source = "engine".into();
        let mut lines = crate::storage::MemLines::new(desc);
        let mut raw = Vec::new();
        for s in samples.iter().filter(|s| s.ts() <= to && s.ts().year() == year) {
            let _ = from;
            raw.clear();
            if crate::plainpb::encode_sample(s, year, &mut raw).is_ok() {
                lines.push_raw(s.ts(), &raw);
            }
        }
        (!lines.is_empty()).then_some(Source::Mem(lines))
    }

    /// Writes the whole response for `q` into `out` (blocking).
    pub fn run(&self, q: &DataQuery, out: impl Write) -> Result<RunStats, RetrievalError> {
        self.run_partial(q, out, &PartialTiers::default())
    }

    /// As [`Retrieval::run`], recording in `partial` the tiers whose files
    /// did not answer within the storage deadline (their data is left out;
    /// the other tiers' data is written).
    pub fn run_partial(
        &self,
        q: &DataQuery,
        out: impl Write,
        partial: &PartialTiers,
    ) -> Result<RunStats, RetrievalError> {
        let mut w = format::writer(q.format, out, self.cfg.json_nonfinite);
        w.begin()?;
        let mut stats = RunStats::default();
        for pv in &q.pvs {
            let n = self.write_pv(pv, &q.ranges, q.fetch_latest_metadata, partial, w.as_mut())?;
            if n > 0 {
                stats.pvs_with_data += 1;
                stats.samples += n;
            }
        }
        w.finish()?;
        Ok(stats)
    }

    /// Splits `[from, to]` for `usereduced`: `firstSample_900` before the
    /// reduction horizon, raw after it.
    fn reduced_parts(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp, Option<PpSpec>)> {
        let horizon = Timestamp::new(
            Timestamp::now().secs - i64::from(self.cfg.reduced_after_days) * 86_400,
            0,
        );
        let first = PpSpec::parse("firstSample_900").ok().flatten();
        if to <= horizon {
            vec![(from, to, first)]
        } else if from >= horizon {
            vec![(from, to, None)]
        } else {
            vec![
                (from, horizon, first),
                (Timestamp::new(horizon.secs, 1), to, None),
            ]
        }
    }

    fn write_pv(
        &self,
        pv: &PvRequest,
        ranges: &[(Timestamp, Timestamp)],
        full_meta: bool,
        partial: &PartialTiers,
        w: &mut dyn FormatWriter,
    ) -> Result<u64, RetrievalError> {
        let mut parts = Vec::new();
        for &(from, to) in ranges {
            if pv.reduced {
                parts.extend(self.reduced_parts(from, to));
            } else {
                parts.push((from, to, pv.pp.clone()));
            }
        }
        let mut started = false;
        let mut written = 0u64;
        for (from, to, pp) in parts {
            let got = self.store.sources_partial(&pv.resolved.real, from, to)?;
            for d in &got.missed {
                partial.missed(&pv.resolved.real, d);
            }
            let mut sources = got.value;
            if let Some(src) = self.engine_source(&pv.resolved.real, from, to) {
                sources.push(src);
            }
            let Some(first) = sources.first() else {
                continue;
            };
            let meta = self.meta(&pv.resolved, first.desc(), full_meta);
            if w.wants_raw() && pp.is_none() && pv.resolved.field.is_none() {
                written += self.write_raw(sources, from, &meta, partial, &mut started, w)?;
                continue;
            }
            if pp.is_none() && pv.resolved.field.is_none() {
                // Stored samples as they are: the merged stream hands each
                // sample's time along, no conversions on the way.
                let mut stream = MergedStream::new(sources, from, meta.clone()).with_partial(partial.clone());
                written += self.drain(
                    &mut stream,
                    MergedStream::next_with_ts,
                    pv,
                    &meta,
                    false,
                    &mut started,
                    w,
                )?;
                continue;
            }
            let mut stream: Box<dyn EventStream> =
                Box::new(MergedStream::new(sources, from, meta.clone()).with_partial(partial.clone()));
            if let Some(f) = &pv.resolved.field {
                stream = Box::new(FieldStream::new(stream, f, &pv.resolved.name));
            }
            if let Some(pp) = &pp {
                stream = pp.apply(stream, from, to);
            }
            written += self.drain(
                stream.as_mut(),
                next_timed,
                pv,
                &meta,
                pp.is_some(),
                &mut started,
                w,
            )?;
        }
        if started {
            w.end_pv()?;
        }
        Ok(written)
    }

    /// Writes every sample `next` takes from `stream` (with its time);
    /// begins the PV on the first one. Returns the samples written.
    #[allow(clippy::too_many_arguments)]
    fn drain<S: EventStream + ?Sized>(
        &self,
        stream: &mut S,
        next: impl Fn(&mut S, &mut ArchiverSample) -> anyhow::Result<Option<Timestamp>>,
        pv: &PvRequest,
        meta: &EventStreamDesc,
        post_processed: bool,
        started: &mut bool,
        w: &mut dyn FormatWriter,
    ) -> Result<u64, RetrievalError> {
        let mut s = ArchiverSample::new(std::time::UNIX_EPOCH, SampleValue::Double(0.0));
        let mut desc: Option<EventStreamDesc> = None;
        let mut written = 0;
        while let Some(ts) = next(stream, &mut s).map_err(classify)? {
            let d = match &desc {
                Some(d) => d,
                None => {
                    desc.insert(self.start_pv(pv, meta, stream.description(), post_processed, started, w)?)
                }
            };
            w.sample_at(&s, ts, d)?;
            written += 1;
        }
        Ok(written)
    }

    /// The description of a stream that has just yielded its first sample
    /// (fixed from then on); begins the PV in `w` unless already `started`.
    fn start_pv(
        &self,
        pv: &PvRequest,
        meta: &EventStreamDesc,
        stream_desc: &EventStreamDesc,
        post_processed: bool,
        started: &mut bool,
        w: &mut dyn FormatWriter,
    ) -> Result<EventStreamDesc, RetrievalError> {
        let mut d = stream_desc.clone();
        if post_processed {
            d.source = "pp".into();
        }
        if !*started {
            *started = true;
            let mut m = meta.clone();
            if m.db_type != d.db_type {
                // A post-processor or field changed the type: its shape too.
                m.db_type = d.db_type;
                m.element_count = d.element_count;
            }
            w.begin_pv(&pv.resolved.name, &m)?;
        }
        Ok(d)
    }

    /// Stored lines straight through the merge rule (raw format, no post-processing).
    fn write_raw(
        &self,
        mut sources: Vec<Source>,
        from: Timestamp,
        meta: &EventStreamDesc,
        partial: &PartialTiers,
        started: &mut bool,
        w: &mut dyn FormatWriter,
    ) -> Result<u64, RetrievalError> {
        let descs: Vec<EventStreamDesc> = sources.iter().map(|s| s.desc().clone()).collect();
        let mut merge = Merge::new(from);
        let mut held: Option<(usize, Timestamp, Vec<u8>)> = None;
        let written = std::cell::Cell::new(0u64);
        let mut emit =
            |w: &mut dyn FormatWriter, ts: Timestamp, line: &[u8], i: usize| -> Result<(), RetrievalError> {
                if !*started {
                    *started = true;
                    w.begin_pv(&meta.pv_name, meta)?;
                }
                w.raw_line(ts, line, &descs[i])?;
                written.set(written.get() + 1);
                Ok(())
            };
        for (i, src) in sources.iter_mut().enumerate() {
            let mut bad = 0;
            loop {
                let line = match src.next_raw() {
                    Ok(Some(l)) => l,
                    Ok(None) => break,
                    Err(e) => {
                        if let Some(d) = not_answering(&e) {
                            // The tier stopped answering: this source ends.
                            partial.missed(&meta.pv_name, d);
                            break;
                        }
                        tracing::warn!(error = %e, "skipping unreadable sample");
                        bad += 1;
                        if bad >= MAX_BAD_LINES {
                            break;
                        }
                        continue;
                    }
                };
                bad = 0;
                let verdict = merge.offer(line.ts);
                let (lts, lline) = (line.ts, line.line);
                match verdict {
                    Verdict::Skip => {}
                    Verdict::Hold => held = Some((i, lts, lline.to_vec())),
                    Verdict::Emit => emit(w, lts, lline, i)?,
                    Verdict::EmitHeldThenThis => {
                        if let Some((hi, hts, hl)) = held.take() {
                            emit(w, hts, &hl, hi)?;
                        }
                        emit(w, lts, lline, i)?;
                    }
                    Verdict::EmitHeldOnly => {
                        if let Some((hi, hts, hl)) = held.take() {
                            emit(w, hts, &hl, hi)?;
                        }
                    }
                }
                if merge.steady() && matches!(verdict, Verdict::Emit | Verdict::EmitHeldThenThis) {
                    // The rest of this source passes unchecked: copy it as stored.
                    let desc = &descs[i];
                    let mut lines_out = 0u64;
                    let copied = match src.copy_rest(&mut |b: &[u8]| {
                        lines_out += memchr::memchr_iter(b'\n', b).count() as u64;
                        w.raw_lines(lts, b, desc)
                    }) {
                        Ok(c) => c,
                        Err(e) => match not_answering(&e) {
                            // Whole lines were copied up to here; the source ends.
                            Some(d) => {
                                partial.missed(&meta.pv_name, d);
                                written.set(written.get() + lines_out);
                                break;
                            }
                            None => return Err(e.into()),
                        },
                    };
                    if let Some((_, last)) = copied {
                        written.set(written.get() + lines_out);
                        merge.emitted(last);
                        break;
                    }
                }
            }
            merge.end_source();
        }
        if merge.finish() {
            if let Some((hi, hts, hl)) = held.take() {
                emit(w, hts, &hl, hi)?;
            }
        }
        Ok(written.get())
    }

    /// `getDataAtTime`: for each requested name, the newest sample at or
    /// before `at`, as Java's JSON object; names without data are absent.
    /// Tiers whose files do not answer within the deadline are left out
    /// and recorded in `partial`.
    pub fn data_at_time(
        &self,
        names: &[String],
        at: Timestamp,
        partial: &PartialTiers,
    ) -> Result<Map<String, Value>, RetrievalError> {
        let mut out = Map::new();
        let probe = Timestamp::new(at.secs, at.nanos).max(Timestamp::new(i64::MIN / 2, 0));
        let just_after = if probe.nanos < 999_999_999 {
            Timestamp::new(probe.secs, probe.nanos + 1)
        } else {
            Timestamp::new(probe.secs + 1, 0)
        };
        for requested in names {
            let Ok(r) = self.resolve(requested) else {
                continue;
            };
            let got = self.store.last_before_partial(&r.real, just_after)?;
            for d in &got.missed {
                partial.missed(&r.real, d);
            }
            let Some(s) = got.value else {
                continue;
            };
            let (s, ty) = match &r.field {
                Some(f) => match s.field(f) {
                    Some(v) => (
                        ArchiverSample::new(
                            s.timestamp,
                            v.trim()
                                .parse::<f64>()
                                .map(SampleValue::Double)
                                .unwrap_or_else(|_| SampleValue::String(v.to_string())),
                        ),
                        None,
                    ),
                    None => continue,
                },
                None => (s, r.info.as_ref().map(|i| i.dbr_type)),
            };
            let mut val = String::new();
            format::push_json_value(&mut val, &s.value, NonFinite::Null);
            let val: Value = serde_json::from_str(&val).unwrap_or(Value::Null);
            let ts = s.ts();
            let mut o = Map::new();
            o.insert("secs".into(), Value::from(ts.secs));
            o.insert("nanos".into(), Value::from(ts.nanos));
            o.insert("val".into(), val);
            o.insert("severity".into(), Value::from(s.severity));
            o.insert("status".into(), Value::from(s.status));
            o.insert("fields".into(), Value::Object(Map::new()));
            if let Some(ty) = ty {
                let mut meta = Map::new();
                meta.insert("DBRType".into(), Value::from(ty.java_name()));
                o.insert("meta".into(), Value::Object(meta));
            }
            out.insert(requested.clone(), Value::Object(o));
        }
        Ok(out)
    }
}

/// [`EventStream::next_event_into`] with the sample's time, for streams
/// that do not hand it along.
fn next_timed<S: EventStream + ?Sized>(
    s: &mut S,
    out: &mut ArchiverSample,
) -> anyhow::Result<Option<Timestamp>> {
    Ok(s.next_event_into(out)?.then(|| out.ts()))
}

/// Post-processor input errors are the client's (400); the rest internal.
fn classify(e: anyhow::Error) -> RetrievalError {
    match e.downcast::<super::postprocessors::PpError>() {
        Ok(pp) => RetrievalError::bad("pp", pp.to_string()),
        Err(e) => RetrievalError::Internal(e),
    }
}
