//! Appliance information, metrics and reports, and bulk export/import.

use serde_json::{json, Map, Value};

use super::{jdouble, obj, s, status_time, Mgmt, MgmtError, MgmtResult};
use crate::registry::PvTypeInfo;
use crate::storage::StoragePlugin;

/// Free bytes of the file system holding `path` (0 when unknown).
pub fn free_bytes(path: &std::path::Path) -> u64 {
    fs_space(path).map(|(avail, _)| avail).unwrap_or(0)
}

/// Free and total bytes of the file system holding `path`.
fn fs_space(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

/// Java's `DecimalFormat("###,###.##")`: thousands separators, at most two
/// decimals, no trailing zeros.
pub(crate) fn grouped_2dp(v: f64) -> String {
    let cents = (v * 100.0).round() as u64;
    let (int, frac) = (cents / 100, cents % 100);
    let digits = int.to_string();
    let mut out = String::with_capacity(digits.len() + 4);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        0 => {}
        f if f % 10 == 0 => out.push_str(&format!(".{}", f / 10)),
        f => out.push_str(&format!(".{f:02}")),
    }
    out
}

impl Mgmt {
    /// getApplianceInfo.
    pub fn appliance_info(&self) -> Value {
        let b = &self.base_url;
        obj([
            ("identity", s(&self.identity)),
            ("mgmtURL", s(format!("{b}/mgmt/bpl"))),
            ("engineURL", s(format!("{b}/engine/bpl"))),
            ("etlURL", s(format!("{b}/etl/bpl"))),
            ("retrievalURL", s(format!("{b}/retrieval/bpl"))),
            ("dataRetrievalURL", s(format!("{b}/retrieval"))),
            ("clusterInetPort", s(b.rsplit(':').next().unwrap_or(""))),
            ("version", s(format!("strata {}", crate::VERSION))),
        ])
    }

    /// Counts of PVs by status: (total, paused, pending requests).
    fn counts(&self) -> (u64, u64, u64) {
        let c = self.registry.counts();
        (c.pvs as u64, c.paused as u64, c.requests as u64)
    }

    /// getApplianceMetrics: one object for this appliance, with
    /// `<STORE>TotalFiles` / `<STORE>TotalBytes` per tier.
    pub fn appliance_metrics(&self) -> MgmtResult<Value> {
        let (total, paused, _) = self.counts();
        let m = self.engine.metrics();
        let engine_up = self.engine.running();
        let status = if engine_up || !self.engine_enabled {
            "Working".to_string()
        } else {
            "Stopped - engine ".to_string()
        };
        let mut v = json!({
            "instance": self.identity,
            "pvCount": total.to_string(),
            "pausedPVCount": paused.to_string(),
            "status": status,
            "capacityUtilized": "N/A",
            "eventRate": format!("{:.2}", m.event_rate),
            "dataRate": format!("{:.2}", m.data_rate),
            "dataRateGBPerDay": format!("{:.4}", m.data_rate * 86_400.0 / 1e9),
            "connectedPVCount": m.connected.to_string(),
            "disconnectedPVCount": m.channels.saturating_sub(m.connected).to_string(),
            "formattedWriteThreadSeconds": format!("{:.2}", m.write_seconds),
            "secondsConsumedByWriter": format!("{:.2}", m.write_seconds),
            "skippedWriteCycles": m.skipped_write_cycles.to_string(),
        });
        if let Value::Object(o) = &mut v {
            for (k, val) in self.etl_metrics() {
                o.insert(k, s(val));
            }
            for t in self.store.appliance_metrics()? {
                o.insert(format!("{}TotalFiles", t.name), s(t.total_files.unwrap_or(0)));
                o.insert(
                    format!("{}TotalBytes", t.name),
                    s(t.total_size_bytes.unwrap_or(0)),
                );
            }
        }
        Ok(Value::Array(vec![v]))
    }

