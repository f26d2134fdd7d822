//! Store URLs (PVTypeInfo `dataStores`, plainpb.md §6.1, etl.md) and a PV's
//! store chain resolved against the configured tiers.
//!
//! Parsing is pure text work. A `pb://` store is matched to a configured
//! tier by `name` (case-insensitive): the tier's root and granularity are
//! authoritative, the URL's `rootFolder`/`partitionGranularity` are what
//! Java would use and are kept for export. ETL options (`hold`, `gather`,
//! `consolidateOnShutdown`, `reducedata`, `pp`, `etlIntoStoreIf`,
//! `etlOutofStoreIf`) come from the URL with Java's defaults when absent;
//! `compress=ZSTD` (a strata extension for `pb://`; Java ignores it there)
//! overrides the tier's `compression`. `blackhole://` may end a chain.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::config::{Compression, TierConfig};
use crate::types::PartitionGranularity;

/// A chain or store URL that cannot be used. Every variant names the store
/// (and folder) concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The URL does not parse or lacks a required key.
    #[error("store URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A scheme strata does not implement (`parquet://`, `pbraw://`, …).
    #[error(
        "store URL {url:?}: unsupported store type {scheme:?} (strata implements pb:// and blackhole://)"
    )]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The store name matches no configured tier.
    #[error("store {name}: no tier of that name is configured")]
    UnknownStore {
        /// Store name.
        name: String,
    },
    /// Two stores of the chain are the same folder (Java issue #36: data
    /// would be copied into itself forever).
    #[error("stores {source_store} and {dest_store} of the chain are the same folder {folder}")]
    SameFolder {
        /// The earlier store.
        source_store: String,
        /// The later store.
        dest_store: String,
        /// The folder.
        folder: String,
    },
    /// A store comes after one that is later in the tier order.
    #[error("store {later} comes after {earlier} in the chain but before it in the tier order")]
    OutOfOrder {
        /// The earlier store in the chain.
        earlier: String,
        /// The store that should have come first.
        later: String,
    },
    /// A `blackhole://` store that is not the last one.
    #[error("black hole {name} must be the last store of a chain")]
    BlackholeNotLast {
        /// Store name.
        name: String,
    },
    /// The first store is not the tier that receives ingest.
    #[error("store {name} cannot start a chain: the engine writes into tier {ingest}")]
    NotIngestTier {
        /// Store name.
        name: String,
        /// The ingest tier's name.
        ingest: String,
    },
    /// The first store is compressed (the engine appends plain lines).
    #[error("store {name} receives ingest and cannot be compressed")]
    CompressedIngest {
        /// Store name.
        name: String,
    },
    /// `hold < gather`.
    #[error("store {name}: hold ({hold}) must be >= gather ({gather})")]
    HoldBelowGather {
        /// Store name.
        name: String,
        /// hold
        hold: u32,
        /// gather
        gather: u32,
    },
    /// `reducedata` together with `pp` caches (etl.md §6.1).
    #[error("store {name}: reducedata cannot be combined with pp")]
    ReduceWithCaches {
        /// Store name.
        name: String,
    },
    /// No stores at all.
    #[error("the chain has no stores")]
    Empty,
}

/// ETL options of one store (Java's defaults when absent from the URL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// `hold`: partitions held back.
    pub hold: u32,
    /// `gather`: partitions moved together.
    pub gather: u32,
    /// `consolidateOnShutdown`.
    pub consolidate_on_shutdown: bool,
    /// `reducedata`: post-processor applied to data moved into this store.
    pub reduce_data: Option<String>,
    /// `etlIntoStoreIf`: named flag that must be true to store moved data.
    pub etl_into_store_if: Option<String>,
    /// `etlOutofStoreIf`: named flag that must be true to move data out.
    pub etl_outof_store_if: Option<String>,
    /// `pp` (repeatable): post-processor caches.
    pub pp: Vec<String>,
    /// `compress`: `Some` when the URL says so.
    pub compression: Option<Compression>,
    /// `zstdLevel`.
    pub zstd_level: Option<i32>,
}

/// One parsed `pb://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbUrl {
    /// `name`.
    pub name: String,
    /// `rootFolder` as written (macros unexpanded).
    pub root_folder: String,
    /// `partitionGranularity`.
    pub granularity: PartitionGranularity,
    /// ETL options.
    pub options: StoreOptions,
    /// Keys strata does not interpret (`terminator`, …), in order.
    pub extra: Vec<(String, String)>,
}

