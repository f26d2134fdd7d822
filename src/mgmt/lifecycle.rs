//! PV life cycle: archive requests and their completion, pause, resume,
//! delete, abort, rename, archival parameters, archived fields, policies.

use serde_json::{json, Value};

use super::{obj, s, Mgmt, MgmtError, MgmtResult};
use crate::engine::ProbeResult;
use crate::registry::{ArchiveRequest, PvTypeInfo, SamplingMethod};
use crate::types::PvName;

/// Per-PV parameters of an archive request.
#[derive(Debug, Clone, Default)]
pub struct ArchiveParams {
    /// Name as given (may carry `pva://`, `.VAL`, `.FIELD`).
    pub pv: String,
    /// Sampling period (s).
    pub sampling_period: Option<f32>,
    /// `SCAN` or `MONITOR`.
    pub sampling_method: Option<String>,
    /// Policy override.
    pub policy: Option<String>,
    /// Conditional archiving PV.
    pub controlling_pv: Option<String>,
}

/// Minimum sampling period accepted (Java's site default).
pub const MIN_SAMPLING_PERIOD: f32 = 0.1;

/// True if `name` is acceptable as an EPICS PV name: non-empty, printable
/// ASCII, no whitespace or quotes.
pub fn valid_pv_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\' && b != b',')
}

impl Mgmt {
    /// Checks one archive request; returns the normalized name and whether
    /// it is archived over pvAccess (`pva://` or `ca://` given, else the
    /// policy's protocol, else Channel Access).
    fn check_request(&self, r: &ArchiveParams) -> MgmtResult<(String, bool)> {
        let raw = r.pv.trim();
        let scheme = if raw.starts_with("pva://") {
            Some(true)
        } else if raw.starts_with("ca://") {
            Some(false)
        } else {
            None
        };
        let name = PvName::new(raw);
        if !valid_pv_name(&name) {
            return Err(MgmtError::bad("pv", format!("{raw:?} is not a valid PV name")));
        }
        if let Some(p) = r.sampling_period {
            if !p.is_finite() || p < MIN_SAMPLING_PERIOD {
                return Err(MgmtError::bad(
                    "samplingperiod",
                    format!("{p} is below the minimum of {MIN_SAMPLING_PERIOD} s"),
                ));
            }
        }
        if let Some(m) = &r.sampling_method {
            if SamplingMethod::parse(m).is_none() {
                return Err(MgmtError::bad(
                    "samplingmethod",
                    format!("{m:?} is not SCAN or MONITOR"),
                ));
            }
        }
        if let Some(p) = &r.policy {
            let known = self
                .policies
                .read()
                .map(|x| x.list().iter().any(|(n, _)| n == p))
                .unwrap_or(false);
            if !known {
                return Err(MgmtError::bad("policy", format!("unknown policy {p}")));
            }
        }
        let use_pva = scheme.unwrap_or_else(|| {
            self.policies
                .read()
                .ok()
                .and_then(|p| p.protocol_for(&name, r.policy.as_deref()))
                .unwrap_or(false)
        });
        Ok((name.into(), use_pva))
    }