    /// getApplianceMetricsForAppliance: `{name, value, source}` rows with
    /// the Java appliance's labels and order: identity, the engine's rows
    /// (`ENGINE`), `retrieval` rows (given by the HTTP layer, which counts
    /// requests), `PVs in archive workflow` and the aggregated rows
    /// (`mgmt`), then strata's per-tier file and byte totals and the ETL
    /// stages' rows (`ETL`, Java's source name).
    /// Engine rows without a strata counterpart (CAJ internals, write-cycle
    /// benchmarks) are left out.
    pub fn appliance_metrics_rows(&self, retrieval: &[(&str, String)]) -> MgmtResult<Vec<Value>> {
        let (total, paused, pending) = self.counts();
        let m = self.engine.metrics();
        let row = |src: &str, n: &str, v: String| obj([("name", s(n)), ("value", s(v)), ("source", s(src))]);
        let connected = m.connected;
        let disconnected = total.saturating_sub(paused).saturating_sub(connected);
        let gib = 1024.0 * 1024.0 * 1024.0;
        let mut rows = vec![
            row("mgmt", "Appliance Identity", self.identity.clone()),
            row("ENGINE", "Total PV count", total.to_string()),
            row("ENGINE", "Disconnected PV count", disconnected.to_string()),
            row("ENGINE", "Connected PV count", connected.to_string()),
            row("ENGINE", "Paused PV count", paused.to_string()),
            row("ENGINE", "Total channels", m.channels.to_string()),
            row("ENGINE", "Event Rate (in events/sec)", grouped_2dp(m.event_rate)),
            row("ENGINE", "Data Rate (in bytes/sec)", grouped_2dp(m.data_rate)),
            row(
                "ENGINE",
                "Data Rate in (GB/day)",
                grouped_2dp(m.data_rate * 86_400.0 / gib),
            ),
            row(
                "ENGINE",
                "Data Rate in (GB/year)",
                grouped_2dp(m.data_rate * 86_400.0 * 365.0 / gib),
            ),
            row(
                "ENGINE",
                "Skipped write cycles (backpressure)",
                m.skipped_write_cycles.to_string(),
            ),
            row(
                "ENGINE",
                "PVs pending computation of meta info",
                pending.to_string(),
            ),
            row("ENGINE", "Total number of CAJ channels", m.channels.to_string()),
        ];
        for (n, v) in retrieval {
            rows.push(row("RETRIEVAL", n, v.clone()));
        }
        rows.extend([
            row("mgmt", "PVs in archive workflow", pending.to_string()),
            row(
                "mgmt",
                "Aggregated appliance storage rate (in GB/year)",
                grouped_2dp(m.data_rate * 86_400.0 * 365.0 / gib),
            ),
            row(
                "mgmt",
                "Aggregated appliance event rate (in events/sec)",
                grouped_2dp(m.event_rate),
            ),
            row("mgmt", "Aggregated appliance PV count", grouped_2dp(total as f64)),
        ]);
        for t in self.store.appliance_metrics()? {
            rows.push(row(
                "ETL",
                &format!("Total files in {}", t.name),
                t.total_files.unwrap_or(0).to_string(),
            ));
            rows.push(row(
                "ETL",
                &format!("Total bytes in {}", t.name),
                t.total_size_bytes.unwrap_or(0).to_string(),
            ));
        }
        for (n, v) in self.etl_metrics_rows() {
            rows.push(row("ETL", &n, v));
        }
        Ok(rows)
    }

    /// getStorageMetrics: per store, name, files, bytes and file-system space.
    pub fn storage_metrics(&self) -> MgmtResult<Vec<Value>> {
        let mut out = Vec::new();
        for (t, sum) in self.store.tiers().iter().zip(self.store.appliance_metrics()?) {
            let (avail, total) = fs_space(t.root()).unwrap_or((0, 0));
            out.push(obj([
                ("name", s(&sum.name)),
                ("rootFolder", s(t.root().display())),
                ("partitionGranularity", s(sum.granularity.java_name())),
                ("totalFiles", s(sum.total_files.unwrap_or(0))),
                ("totalSizeBytes", s(sum.total_size_bytes.unwrap_or(0))),
                ("total_space", s(total)),
                ("available_space", s(avail)),
                (
                    "available_space_percent",
                    s(if total > 0 {
                        format!("{:.1}", avail as f64 * 100.0 / total as f64)
                    } else {
                        "0".into()
                    }),
                ),
            ]));
        }
        Ok(out)
    }

