//! Lookups: name matching, status, PVTypeInfo get/put, stores, archived
//! lists, details, aliases, metadata.

use regex::Regex;
use serde_json::{Map, Value};

use super::policy::glob_regex;
use super::{jfloat, obj, s, status_time, Mgmt, MgmtError, MgmtResult};
use crate::registry::PvTypeInfo;
use crate::types::PvName;

/// A name filter: comma-separated globs or a full-match regex.
pub enum NameFilter {
    /// Globs with their literal prefixes (for range scans).
    Globs(Vec<(String, Regex)>),
    /// A regex (full match).
    Regex(Regex),
    /// Everything.
    All,
}

/// Builds a filter from `pv` (comma globs) and `regex` parameters.
pub fn glob_or_regex(pv: Option<&str>, regex: Option<&str>) -> MgmtResult<NameFilter> {
    if let Some(r) = regex.filter(|r| !r.is_empty()) {
        let re = Regex::new(&format!("^(?:{r})$")).map_err(|e| MgmtError::bad("regex", e.to_string()))?;
        return Ok(NameFilter::Regex(re));
    }
    match pv.filter(|p| !p.trim().is_empty()) {
        None => Ok(NameFilter::All),
        Some(p) => {
            let mut globs = Vec::new();
            for g in p.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                let prefix: String = g.chars().take_while(|c| *c != '*' && *c != '?').collect();
                let re = glob_regex(g).map_err(|e| MgmtError::bad("pv", e.to_string()))?;
                globs.push((prefix, re));
            }
            Ok(NameFilter::Globs(globs))
        }
    }
}