    /// `archivePV`: one result object per requested PV. Every request is
    /// checked before any is submitted, so a 400 submits nothing.
    pub async fn archive(&self, reqs: Vec<ArchiveParams>) -> MgmtResult<Vec<Value>> {
        let mut checked = Vec::with_capacity(reqs.len());
        for r in reqs {
            let (name, use_pva) = self.check_request(&r)?;
            checked.push((r, name, use_pva));
        }
        let mut out = Vec::with_capacity(checked.len());
        for (r, name, use_pva) in checked {
            // NAME.FIELD for a field archived in the stream extends the PV.
            if let Some((base, field)) = name.rsplit_once('.') {
                let stream_field = self
                    .policies
                    .read()
                    .map(|x| x.stream_fields().iter().any(|f| f == field))
                    .unwrap_or(false);
                if stream_field {
                    let real = self.registry.resolve(base);
                    if let Some(mut info) = self.registry.get(&real)? {
                        if !info.archive_fields.iter().any(|f| f == field) {
                            info.archive_fields.push(field.to_string());
                            info.modification_time = Some(Mgmt::now());
                            self.registry.put(&info)?;
                            if !info.paused {
                                // The channel monitors the new field from now on.
                                self.engine.stop(&real).await?;
                                self.engine.start(&info).await?;
                            }
                        }
                        out.push(obj([
                            ("pvName", s(&name)),
                            ("status", s("Archive request submitted")),
                        ]));
                        continue;
                    }
                }
            }
            let real = self.registry.resolve(&name);
            if self.registry.contains(&real) || self.registry.request(&real).is_some() {
                out.push(obj([("pvName", s(&name)), ("status", s("Already submitted"))]));
                continue;
            }
            let req = ArchiveRequest {
                pv: name.clone(),
                sampling_period: r.sampling_period,
                sampling_method: r.sampling_method.map(|m| m.to_ascii_uppercase()),
                policy: r.policy,
                controlling_pv: r.controlling_pv,
                use_pva,
                requested_ms: Mgmt::now().timestamp_millis(),
            };
            self.registry.add_request(&req)?;
            self.engine.request(&req).await?;
            tracing::info!(pv = %name, "archive request submitted");
            out.push(obj([
                ("pvName", s(&name)),
                ("status", s("Archive request submitted")),
            ]));
        }
        Ok(out)
    }