    /// getPausedPVsReport.
    pub fn paused_report(&self, limit: Option<usize>) -> Vec<Value> {
        let mut out = Vec::new();
        if limit == Some(0) {
            return out;
        }
        self.registry.for_each_name(|n, r| {
            if r.paused {
                out.push(obj([
                    ("pvName", s(n)),
                    ("instance", s(&self.identity)),
                    ("modificationTime", s(status_time(r.modified_ms / 1000))),
                ]));
            }
            limit.is_none_or(|l| out.len() < l)
        });
        out
    }

    /// getNeverConnectedPVs: PVs still in the archive workflow.
    pub fn never_connected(&self) -> Vec<Value> {
        self.registry
            .requests()
            .into_iter()
            .map(|r| {
                let at = status_time(r.requested_ms / 1000);
                obj([
                    ("pvName", s(&r.pv)),
                    ("requestTime", s(&at)),
                    ("startOfWorkflow", s(&at)),
                    ("currentState", s("METAINFO_REQUESTED")),
                    ("appliance", s(&self.identity)),
                ])
            })
            .collect()
    }

    /// getCurrentlyDisconnectedPVs: every engine channel not connected now
    /// (never connected ones too), paused PVs excluded. A channel that never
    /// lost a connection reports the start of this process, as Java does.
    pub fn disconnected(&self) -> Vec<Value> {
        let startup = self
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut out = Vec::new();
        self.registry.for_each_name(|n, r| {
            if r.paused {
                return true;
            }
            if let Some(ch) = self.engine.status(n).filter(|c| !c.connected) {
                let lost = if ch.lost_at > 0 { ch.lost_at } else { startup };
                out.push(obj([
                    ("pvName", s(n)),
                    ("instance", s(&self.identity)),
                    ("lastKnownEvent", s(status_time(ch.last_event))),
                    ("connectionLostAt", s(status_time(lost))),
                    ("noConnectionAsOfEpochSecs", s(lost)),
                    ("hostName", s(ch.host.as_deref().unwrap_or("N/A"))),
                    ("commandThreadID", s("0")),
                ]));
            }
            true
        });
        out
    }

    /// Engine channels of archived PVs, sorted by `key` descending.
    fn engine_rows(
        &self,
        limit: Option<usize>,
        key: impl Fn(&crate::engine::ChannelStatus) -> f64,
    ) -> Vec<(String, crate::engine::ChannelStatus)> {
        let mut rows = Vec::new();
        self.registry.for_each_name(|n, _| {
            if let Some(ch) = self.engine.status(n) {
                rows.push((n.to_string(), ch));
            }
            true
        });
        rows.sort_by(|a, b| key(&b.1).total_cmp(&key(&a.1)));
        if let Some(l) = limit {
            rows.truncate(l);
        }
        rows
    }

    /// getEventRateReport: events/s, highest first.
    pub fn event_rate_report(&self, limit: Option<usize>) -> Vec<Value> {
        self.engine_rows(limit, |c| c.event_rate)
            .into_iter()
            .map(|(n, c)| obj([("pvName", s(n)), ("eventRate", s(jdouble(c.event_rate)))]))
            .collect()
    }

    /// getStorageRateReport: highest first.
    pub fn storage_rate_report(&self, limit: Option<usize>) -> Vec<Value> {
        self.engine_rows(limit, |c| c.storage_rate)
            .into_iter()
            .map(|(n, c)| {
                let r = c.storage_rate;
                obj([
                    ("pvName", s(n)),
                    ("storageRate_KBperHour", s(jdouble(r * 60.0 * 60.0 / 1024.0))),
                    (
                        "storageRate_MBperDay",
                        s(jdouble(r * 60.0 * 60.0 * 24.0 / (1024.0 * 1024.0))),
                    ),
                    (
                        "storageRate_GBperYear",
                        s(jdouble(
                            r * 60.0 * 60.0 * 24.0 * 365.0 / (1024.0 * 1024.0 * 1024.0),
                        )),
                    ),
                ])
            })
            .collect()
    }

    /// getLostConnectionsReport: every channel, most losses first.
    pub fn lost_connections_report(&self, limit: Option<usize>) -> Vec<Value> {
        self.engine_rows(limit, |c| c.loss_count as f64)
            .into_iter()
            .map(|(n, c)| {
                obj([
                    ("pvName", s(n)),
                    ("instance", s(&self.identity)),
                    ("lostConnections", s(c.loss_count)),
                    ("currentlyConnected", s(if c.connected { "Yes" } else { "No" })),
                ])
            })
            .collect()
    }