/// One parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `pb://localhost?name=…&rootFolder=…&partitionGranularity=…[&…]`
    Pb(PbUrl),
    /// `blackhole://localhost[?name=…]`: discards what it receives.
    Blackhole {
        /// `name` (Java's default `blackhole`).
        name: String,
    },
}

fn url_err(url: &str, reason: impl Into<String>) -> ChainError {
    ChainError::Url {
        url: url.to_string(),
        reason: reason.into(),
    }
}

impl StoreUrl {
    /// Parses a store URL. Query values are form-decoded (`%XX`, `+`) as
    /// Java's `URLEncodedUtils` does; the last of a repeated key wins,
    /// except `pp`, which accumulates.
    pub fn parse(url: &str) -> Result<Self, ChainError> {
        let text = url.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| url_err(url, "expected <scheme>://"))?;
        let query = rest.split_once('?').map_or("", |(_, q)| q);
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| pairs.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match scheme.to_ascii_lowercase().as_str() {
            "blackhole" => Ok(StoreUrl::Blackhole {
                name: get("name").unwrap_or_else(|| "blackhole".into()),
            }),
            "pb" => Self::parse_pb(url, &pairs),
            _ => Err(ChainError::UnsupportedScheme {
                url: url.to_string(),
                scheme: scheme.to_string(),
            }),
        }
    }

    fn parse_pb(url: &str, pairs: &[(String, String)]) -> Result<Self, ChainError> {
        let mut name = None;
        let mut root = None;
        let mut gran = None;
        let mut o = StoreOptions::default();
        let mut extra = Vec::new();
        let count = |k: &str, v: &str| -> Result<u32, ChainError> {
            v.trim()
                .parse()
                .map_err(|_| url_err(url, format!("{k} must be a whole number >= 0, not {v:?}")))
        };
        for (k, v) in pairs {
            match k.as_str() {
                "name" => name = Some(v.clone()),
                "rootFolder" => root = Some(v.clone()),
                "partitionGranularity" => {
                    gran = Some(
                        v.parse()
                            .map_err(|e: crate::types::UnknownGranularity| url_err(url, e.to_string()))?,
                    )
                }
                "hold" => o.hold = count(k, v)?,
                "gather" => o.gather = count(k, v)?,
                // Java `Boolean.parseBoolean`: anything but "true" is false.
                "consolidateOnShutdown" => o.consolidate_on_shutdown = v.trim().eq_ignore_ascii_case("true"),
                "reducedata" => o.reduce_data = Some(v.clone()),
                "etlIntoStoreIf" => o.etl_into_store_if = Some(v.clone()),
                "etlOutofStoreIf" => o.etl_outof_store_if = Some(v.clone()),
                "pp" => o.pp.push(v.clone()),
                "compress" => {
                    o.compression = Some(match v.trim().to_ascii_uppercase().as_str() {
                        "ZSTD" => Compression::Zstd,
                        "UNCOMPRESSED" | "NONE" => Compression::None,
                        other => {
                            return Err(url_err(
                                url,
                                format!("compress={other} is not supported for pb:// (ZSTD or UNCOMPRESSED)"),
                            ))
                        }
                    })
                }
                "zstdLevel" => {
                    let l: i32 = v
                        .trim()
                        .parse()
                        .ok()
                        .filter(|l| (1..=22).contains(l))
                        .ok_or_else(|| url_err(url, format!("zstdLevel must be 1..=22, not {v:?}")))?;
                    o.zstd_level = Some(l);
                }
                _ => extra.push((k.clone(), v.clone())),
            }
        }
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| url_err(url, "name is required"))?;
        let root_folder = root
            .filter(|r| !r.is_empty())
            .ok_or_else(|| url_err(url, "rootFolder is required"))?;
        let granularity = gran.ok_or_else(|| url_err(url, "partitionGranularity is required"))?;
        if o.hold < o.gather {
            return Err(ChainError::HoldBelowGather {
                name,
                hold: o.hold,
                gather: o.gather,
            });
        }
        if o.reduce_data.is_some() && !o.pp.is_empty() {
            return Err(ChainError::ReduceWithCaches { name });
        }
        Ok(StoreUrl::Pb(PbUrl {
            name,
            root_folder,
            granularity,
            options: o,
            extra,
        }))
    }

    /// The store name.
    pub fn name(&self) -> &str {
        match self {
            StoreUrl::Pb(p) => &p.name,
            StoreUrl::Blackhole { name } => name,
        }
    }

    /// The URL strata writes for a configured tier: its name, root and
    /// granularity with the tier's ETL defaults (Java's key order).
    pub fn for_tier(t: &TierConfig) -> Self {
        StoreUrl::Pb(PbUrl {
            name: t.name.clone(),
            root_folder: t.root.display().to_string(),
            granularity: t.granularity,
            options: StoreOptions {
                hold: t.hold,
                gather: t.gather,
                consolidate_on_shutdown: t.consolidate_on_shutdown,
                compression: (t.compression != Compression::None).then_some(t.compression),
                zstd_level: (t.compression == Compression::Zstd && t.zstd_level != 3).then_some(t.zstd_level),
                ..StoreOptions::default()
            },
            extra: Vec::new(),
        })
    }
}