impl Mgmt {
    /// Names of PVs then aliases matching `filter`, at most `limit`
    /// (`None`: no limit); sorted within each group.
    pub fn matching(&self, filter: &NameFilter, limit: Option<usize>, with_aliases: bool) -> Vec<String> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        match filter {
            NameFilter::All => self.registry.for_each_name(|n, _| {
                out.push(n.to_string());
                out.len() < limit
            }),
            NameFilter::Regex(re) => self.registry.for_each_name(|n, _| {
                if re.is_match(n) {
                    out.push(n.to_string());
                }
                out.len() < limit
            }),
            NameFilter::Globs(globs) => {
                for (prefix, re) in globs {
                    self.registry.for_each_with_prefix(prefix, |n, _| {
                        if re.is_match(n) {
                            out.push(n.to_string());
                        }
                        out.len() < limit
                    });
                }
                if globs.len() > 1 {
                    out.sort();
                    out.dedup();
                }
            }
        }
        out.truncate(limit);
        if with_aliases && out.len() < limit {
            let mut aliases: Vec<String> = self
                .registry
                .aliases()
                .into_iter()
                .map(|(a, _)| a)
                .filter(|a| match filter {
                    NameFilter::All => true,
                    NameFilter::Regex(re) => re.is_match(a),
                    NameFilter::Globs(g) => g.iter().any(|(_, re)| re.is_match(a)),
                })
                .collect();
            aliases.truncate(limit - out.len());
            out.extend(aliases);
        }
        out
    }

    /// Names with every glob (`*`, `?`) replaced by the PV names it
    /// matches; plain names are kept as given.
    pub fn expand(&self, names: &[String]) -> MgmtResult<Vec<String>> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if n.contains('*') || n.contains('?') {
                out.extend(self.matching(&glob_or_regex(Some(n), None)?, None, false));
            } else {
                out.push(n.clone());
            }
        }
        Ok(out)
    }

    /// Status object of one requested name (getPVStatus).
    pub fn pv_status(&self, requested: &str) -> Value {
        let real = self.real_name(requested);
        if let Some(rec) = self.registry.name_record(&real) {
            if rec.paused {
                return obj([
                    ("pvName", s(requested)),
                    ("pvNameOnly", s(&real)),
                    ("appliance", s(&self.identity)),
                    ("status", s("Paused")),
                ]);
            }
            match self.engine.status(&real) {
                Some(ch) => {
                    let info = self.registry.get(&real).ok().flatten();
                    let (method, period) = info
                        .as_ref()
                        .map(|i| (i.sampling_method, i.sampling_period))
                        .unwrap_or_default();
                    // Only samples on disk count: the engine's acknowledged
                    // time, or what the index records (never ahead of files).
                    let last_event = self
                        .store
                        .indexed_last(&real)
                        .map_or(0, |t| t.secs)
                        .max(ch.last_event);
                    return obj([
                        ("pvName", s(requested)),
                        ("pvNameOnly", s(&real)),
                        ("appliance", s(&self.identity)),
                        ("status", s("Being archived")),
                        (
                            "isMonitored",
                            s(method == crate::registry::SamplingMethod::Monitor),
                        ),
                        ("samplingPeriod", s(jfloat(period))),
                        ("connectionState", s(ch.connected)),
                        ("lastEvent", s(status_time(last_event))),
                        ("lastRotateLogs", s("Never")),
                        ("connectionFirstEstablished", s(status_time(ch.first_connected))),
                        ("connectionLastRestablished", s(status_time(ch.last_reconnected))),
                        ("connectionLossRegainCount", s(ch.loss_count)),
                    ]);
                }
                None => {
                    return obj([
                        ("pvName", s(requested)),
                        ("pvNameOnly", s(&real)),
                        ("appliance", s(&self.identity)),
                        ("status", s("Appliance assigned")),
                    ]);
                }
            }
        }
        if self.registry.request(&real).is_some() {
            return obj([("pvName", s(requested)), ("status", s("Initial sampling"))]);
        }
        obj([("pvName", s(requested)), ("status", s("Not being archived"))])
    }

    /// getPVStatus over names and globs: always an array; names that match
    /// nothing are reported as not archived.
    pub fn pv_statuses(&self, names: &[String]) -> Vec<Value> {
        let mut out = Vec::new();
        for n in names {
            if n.contains('*') || n.contains('?') {
                if let Ok(f) = glob_or_regex(Some(n), None) {
                    let hits = self.matching(&f, None, true);
                    if hits.is_empty() {
                        out.push(self.pv_status(n));
                    }
                    out.extend(hits.iter().map(|h| self.pv_status(h)));
                    continue;
                }
            }
            out.push(self.pv_status(n));
        }
        out
    }

    /// putPVTypeInfo.
    pub fn put_typeinfo(
        &self,
        name: &str,
        body: &Value,
        override_: bool,
        create_new: bool,
    ) -> MgmtResult<Value> {
        let mut info = PvTypeInfo::from_json(body).map_err(|e| MgmtError::bad("body", e.to_string()))?;
        let pv = PvName::new(name);
        if info.pv_name != pv.as_str() {
            return Err(MgmtError::bad(
                "pv",
                format!(
                    "pv parameter {pv} differs from pvName {} in the body",
                    info.pv_name
                ),
            ));
        }
        let exists = self.registry.contains(&pv);
        if exists && !override_ {
            return Err(MgmtError::bad(
                "override",
                format!("PV {pv} exists; pass override=true to replace it"),
            ));
        }
        if !exists && !create_new {
            return Err(MgmtError::bad(
                "createnew",
                format!("PV {pv} does not exist; pass createnew=true"),
            ));
        }
        if self.registry.alias_target(&pv).is_some() {
            return Err(MgmtError::bad("pv", format!("{pv} is an alias")));
        }
        if !exists {
            info.appliance_identity = self.identity.clone();
            info.paused = true;
            if info.creation_time.is_none() {
                info.creation_time = Some(Mgmt::now());
            }
        }
        info.modification_time = Some(Mgmt::now());
        if let Some(k) = &info.chunk_key {
            self.store.set_chunk_key(&pv, k);
        }
        self.registry.put(&info)?;
        self.etl.notify(&pv);
        Ok(Value::Object(info.to_json()))
    }

    /// getStoresForPV: store name → URL (Java), or with `counts` store name
    /// → `{url, files, bytes, samples}` of this PV in that store.
    pub fn stores_for(&self, name: &str, counts: bool) -> MgmtResult<Value> {
        let info = self.typeinfo(name)?;
        let mut m = Map::new();
        let urls = if info.data_stores.is_empty() {
            self.store.tiers().iter().map(|t| t.url()).collect()
        } else {
            info.data_stores.clone()
        };
        for url in urls {
            let name = url
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("name="))
                .unwrap_or("")
                .to_string();
            if !counts {
                m.insert(name, Value::String(url));
                continue;
            }
            let sum = match self.store.tier_by_name(&name) {
                Some(t) => t.summary(&info.pv_name)?,
                None => None,
            };
            let (files, bytes, samples) = sum.map_or((0, 0, 0), |x| (x.files, x.bytes, x.samples));
            m.insert(
                name,
                obj([
                    ("url", s(url)),
                    ("files", s(files)),
                    ("bytes", s(bytes)),
                    ("samples", s(samples)),
                ]),
            );
        }
        Ok(Value::Object(m))
    }

    /// Names from `names` that are archived (aliases resolved; `PV.FIELD`
    /// counts when FIELD is archived with PV).
    pub fn archived_of(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter(|n| {
                let real = self.real_name(n);
                if self.registry.contains(&real) {
                    return true;
                }
                if let Some((base, field)) = real.rsplit_once('.') {
                    if let Ok(Some(info)) = self.registry.get(&self.registry.resolve(base)) {
                        return info.archive_fields.iter().any(|f| f == field);
                    }
                }
                false
            })
            .cloned()
            .collect()
    }

    /// getPVDetails: `{name, value, source}` rows.
    pub fn pv_details(&self, name: &str) -> MgmtResult<Vec<Value>> {
        let info = self.typeinfo(name)?;
        let real = info.pv_name.clone();
        let row = |n: &str, v: String, src: &str| obj([("name", s(n)), ("value", s(v)), ("source", s(src))]);
        let mut rows = vec![
            row("PV Name", real.clone(), "mgmt"),
            row("Instance archiving PV", self.identity.clone(), "mgmt"),
            row(
                "Archiver DBR type (from typeinfo):",
                info.dbr_type.java_name().into(),
                "mgmt",
            ),
            row("Is this a scalar:", info.scalar.to_string(), "mgmt"),
            row("Number of elements:", info.element_count.to_string(), "mgmt"),
            row(
                "Precision:",
                info.precision.map(|p| p.to_string()).unwrap_or_default(),
                "mgmt",
            ),
            row("Units:", info.units.clone().unwrap_or_default(), "mgmt"),
            row("Is this PV paused:", info.paused.to_string(), "mgmt"),
            row("Sampling method:", info.sampling_method.as_str().into(), "mgmt"),
            row("Sampling period:", jfloat(info.sampling_period), "mgmt"),
            row("Policy:", info.policy_name.clone().unwrap_or_default(), "mgmt"),
            row(
                "Creation time:",
                info.creation_time
                    .map(crate::registry::typeinfo::iso)
                    .unwrap_or_default(),
                "mgmt",
            ),
            row(
                "Modification time:",
                info.modification_time
                    .map(crate::registry::typeinfo::iso)
                    .unwrap_or_default(),
                "mgmt",
            ),
        ];
        if let Some(ch) = self.engine.status(&real) {
            rows.push(row(
                "Is engine currently archiving this PV?",
                "yes".into(),
                "engine",
            ));
            rows.push(row("Connected:", ch.connected.to_string(), "engine"));
            rows.push(row(
                "Event rate (events/s):",
                format!("{:.3}", ch.event_rate),
                "engine",
            ));
            rows.push(row(
                "Storage rate (bytes/s):",
                format!("{:.1}", ch.storage_rate),
                "engine",
            ));
            rows.push(row(
                "Connection loss/regain count:",
                ch.loss_count.to_string(),
                "engine",
            ));
            rows.push(row(
                "Dropped events (buffer overflow):",
                ch.dropped_buffer.to_string(),
                "engine",
            ));
            rows.push(row(
                "Dropped events (timestamp):",
                ch.dropped_timestamp.to_string(),
                "engine",
            ));
            rows.push(row(
                "Dropped events (type change):",
                ch.dropped_type_change.to_string(),
                "engine",
            ));
            if let Some(t) = ch.served_type {
                rows.push(row("Type served now:", t.java_name().into(), "engine"));
            }
            if let Some(c) = &info.controlling_pv {
                rows.push(row("Controlling PV:", c.clone(), "engine"));
                rows.push(row(
                    "Archiving switched off by the controlling PV:",
                    ch.controlled_off.to_string(),
                    "engine",
                ));
            }
            rows.push(row(
                "Protocol:",
                if info.use_pv_access {
                    "pvAccess"
                } else {
                    "Channel Access"
                }
                .into(),
                "engine",
            ));
        }
        for t in self.store.tiers() {
            if let Ok(Some(sum)) = t.summary(&real) {
                rows.push(row(
                    &format!("{} files:", crate::storage::StoragePlugin::name(t)),
                    sum.files.to_string(),
                    "etl",
                ));
                rows.push(row(
                    &format!("{} bytes:", crate::storage::StoragePlugin::name(t)),
                    sum.bytes.to_string(),
                    "etl",
                ));
                rows.push(row(
                    &format!("{} samples:", crate::storage::StoragePlugin::name(t)),
                    sum.samples.to_string(),
                    "etl",
                ));
            }
        }
        rows.extend(self.etl_rows(&info).into_iter().map(|(n, v)| row(&n, v, "ETL")));
        if let Ok(Some(e)) = self.store.last_known_blocking(&real) {
            rows.push(row(
                "Last event:",
                crate::retrieval::time::format_instant(e.ts()),
                "retrieval",
            ));
        }
        Ok(rows)
    }

    /// getMetadata (retrieval BPL): the PVTypeInfo strings merged with
    /// Java's MetaInfo dictionary (limits, PREC, EGU, EAA_COUNT, enum labels
    /// as ENUM_n), the engine's current values taking precedence.
    pub fn metadata(&self, name: &str) -> MgmtResult<Value> {
        let info = self.typeinfo(name)?;
        let mut m = info.to_json();
        let engine = self.engine.metadata(&info.pv_name);
        for (k, v) in crate::registry::metainfo::meta_info(&info, &engine) {
            m.insert(k, Value::String(v));
        }
        Ok(Value::Object(m))
    }

    /// getAllAliases rows.
    pub fn all_aliases(&self) -> Vec<Value> {
        self.registry
            .aliases()
            .into_iter()
            .map(|(a, p)| obj([("aliasName", s(a)), ("srcPVName", s(p))]))
            .collect()
    }

    /// addAlias.
    pub fn add_alias(&self, pv: &str, alias: &str) -> MgmtResult<Value> {
        let real = self.real_name(pv);
        if !self.registry.contains(&real) {
            return Err(MgmtError::UnknownPv(real));
        }
        let alias = PvName::new(alias);
        if !super::lifecycle::valid_pv_name(&alias) {
            return Err(MgmtError::bad(
                "aliasname",
                format!("{alias:?} is not a valid name"),
            ));
        }
        if let Some(other) = self.registry.alias_target(&alias).filter(|t| *t != real) {
            return Err(MgmtError::Conflict(format!(
                "{alias} is already an alias of {other}"
            )));
        }
        self.registry.add_alias(&alias, &real)?;
        Ok(obj([
            ("status", s("ok")),
            ("desc", s(format!("Added an alias {alias} for PV {real}"))),
        ]))
    }

    /// removeAlias.
    pub fn remove_alias(&self, pv: &str, alias: &str) -> MgmtResult<Value> {
        let real = self.real_name(pv);
        if !self.registry.remove_alias(alias, &real)? {
            return Err(MgmtError::bad(
                "aliasname",
                format!("{alias} is not an alias of {real}"),
            ));
        }
        Ok(obj([
            ("status", s("ok")),
            ("desc", s(format!("Removed an alias {alias} for PV {real}"))),
        ]))
    }
}