    /// The dropped-events reports (Java's `DroppedEvents*Report`): engine
    /// channels with a non-zero `count`, most first (then by name),
    /// `{pvName, eventsDropped}`; paused PVs left out when
    /// `skip_paused`.
    fn dropped_report(
        &self,
        limit: Option<usize>,
        skip_paused: bool,
        count: impl Fn(&crate::engine::ChannelStatus) -> u64,
    ) -> Vec<Value> {
        let mut rows = Vec::new();
        self.registry.for_each_name(|n, r| {
            if skip_paused && r.paused {
                return true;
            }
            if let Some(c) = self.engine.status(n).map(|ch| count(&ch)).filter(|c| *c > 0) {
                rows.push((n.to_string(), c));
            }
            true
        });
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows.truncate(limit.unwrap_or(usize::MAX));
        rows.into_iter()
            .map(|(n, c)| obj([("pvName", s(n)), ("eventsDropped", s(c))]))
            .collect()
    }

    /// getPVsByDroppedEventsTimestamp: events dropped for their time stamp.
    pub fn dropped_timestamp_report(&self, limit: Option<usize>) -> Vec<Value> {
        self.dropped_report(limit, false, |c| c.dropped_timestamp)
    }

    /// getPVsByDroppedEventsBuffer: events dropped because a buffer was full.
    pub fn dropped_buffer_report(&self, limit: Option<usize>) -> Vec<Value> {
        self.dropped_report(limit, false, |c| c.dropped_buffer)
    }

    /// getPVsByDroppedEventsTypeChange: events dropped because the server
    /// changed the type (paused PVs left out).
    pub fn dropped_type_change_report(&self, limit: Option<usize>) -> Vec<Value> {
        self.dropped_report(limit, true, |c| c.dropped_type_change)
    }

    /// getSlowChangingPVsWithDroppedEvents: PVs that dropped more events
    /// for their time stamp than they stored, `{pvName, eventsDropped,
    /// totalEvents}`, most dropped first (paused PVs left out).
    pub fn slow_changing_dropped_report(&self, limit: Option<usize>) -> Vec<Value> {
        let mut rows = Vec::new();
        self.registry.for_each_name(|n, r| {
            if r.paused {
                return true;
            }
            if let Some(ch) = self.engine.status(n) {
                if ch.dropped_timestamp > ch.event_count {
                    rows.push((n.to_string(), ch.dropped_timestamp, ch.event_count));
                }
            }
            true
        });
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows.truncate(limit.unwrap_or(usize::MAX));
        rows.into_iter()
            .map(|(n, d, t)| obj([("pvName", s(n)), ("eventsDropped", s(d)), ("totalEvents", s(t))]))
            .collect()
    }

    /// getArchivedWaveforms: the engine's waveform channels with
    /// `{pvName, samplingmethod, samplingperiod, elementCount, dbrtype}`.
    pub fn archived_waveforms(&self) -> Vec<Value> {
        let mut out = Vec::new();
        self.registry.for_each_name(|n, r| {
            let is_waveform = crate::types::ArchDbType::from_i32(r.dbr_type).is_some_and(|t| t.is_waveform());
            if is_waveform && self.engine.status(n).is_some() {
                if let Ok(Some(info)) = self.registry.get(n) {
                    out.push(obj([
                        ("pvName", s(n)),
                        ("samplingmethod", s(info.sampling_method.as_str())),
                        ("samplingperiod", s(jdouble(f64::from(info.sampling_period)))),
                        ("elementCount", s(info.element_count)),
                        ("dbrtype", s(info.dbr_type.java_name())),
                    ]));
                }
            }
            true
        });
        out
    }