    /// Starts the engine's channels of every archived PV that is not
    /// paused, then re-issues the pending archive requests (start-up).
    pub async fn start_engine_channels(&self) {
        let t = std::time::Instant::now();
        let mut names = Vec::new();
        self.registry.for_each_name(|n, r| {
            if !r.paused {
                names.push(n.to_string());
            }
            true
        });
        let mut started = 0usize;
        for name in names {
            match self.registry.get(&name) {
                Ok(Some(info)) => {
                    if let Err(e) = self.engine.start(&info).await {
                        tracing::error!(pv = %name, error = %e, "channel not started");
                    }
                    started += 1;
                    if started % 10_000 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(pv = %name, error = %e, "unreadable registry record"),
            }
        }
        let requests = self.registry.requests();
        for req in &requests {
            if let Err(e) = self.engine.request(req).await {
                tracing::warn!(pv = %req.pv, error = %e, "pending archive request not resumed");
            }
        }
        tracing::info!(
            channels = started,
            pending = requests.len(),
            secs = t.elapsed().as_secs_f64(),
            "engine channels started"
        );
    }

    /// Completes the archive workflow of a requested PV: chooses the policy,
    /// writes the PVTypeInfo and starts the channel.
    pub async fn complete_request(&self, probe: ProbeResult) -> MgmtResult<PvTypeInfo> {
        let Some(req) = self.registry.request(&probe.pv) else {
            return Err(MgmtError::UnknownPv(probe.pv));
        };
        let decision = self
            .policies
            .read()
            .map_err(|_| anyhow::anyhow!("policies lock poisoned"))?
            .decide(&probe.pv, Some(probe.event_rate), req.policy.as_deref())
            .map_err(|e| MgmtError::bad("policy", e.to_string()))?;
        let mut info = PvTypeInfo::new(&probe.pv, probe.dbr_type, probe.element_count);
        info.appliance_identity = self.identity.clone();
        info.chunk_key = Some(self.store.chunk_key(&probe.pv));
        info.host_name = probe.host.clone();
        info.sampling_method = req
            .sampling_method
            .as_deref()
            .and_then(SamplingMethod::parse)
            .unwrap_or(decision.method);
        info.sampling_period = req.sampling_period.unwrap_or(decision.period);
        info.policy_name = Some(decision.policy.clone());
        info.data_stores = self.store_urls(&decision.stores);
        info.archive_fields = decision.archive_fields.clone();
        info.controlling_pv = req.controlling_pv.clone();
        info.use_pv_access = req.use_pva;
        let now = Mgmt::now();
        info.creation_time = Some(now);
        info.modification_time = Some(now);
        info.computed_event_rate = probe.event_rate as f32;
        info.computed_storage_rate = probe.storage_rate as f32;
        info.computed_bytes_per_event = if probe.event_rate > 0.0 {
            (probe.storage_rate / probe.event_rate).round() as i32
        } else {
            0
        };
        info.units = probe.units.clone();
        info.precision = probe.precision;
        for (k, v) in &probe.limits {
            info.limits.insert(k.clone(), *v);
        }
        for (k, v) in &probe.extra_fields {
            info.extra_fields.insert(k.clone(), v.clone());
        }
        self.registry.put(&info)?;
        self.etl.notify(&info.pv_name);
        self.engine.start(&info).await?;
        tracing::info!(pv = %info.pv_name, policy = %decision.policy, dbr = %info.dbr_type, "archiving started");
        Ok(info)
    }

    /// `pauseArchivingPV` for each name.
    pub async fn pause(&self, names: &[String]) -> MgmtResult<Vec<Value>> {
        let mut out = Vec::new();
        for n in names {
            let real = self.real_name(n);
            let Some(mut info) = self.registry.get(&real)? else {
                out.push(obj([
                    ("pvName", s(&real)),
                    ("validation", s(format!("PV {real} is not archived"))),
                ]));
                continue;
            };
            if info.paused {
                out.push(obj([
                    ("pvName", s(&real)),
                    ("validation", s(format!("PV {real} is already paused"))),
                ]));
                continue;
            }
            self.engine.stop(&real).await?;
            info.paused = true;
            info.modification_time = Some(Mgmt::now());
            self.registry.put(&info)?;
            self.etl.notify(&real);
            self.consolidate_on_cancel(&info).await;
            tracing::info!(pv = %real, "paused");
            out.push(obj([("pvName", s(&real)), ("status", s("ok"))]));
        }
        Ok(out)
    }

    /// `resumeArchivingPV` for each name.
    pub async fn resume(&self, names: &[String]) -> MgmtResult<Vec<Value>> {
        let mut out = Vec::new();
        for n in names {
            let real = self.real_name(n);
            let Some(mut info) = self.registry.get(&real)? else {
                out.push(obj([
                    ("pvName", s(&real)),
                    ("validation", s(format!("PV {real} is not archived"))),
                ]));
                continue;
            };
            if !info.paused {
                out.push(obj([
                    ("pvName", s(&real)),
                    ("validation", s(format!("PV {real} is not paused"))),
                ]));
                continue;
            }
            info.paused = false;
            info.modification_time = Some(Mgmt::now());
            self.registry.put(&info)?;
            self.etl.notify(&real);
            self.engine.start(&info).await?;
            tracing::info!(pv = %real, "resumed");
            out.push(obj([("pvName", s(&real)), ("status", s("ok"))]));
        }
        Ok(out)
    }

    /// `deletePV`: refuses unless paused; removes data with `delete_data`.
    pub async fn delete(&self, name: &str, delete_data: bool) -> MgmtResult<Value> {
        let real = self.real_name(name);
        let Some(info) = self.registry.get(&real)? else {
            return Err(MgmtError::UnknownPv(real));
        };
        if !info.paused {
            return Ok(obj([(
                "validation",
                s(format!(
                    "We will not stop archiving PV {real} if it is not paused. Please pause recording first."
                )),
            )]));
        }
        self.engine.stop(&real).await?;
        let mut files = 0;
        self.etl.remove(&real);
        if !delete_data {
            self.consolidate_on_cancel(&info).await;
        }
        if delete_data {
            // Every tier, under the PV's ETL lock (no move half done).
            let (etl, store, pv) = (self.etl.clone(), self.store.clone(), real.clone());
            files = tokio::task::spawn_blocking(move || {
                let lock = etl.etl().pv_lock(&pv);
                let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
                let mut n = 0;
                for t in store.tiers() {
                    n += t.delete_blocking(&pv)?;
                }
                Ok::<u64, crate::storage::StoreError>(n)
            })
            .await
            .map_err(|e| MgmtError::Internal(anyhow::anyhow!("delete task: {e}")))??;
            self.etl.etl().forget(&real);
        }
        self.registry.delete(&real)?;
        self.etl.notify(&real);
        self.etl.stats().forget(&real);
        tracing::info!(pv = %real, delete_data, files, "deleted");
        Ok(obj([("validation", s("")), ("status", s("ok"))]))
    }

    /// `deletePV` for several names: one object per PV (with `pvName`);
    /// unknown PVs are reported, not failing the others.
    pub async fn delete_many(&self, names: &[String], delete_data: bool) -> MgmtResult<Vec<Value>> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let mut v = match self.delete(n, delete_data).await {
                Ok(v) => v,
                Err(e @ MgmtError::UnknownPv(_)) => obj([("validation", s(e.to_string()))]),
                Err(e) => return Err(e),
            };
            if let Value::Object(m) = &mut v {
                m.insert("pvName".into(), s(self.real_name(n)));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// `abortArchivingPV`: drops a pending request.
    pub async fn abort(&self, name: &str) -> MgmtResult<Value> {
        let pv = PvName::new(name);
        if self.registry.remove_request(&pv)? {
            self.engine.abort(&pv).await?;
            return Ok(obj([
                ("status", s("ok")),
                ("desc", s(format!("Aborted request for archiving PV {pv}"))),
            ]));
        }
        Ok(obj([
            ("status", s("no")),
            ("desc", s(format!("No pending request for archiving PV {pv}"))),
        ]))
    }

    /// `renamePV`: moves the data and the record (a real rename, not a copy).
    pub async fn rename(&self, name: &str, new_name: &str) -> MgmtResult<Value> {
        let real = self.real_name(name);
        let new_name = PvName::new(new_name);
        if !valid_pv_name(&new_name) {
            return Err(MgmtError::bad(
                "newname",
                format!("{new_name:?} is not a valid PV name"),
            ));
        }
        let Some(info) = self.registry.get(&real)? else {
            return Err(MgmtError::UnknownPv(real));
        };
        if !info.paused {
            return Ok(obj([(
                "validation",
                s(format!("PV {real} must be paused before it is renamed")),
            )]));
        }
        if self.registry.contains(&new_name)
            || self.registry.alias_target(&new_name).is_some()
            || self.registry.request(&new_name).is_some()
            || self.store.has_data(&new_name)?
        {
            return Err(MgmtError::Conflict(format!("PV {new_name} already exists")));
        }
        self.engine.stop(&real).await?;
        let files = self.store.rename(&real, &new_name).await?;
        let mut moved = info.clone();
        moved.pv_name = new_name.to_string();
        moved.chunk_key = Some(self.store.chunk_key(&new_name));
        moved.modification_time = Some(Mgmt::now());
        moved.extra_fields.remove("NAME");
        self.registry.put(&moved)?;
        let aliases: Vec<String> = self
            .registry
            .aliases()
            .into_iter()
            .filter(|(_, t)| *t == real)
            .map(|(a, _)| a)
            .collect();
        self.registry.delete(&real)?;
        for a in aliases {
            self.registry.add_alias(&a, &new_name)?;
        }
        self.etl.notify(&real);
        self.etl.notify(&new_name);
        self.etl.stats().forget(&real);
        tracing::info!(from = %real, to = %new_name, files, "renamed");
        Ok(obj([
            ("status", s("ok")),
            ("desc", s(format!("Successfully renamed PV {real} to {new_name}"))),
        ]))
    }

    /// `changeArchivalParameters`.
    pub async fn change_parameters(
        &self,
        name: &str,
        period: f32,
        method: Option<&str>,
    ) -> MgmtResult<Value> {
        let mut info = self.typeinfo(name)?;
        if !period.is_finite() || period < MIN_SAMPLING_PERIOD {
            return Err(MgmtError::bad(
                "samplingperiod",
                format!("{period} is below {MIN_SAMPLING_PERIOD} s"),
            ));
        }
        if let Some(m) = method {
            info.sampling_method =
                SamplingMethod::parse(m).ok_or_else(|| MgmtError::bad("samplingmethod", format!("{m:?}")))?;
        }
        info.sampling_period = period;
        info.modification_time = Some(Mgmt::now());
        self.registry.put(&info)?;
        if !info.paused {
            self.engine.stop(&info.pv_name).await?;
            self.engine.start(&info).await?;
        }
        Ok(obj([
            ("status", s("ok")),
            (
                "desc",
                s(format!(
                    "Changed archival parameters of {} to {} every {} s",
                    info.pv_name,
                    info.sampling_method.as_str(),
                    info.sampling_period
                )),
            ),
        ]))
    }

    /// `changeTypeForPV`: converts the stored data of a paused PV to
    /// `newtype` (Java's number and string conversions) and records the
    /// new type.
    pub async fn change_type(&self, name: &str, newtype: &str) -> MgmtResult<Value> {
        let to: crate::types::ArchDbType = newtype
            .parse()
            .map_err(|_| MgmtError::bad("newtype", format!("{newtype:?} is not a DBR type")))?;
        let mut info = self.typeinfo(name)?;
        if !info.paused {
            return Ok(obj([(
                "validation",
                s(format!(
                    "Need to pause PV before changing type for {}",
                    info.pv_name
                )),
            )]));
        }
        match self.store.retype(&info.pv_name, to).await {
            Ok(files) => {
                tracing::info!(pv = %info.pv_name, from = %info.dbr_type, to = %to, files, "type changed")
            }
            Err(crate::storage::StoreError::Encode { reason, .. }) => {
                return Err(MgmtError::bad("newtype", reason));
            }
            Err(e) => return Err(e.into()),
        }
        info.dbr_type = to;
        info.scalar = !to.is_waveform();
        info.modification_time = Some(Mgmt::now());
        self.registry.put(&info)?;
        Ok(obj([("status", s("ok"))]))
    }

    /// `modifyMetaFields`: `add,F1,F2` / `remove,F1` / `clear`; PV must be paused.
    pub fn modify_meta_fields(&self, name: &str, commands: &[String]) -> MgmtResult<Value> {
        let mut info = self.typeinfo(name)?;
        if !info.paused {
            return Ok(obj([(
                "validation",
                s(format!("PV {} must be paused first", info.pv_name)),
            )]));
        }
        for c in commands {
            let mut parts = c.split(',').map(str::trim).filter(|p| !p.is_empty());
            match parts.next() {
                Some("add") => {
                    for f in parts {
                        if !info.archive_fields.iter().any(|x| x == f) {
                            info.archive_fields.push(f.to_string());
                        }
                    }
                }
                Some("remove") => {
                    let rm: Vec<&str> = parts.collect();
                    info.archive_fields.retain(|f| !rm.contains(&f.as_str()));
                }
                Some("clear") => info.archive_fields.clear(),
                _ => {
                    return Err(MgmtError::bad(
                        "command",
                        format!("{c:?}: expected add,…, remove,… or clear"),
                    ))
                }
            }
        }
        info.modification_time = Some(Mgmt::now());
        self.registry.put(&info)?;
        Ok(Value::Object(info.to_json()))
    }

    /// `applyPolicy`: re-evaluates the policies for the named PVs and
    /// updates their sampling, stores and fields (restarting running ones).
    pub async fn apply_policy(&self, names: &[String], policy: Option<&str>) -> MgmtResult<Vec<Value>> {
        let mut out = Vec::new();
        for n in names {
            let mut info = match self.typeinfo(n) {
                Ok(i) => i,
                Err(MgmtError::UnknownPv(pv)) => {
                    out.push(obj([
                        ("pvName", s(&pv)),
                        ("validation", s(format!("PV {pv} is not archived"))),
                    ]));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let rate = f64::from(info.computed_event_rate);
            let d = self
                .policies
                .read()
                .map_err(|_| anyhow::anyhow!("policies lock poisoned"))?
                .decide(&info.pv_name, Some(rate), policy)
                .map_err(|e| MgmtError::bad("policy", e.to_string()))?;
            info.policy_name = Some(d.policy.clone());
            info.sampling_method = d.method;
            info.sampling_period = d.period;
            info.data_stores = self.store_urls(&d.stores);
            for f in d.archive_fields {
                if !info.archive_fields.contains(&f) {
                    info.archive_fields.push(f);
                }
            }
            info.modification_time = Some(Mgmt::now());
            self.registry.put(&info)?;
            self.etl.notify(&info.pv_name);
            if !info.paused {
                self.engine.stop(&info.pv_name).await?;
                self.engine.start(&info).await?;
            }
            out.push(
                json!({"pvName": info.pv_name, "status": "ok", "policyName": d.policy,
                            "samplingMethod": info.sampling_method.as_str(),
                            "samplingPeriod": super::jfloat(info.sampling_period)}),
            );
        }
        Ok(out)
    }
}