/// Encodes the characters that would break a query value.
fn enc(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '%' | '&' | '=' | '+' | '#' | '?' | ' ' => {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for StoreUrl {
    /// Canonical text: Java's key order, defaults omitted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self {
            StoreUrl::Blackhole { name } => return write!(f, "blackhole://localhost?name={}", enc(name)),
            StoreUrl::Pb(p) => p,
        };
        let o = &p.options;
        write!(
            f,
            "pb://localhost?name={}&rootFolder={}&partitionGranularity={}",
            enc(&p.name),
            enc(&p.root_folder),
            p.granularity.java_name()
        )?;
        if o.hold != 0 {
            write!(f, "&hold={}", o.hold)?;
        }
        if o.gather != 0 {
            write!(f, "&gather={}", o.gather)?;
        }
        if o.consolidate_on_shutdown {
            f.write_str("&consolidateOnShutdown=true")?;
        }
        match o.compression {
            Some(Compression::Zstd) => f.write_str("&compress=ZSTD")?,
            Some(Compression::None) => f.write_str("&compress=UNCOMPRESSED")?,
            None => {}
        }
        if let Some(l) = o.zstd_level {
            write!(f, "&zstdLevel={l}")?;
        }
        for pp in &o.pp {
            write!(f, "&pp={}", enc(pp))?;
        }
        if let Some(r) = &o.reduce_data {
            write!(f, "&reducedata={}", enc(r))?;
        }
        if let Some(x) = &o.etl_into_store_if {
            write!(f, "&etlIntoStoreIf={}", enc(x))?;
        }
        if let Some(x) = &o.etl_outof_store_if {
            write!(f, "&etlOutofStoreIf={}", enc(x))?;
        }
        for (k, v) in &p.extra {
            write!(f, "&{}={}", enc(k), enc(v))?;
        }
        Ok(())
    }
}