    /// getRecentlyAddedPVs / getRecentlyModifiedPVs: newest first.
    pub fn recent(&self, modified: bool, limit: Option<usize>) -> Vec<Value> {
        let mut rows = Vec::new();
        self.registry.for_each_name(|n, r| {
            rows.push((n.to_string(), if modified { r.modified_ms } else { r.created_ms }));
            true
        });
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        rows.truncate(limit.unwrap_or(usize::MAX));
        let key = if modified {
            "modificationTime"
        } else {
            "creationTime"
        };
        rows.into_iter()
            .map(|(n, t)| {
                obj([
                    ("pvName", s(n)),
                    ("instance", s(&self.identity)),
                    (key, s(status_time(t / 1000))),
                ])
            })
            .collect()
    }

    /// Newest event of `pv` (Unix seconds, 0 if none): the engine's when
    /// it has one, else the store's.
    fn last_event(&self, pv: &str) -> i64 {
        if let Some(t) = self.engine.status(pv).map(|c| c.last_event).filter(|t| *t > 0) {
            return t;
        }
        self.store
            .last_known_blocking(pv)
            .ok()
            .flatten()
            .map(|e| e.ts().secs)
            .unwrap_or(0)
    }

    /// getSilentPVsReport: archived (not paused) PVs, longest silent first.
    pub fn silent_report(&self, limit: Option<usize>) -> Vec<Value> {
        let mut rows = Vec::new();
        self.registry.for_each_name(|n, r| {
            if !r.paused {
                rows.push((n.to_string(), self.last_event(n)));
            }
            true
        });
        rows.sort_by_key(|r| r.1);
        rows.truncate(limit.unwrap_or(usize::MAX));
        rows.into_iter()
            .map(|(n, t)| {
                obj([
                    ("pvName", s(n)),
                    ("instance", s(&self.identity)),
                    ("lastKnownEvent", s(status_time(t))),
                ])
            })
            .collect()
    }

    /// getTimeSpanReport: per PV, `creationTS` (creation time or first
    /// sample, whichever is older) and `lastEvent` (newest sample), both in
    /// Unix seconds, and `paused`.
    pub fn time_span_report(&self, limit: Option<usize>) -> Vec<Value> {
        let mut out = Vec::new();
        if limit == Some(0) {
            return out;
        }
        self.registry.for_each_name(|n, r| {
            let mut first = (r.created_ms > 0).then_some(r.created_ms / 1000);
            let mut last = None::<i64>;
            for t in self.store.tiers() {
                if let Ok(Some(sum)) = t.summary(n) {
                    if let Some(f) = sum.first {
                        first = Some(first.map_or(f.0, |x| x.min(f.0)));
                    }
                    if let Some(l) = sum.last {
                        last = Some(last.map_or(l.0, |x| x.max(l.0)));
                    }
                }
            }
            let last = last.or_else(|| self.engine.status(n).map(|c| c.last_event));
            out.push(obj([
                ("pvName", s(n)),
                ("instance", s(&self.identity)),
                ("creationTS", s(first.unwrap_or(0))),
                ("paused", s(r.paused)),
                ("lastEvent", s(last.unwrap_or(0))),
            ]));
            limit.is_none_or(|x| out.len() < x)
        });
        out
    }

    /// getPVsByStorageConsumed: largest first (from the index).
    pub fn storage_consumed(&self, limit: Option<usize>) -> Vec<Value> {
        let mut rows = Vec::new();
        self.registry.for_each_name(|n, _| {
            let bytes: u64 = self
                .store
                .tiers()
                .iter()
                .filter_map(|t| t.summary(n).ok().flatten())
                .map(|s| s.bytes)
                .sum();
            rows.push((n.to_string(), bytes));
            true
        });
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        rows.truncate(limit.unwrap_or(usize::MAX));
        rows.into_iter()
            .map(|(n, b)| {
                obj([
                    ("pvName", s(n)),
                    ("instance", s(&self.identity)),
                    ("storageConsumed", s(b)),
                    ("storageConsumedInMB", s(grouped_2dp(b as f64 / 1_048_576.0))),
                ])
            })
            .collect()
    }

    /// exportConfig: every PVTypeInfo and alias.
    pub fn export_config(&self) -> MgmtResult<Value> {
        let mut infos = Vec::new();
        for n in self.registry.names() {
            if let Some(i) = self.registry.get(&n)? {
                infos.push(Value::Object(i.to_json()));
            }
        }
        let aliases: Vec<Value> = self.all_aliases();
        Ok(json!({ "pvTypeInfos": infos, "aliases": aliases }))
    }

    /// importConfig: PVTypeInfos (as exported, or a bare array) and aliases.
    /// Imported PVs keep their paused flag. Returns counts.
    pub fn import_config(&self, body: &Value) -> MgmtResult<Value> {
        let (infos, aliases) = match body {
            Value::Array(a) => (a.clone(), Vec::new()),
            Value::Object(o) => (
                o.get("pvTypeInfos")
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default(),
                o.get("aliases")
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default(),
            ),
            _ => {
                return Err(MgmtError::bad(
                    "body",
                    "expected exportConfig's object or an array of PVTypeInfos",
                ))
            }
        };
        // Everything is checked before anything is written.
        let mut parsed = Vec::with_capacity(infos.len());
        let mut names = std::collections::HashSet::with_capacity(infos.len());
        for (i, v) in infos.iter().enumerate() {
            let mut t = PvTypeInfo::from_json(v)
                .map_err(|e| MgmtError::bad("body", format!("PVTypeInfo #{i}: {e}")))?;
            if !super::lifecycle::valid_pv_name(&t.pv_name) {
                return Err(MgmtError::bad(
                    "body",
                    format!("PVTypeInfo #{i}: {:?} is not a valid PV name", t.pv_name),
                ));
            }
            if self.registry.alias_target(&t.pv_name).is_some() {
                return Err(MgmtError::bad("body", format!("{} is an alias", t.pv_name)));
            }
            t.appliance_identity = self.identity.clone();
            names.insert(t.pv_name.clone());
            parsed.push(t);
        }
        let mut pairs = Vec::with_capacity(aliases.len());
        for a in &aliases {
            let (Some(alias), Some(pv)) = (
                a.get("aliasName").and_then(|v| v.as_str()),
                a.get("srcPVName").and_then(|v| v.as_str()),
            ) else {
                return Err(MgmtError::bad("body", "aliases need aliasName and srcPVName"));
            };
            if alias == pv || names.contains(alias) || self.registry.contains(alias) {
                return Err(MgmtError::bad(
                    "body",
                    format!("alias {alias} is a PV with its own PVTypeInfo"),
                ));
            }
            if !names.contains(pv) && !self.registry.contains(pv) {
                return Err(MgmtError::bad(
                    "body",
                    format!("alias {alias} names PV {pv}, which has no PVTypeInfo"),
                ));
            }
            pairs.push((alias, pv));
        }
        for t in &parsed {
            if let Some(k) = &t.chunk_key {
                self.store.set_chunk_key(&t.pv_name, k);
            }
        }
        for chunk in parsed.chunks(10_000) {
            self.registry.put_many(chunk)?;
        }
        for (alias, pv) in &pairs {
            self.registry
                .add_alias(alias, pv)
                .map_err(|e| MgmtError::bad("body", e.to_string()))?;
        }
        Ok(obj([
            ("status", s("ok")),
            ("pvTypeInfos", s(parsed.len())),
            ("aliases", s(pairs.len())),
        ]))
    }

    /// Counts by status for `/metrics`: (total, paused, pending, connected, disconnected).
    pub fn status_counts(&self) -> (u64, u64, u64, u64, u64) {
        let (total, paused, pending) = self.counts();
        let m = self.engine.metrics();
        (
            total,
            paused,
            pending,
            m.connected,
            m.channels.saturating_sub(m.connected),
        )
    }

    /// getVersions.
    pub fn versions(&self) -> Value {
        let v = format!("strata {}", crate::VERSION);
        let mut m = Map::new();
        for k in [
            "mgmt_version",
            "engine_version",
            "etl_version",
            "retrieval_version",
        ] {
            m.insert(k.into(), s(&v));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn grouped_2dp_is_javas_decimal_format() {
        assert_eq!(super::grouped_2dp(0.0), "0");
        assert_eq!(super::grouped_2dp(0.004), "0");
        assert_eq!(super::grouped_2dp(0.5), "0.5");
        assert_eq!(super::grouped_2dp(1234.567), "1,234.57");
        assert_eq!(super::grouped_2dp(1_234_567.0), "1,234,567");
        assert_eq!(super::grouped_2dp(999.999), "1,000");
    }
}