/// True if one folder is the other or contains it (compared lexically,
/// after dropping `.` components and trailing separators).
pub fn folders_overlap(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| -> PathBuf { p.components().filter(|c| *c != Component::CurDir).collect() };
    let (a, b) = (norm(a), norm(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// One store of a resolved chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStore {
    /// Store name as the URL gives it.
    pub name: String,
    /// Tier number; `None` for a black hole.
    pub tier: Option<u8>,
    /// ETL options from the URL.
    pub options: StoreOptions,
    /// Form of partitions written into this store (URL, else tier default).
    pub compression: Compression,
    /// zstd level when compressed.
    pub zstd_level: i32,
}

/// A PV's stores in ETL order, resolved against the configured tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The stores; stage *i* moves from `stores[i]` to `stores[i + 1]`.
    pub stores: Vec<ChainStore>,
    /// Differences from the tier configuration that were resolved in the
    /// configuration's favour (e.g. a URL's granularity), for the log.
    pub warnings: Vec<String>,
}

impl Chain {
    /// Resolves `urls` (PVTypeInfo `dataStores`) against `tiers`.
    ///
    /// Rejects: unparseable URLs, unknown stores, a black hole before the
    /// end, two stores in the same (or a nested) folder, stores against the
    /// tier order, a first store other than the ingest tier or compressed.
    pub fn resolve(urls: &[String], tiers: &[TierConfig]) -> Result<Chain, ChainError> {
        let parsed: Vec<StoreUrl> = urls
            .iter()
            .map(|u| StoreUrl::parse(u))
            .collect::<Result<_, _>>()?;
        if parsed.is_empty() {
            return Err(ChainError::Empty);
        }
        let mut stores = Vec::with_capacity(parsed.len());
        let mut warnings = Vec::new();
        for (i, u) in parsed.iter().enumerate() {
            let p = match u {
                StoreUrl::Blackhole { name } => {
                    if i + 1 != parsed.len() || i == 0 {
                        return Err(ChainError::BlackholeNotLast { name: name.clone() });
                    }
                    stores.push(ChainStore {
                        name: name.clone(),
                        tier: None,
                        options: StoreOptions::default(),
                        compression: Compression::None,
                        zstd_level: 3,
                    });
                    continue;
                }
                StoreUrl::Pb(p) => p,
            };
            let (no, tier) = tiers
                .iter()
                .enumerate()
                .find(|(_, t)| t.name.eq_ignore_ascii_case(&p.name))
                .ok_or_else(|| ChainError::UnknownStore { name: p.name.clone() })?;
            if p.granularity != tier.granularity {
                warnings.push(format!(
                    "store {}: URL says {} but the tier is {}; the tier's granularity is used",
                    p.name, p.granularity, tier.granularity
                ));
            }
            let compression = p.options.compression.unwrap_or(tier.compression);
            stores.push(ChainStore {
                name: p.name.clone(),
                tier: Some(no as u8),
                options: p.options.clone(),
                compression,
                zstd_level: p.options.zstd_level.unwrap_or(tier.zstd_level),
            });
        }
        Self::check_folders(&parsed, &stores, tiers)?;
        let first = &stores[0];
        if first.tier != Some(0) {
            return Err(ChainError::NotIngestTier {
                name: first.name.clone(),
                ingest: tiers.first().map(|t| t.name.clone()).unwrap_or_default(),
            });
        }
        if first.compression != Compression::None {
            return Err(ChainError::CompressedIngest {
                name: first.name.clone(),
            });
        }
        Ok(Chain { stores, warnings })
    }

    /// Same-folder and order checks over every pair of `pb://` stores.
    fn check_folders(
        parsed: &[StoreUrl],
        stores: &[ChainStore],
        tiers: &[TierConfig],
    ) -> Result<(), ChainError> {
        let trim = |s: &str| s.trim_end_matches('/').to_string();
        for i in 0..stores.len() {
            for j in i + 1..stores.len() {
                let (Some(a), Some(b)) = (stores[i].tier, stores[j].tier) else {
                    continue;
                };
                let (ta, tb) = (&tiers[a as usize], &tiers[b as usize]);
                let same = |folder: String| ChainError::SameFolder {
                    source_store: stores[i].name.clone(),
                    dest_store: stores[j].name.clone(),
                    folder,
                };
                if a == b || folders_overlap(&ta.root, &tb.root) {
                    return Err(same(ta.root.display().to_string()));
                }
                if let (StoreUrl::Pb(pa), StoreUrl::Pb(pb)) = (&parsed[i], &parsed[j]) {
                    if trim(&pa.root_folder) == trim(&pb.root_folder) {
                        return Err(same(pa.root_folder.clone()));
                    }
                }
                if b < a {
                    return Err(ChainError::OutOfOrder {
                        earlier: stores[i].name.clone(),
                        later: stores[j].name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// True if the chain has at least one ETL stage.
    pub fn has_etl(&self) -> bool {
        self.stores.len() >= 2
    }

    /// Stages as `(index, source, destination)`.
    pub fn stages(&self) -> impl Iterator<Item = (usize, &ChainStore, &ChainStore)> {
        self.stores.windows(2).enumerate().map(|(i, w)| (i, &w[0], &w[1]))
    }

    /// Index of the store named `name` (case-insensitive).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.stores.iter().position(|s| s.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PartitionGranularity::*;

    fn tiers() -> Vec<TierConfig> {
        crate::storage::StorageConfig::under(Path::new("/arch")).tiers
    }

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const STS: &str = "pb://localhost?name=STS&rootFolder=/arch/sts&partitionGranularity=PARTITION_HOUR";
    const MTS: &str =
        "pb://localhost?name=MTS&rootFolder=/arch/mts&partitionGranularity=PARTITION_DAY&hold=2&gather=1";
    const LTS: &str = "pb://localhost?name=LTS&rootFolder=/arch/lts&partitionGranularity=PARTITION_YEAR";

    #[test]
    fn parses_java_urls_with_every_option() {
        let u = StoreUrl::parse(
            "pb://localhost?name=LTS&rootFolder=%2Farch%2Flts&partitionGranularity=PARTITION_YEAR\
             &hold=3&gather=2&consolidateOnShutdown=TRUE&reducedata=firstSample_3600\
             &etlIntoStoreIf=intoLTS&etlOutofStoreIf=outOfLTS&compress=zstd&zstdLevel=9&terminator=%3A",
        )
        .unwrap();
        let StoreUrl::Pb(p) = &u else {
            panic!("pb expected")
        };
        assert_eq!(
            (p.name.as_str(), p.root_folder.as_str(), p.granularity),
            ("LTS", "/arch/lts", Year)
        );
        let o = &p.options;
        assert_eq!((o.hold, o.gather, o.consolidate_on_shutdown), (3, 2, true));
        assert_eq!(o.reduce_data.as_deref(), Some("firstSample_3600"));
        assert_eq!(o.etl_into_store_if.as_deref(), Some("intoLTS"));
        assert_eq!(o.etl_outof_store_if.as_deref(), Some("outOfLTS"));
        assert_eq!((o.compression, o.zstd_level), (Some(Compression::Zstd), Some(9)));
        assert_eq!(p.extra, vec![("terminator".to_string(), ":".to_string())]);
        // Canonical text parses back to the same value.
        assert_eq!(StoreUrl::parse(&u.to_string()).unwrap(), u);
        let pp = StoreUrl::parse(&format!("{STS}&pp=mean_600&pp=firstSample")).unwrap();
        let StoreUrl::Pb(p) = pp else {
            panic!("pb expected")
        };
        assert_eq!(p.options.pp, vec!["mean_600", "firstSample"]);
        assert_eq!(
            StoreUrl::parse("blackhole://localhost").unwrap(),
            StoreUrl::Blackhole {
                name: "blackhole".into()
            }
        );
    }

    #[test]
    fn the_tier_url_is_what_strata_writes() {
        let t = tiers();
        assert_eq!(StoreUrl::for_tier(&t[0]).to_string(), STS);
        assert_eq!(StoreUrl::for_tier(&t[1]).to_string(), MTS);
        let mut lts = t[2].clone();
        lts.compression = Compression::Zstd;
        lts.zstd_level = 9;
        assert_eq!(
            StoreUrl::for_tier(&lts).to_string(),
            format!("{LTS}&compress=ZSTD&zstdLevel=9")
        );
        let odd = TierConfig::new("A&B", PathBuf::from("/x y/%z"), Day);
        assert_eq!(
            StoreUrl::parse(&StoreUrl::for_tier(&odd).to_string()).unwrap(),
            StoreUrl::for_tier(&odd)
        );
    }

    #[test]
    fn bad_urls_name_what_is_wrong() {
        let bad = |u: &str| StoreUrl::parse(u).unwrap_err();
        assert!(
            matches!(bad("pb://localhost?rootFolder=/a&partitionGranularity=PARTITION_DAY"),
            ChainError::Url { reason, .. } if reason.contains("name"))
        );
        assert!(
            matches!(bad("pb://localhost?name=A&partitionGranularity=PARTITION_DAY"),
            ChainError::Url { reason, .. } if reason.contains("rootFolder"))
        );
        assert!(matches!(
            bad("pb://localhost?name=A&rootFolder=/a&partitionGranularity=WEEK"),
            ChainError::Url { .. }
        ));
        assert!(matches!(bad(&format!("{STS}&hold=-1")), ChainError::Url { .. }));
        assert!(matches!(
            bad(&format!("{STS}&hold=1&gather=2")),
            ChainError::HoldBelowGather {
                hold: 1,
                gather: 2,
                ..
            }
        ));
        assert!(matches!(
            bad(&format!("{STS}&reducedata=mean&pp=mean")),
            ChainError::ReduceWithCaches { .. }
        ));
        assert!(matches!(
            bad(&format!("{STS}&compress=SNAPPY")),
            ChainError::Url { .. }
        ));
        assert!(
            matches!(bad("parquet://localhost?name=X"), ChainError::UnsupportedScheme { scheme, .. } if scheme == "parquet")
        );
        assert!(matches!(bad("/arch/sts"), ChainError::Url { .. }));
    }

    #[test]
    fn resolves_the_default_chain_and_retention() {
        let c = Chain::resolve(&urls(&[STS, MTS, LTS]), &tiers()).unwrap();
        assert_eq!(
            c.stores.iter().map(|s| s.tier).collect::<Vec<_>>(),
            vec![Some(0), Some(1), Some(2)]
        );
        assert_eq!(c.stores[1].options.hold, 2);
        assert!(c.warnings.is_empty() && c.has_etl());
        assert_eq!(c.stages().count(), 2);
        let r = Chain::resolve(&urls(&[STS, MTS, "blackhole://localhost?name=gone"]), &tiers()).unwrap();
        assert_eq!(r.stores[2].tier, None);
        assert_eq!(r.position("GONE"), Some(2));
        // A Java URL with another root resolves by name, with no warning;
        // another granularity resolves with one.
        let java = "pb://localhost?name=MTS&rootFolder=/java/mts&partitionGranularity=PARTITION_HOUR";
        let c = Chain::resolve(&urls(&[STS, java]), &tiers()).unwrap();
        assert_eq!(c.warnings.len(), 1);
        // Compression: the URL wins over the tier.
        let mut t = tiers();
        t[2].compression = Compression::Zstd;
        let c = Chain::resolve(&urls(&[STS, LTS]), &t).unwrap();
        assert_eq!(c.stores[1].compression, Compression::Zstd);
        let c = Chain::resolve(&urls(&[STS, &format!("{LTS}&compress=UNCOMPRESSED")]), &t).unwrap();
        assert_eq!(c.stores[1].compression, Compression::None);
    }

    #[test]
    fn same_folder_is_rejected_naming_it() {
        // The same store twice.
        let e = Chain::resolve(&urls(&[STS, MTS, MTS]), &tiers()).unwrap_err();
        assert_eq!(
            e,
            ChainError::SameFolder {
                source_store: "MTS".into(),
                dest_store: "MTS".into(),
                folder: "/arch/mts".into()
            }
        );
        assert!(e.to_string().contains("/arch/mts"), "{e}");
        // Two names, one folder in the URLs (Java issue #36).
        let twin = "pb://localhost?name=LTS&rootFolder=/arch/mts/&partitionGranularity=PARTITION_YEAR";
        let e = Chain::resolve(&urls(&[STS, MTS, twin]), &tiers()).unwrap_err();
        assert!(
            matches!(&e, ChainError::SameFolder { folder, .. } if folder == "/arch/mts"),
            "{e}"
        );
        // Two tiers configured on nested folders.
        let mut t = tiers();
        t[2].root = PathBuf::from("/arch/mts/old");
        let e = Chain::resolve(&urls(&[STS, MTS, LTS]), &t).unwrap_err();
        assert!(matches!(e, ChainError::SameFolder { .. }));
    }

    #[test]
    fn other_bad_chains() {
        let t = tiers();
        assert_eq!(Chain::resolve(&[], &t).unwrap_err(), ChainError::Empty);
        assert!(matches!(
            Chain::resolve(&urls(&[STS, "blackhole://localhost", LTS]), &t).unwrap_err(),
            ChainError::BlackholeNotLast { .. }
        ));
        assert!(matches!(
            Chain::resolve(&urls(&[STS, LTS, MTS]), &t).unwrap_err(),
            ChainError::OutOfOrder { earlier, later } if earlier == "LTS" && later == "MTS"
        ));
        assert!(matches!(
            Chain::resolve(&urls(&[MTS, LTS]), &t).unwrap_err(),
            ChainError::NotIngestTier { name, ingest } if name == "MTS" && ingest == "STS"
        ));
        assert!(matches!(
            Chain::resolve(&urls(&[&format!("{STS}&compress=ZSTD")]), &t).unwrap_err(),
            ChainError::CompressedIngest { .. }
        ));
        let xts = "pb://localhost?name=XTS&rootFolder=/x&partitionGranularity=PARTITION_DAY";
        assert!(matches!(
            Chain::resolve(&urls(&[STS, xts]), &t).unwrap_err(),
            ChainError::UnknownStore { name } if name == "XTS"
        ));
        // A single store is a valid chain without ETL.
        assert!(!Chain::resolve(&urls(&[STS]), &t).unwrap().has_etl());
    }

    #[test]
    fn folder_overlap_is_lexical() {
        assert!(folders_overlap(Path::new("./data/sts"), Path::new("data/sts/")));
        assert!(folders_overlap(Path::new("/a"), Path::new("/a/b")));
        assert!(!folders_overlap(Path::new("/a/sts"), Path::new("/a/st")));
        assert!(!folders_overlap(Path::new("/a/sts"), Path::new("/a/mts")));
    }
}
