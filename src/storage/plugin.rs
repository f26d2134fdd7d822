//! The seed `StoragePlugin` API over a tier ([`PlainPbStore`]) and over the
//! tier chain ([`TieredStore`]): async adapters that run blocking file and
//! index work on the blocking pool.

use std::time::SystemTime;

use async_trait::async_trait;

use super::blocking;
use super::store::PlainPbStore;
use super::tiered::TieredStore;
use crate::storage::partition::PartitionGranularity;
use crate::storage::{AppendMeta, EventStream, IngestFlushResult, StoragePlugin, StoreSummary};
use crate::types::{ArchDbType, ArchiverSample, Timestamp};

impl PlainPbStore {
    fn summary_for(&self, pv: Option<&str>) -> anyhow::Result<StoreSummary> {
        let inner = &self.inner;
        let mut s = StoreSummary {
            name: inner.name.clone(),
            root_folder: inner.root.clone(),
            granularity: inner.granularity,
            pv_file_count: None,
            pv_size_bytes: None,
            total_size_bytes: None,
            total_files: None,
        };
        match pv {
            Some(pv) => {
                let sum = inner.index.summary(pv, inner.tier)?.unwrap_or_default();
                s.pv_file_count = Some(sum.files);
                s.pv_size_bytes = Some(sum.bytes);
            }
            None => {
                let t = inner.index.totals(inner.tier)?;
                s.total_files = Some(t.files);
                s.total_size_bytes = Some(t.bytes);
            }
        }
        Ok(s)
    }
}

#[async_trait]
impl StoragePlugin for PlainPbStore {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn partition_granularity(&self) -> PartitionGranularity {
        self.inner.granularity
    }

    async fn append_event(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
    ) -> anyhow::Result<()> {
        Ok(self.append(pv, dbr_type, sample, None).await?)
    }

    async fn append_event_with_meta(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
        meta: &AppendMeta,
    ) -> anyhow::Result<()> {
        Ok(self.append(pv, dbr_type, sample, Some(meta)).await?)
    }

    async fn get_data(
        &self,
        pv: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> anyhow::Result<Vec<Box<dyn EventStream>>> {
        let (from, to) = (Timestamp::from(start), Timestamp::from(end));
        let inner = self.inner.clone();
        let pv = pv.to_string();
        let sources = blocking(move || inner.sources(&pv, from, to)).await?;
        Ok(sources
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn EventStream>)
            .collect())
    }

    async fn get_last_known_event(&self, pv: &str) -> anyhow::Result<Option<ArchiverSample>> {
        Ok(self.last_known(pv)?)
    }

    async fn get_last_event_before(
        &self,
        pv: &str,
        target: SystemTime,
    ) -> anyhow::Result<Option<ArchiverSample>> {
        let inner = self.inner.clone();
        let pv = pv.to_string();
        let t = Timestamp::from(target);
        Ok(blocking(move || inner.last_before(&pv, t)).await?)
    }

    async fn delete_pv_data(&self, pv: &str) -> anyhow::Result<u64> {
        let inner = self.inner.clone();
        let pv = pv.to_string();
        Ok(blocking(move || inner.delete(&pv)).await?)
    }

    async fn flush_writes(&self) -> anyhow::Result<()> {
        let me = self.clone();
        blocking(move || me.flush_blocking(false)).await?;
        Ok(())
    }

    async fn flush_ingest_writes(&self) -> anyhow::Result<IngestFlushResult> {
        let me = self.clone();
        let out = blocking(move || me.flush_blocking(true)).await?;
        Ok(IngestFlushResult {
            failed: out.failed,
            deferred: out.deferred,
        })
    }

    fn stores_for_pv(&self, pv: &str) -> anyhow::Result<Vec<StoreSummary>> {
        Ok(vec![self.summary_for(Some(pv))?])
    }

    fn appliance_metrics(&self) -> anyhow::Result<Vec<StoreSummary>> {
        Ok(vec![self.summary_for(None)?])
    }
}

#[async_trait]
impl StoragePlugin for TieredStore {
    fn name(&self) -> &str {
        self.tiers().first().map_or("", |t| t.name())
    }

    fn partition_granularity(&self) -> PartitionGranularity {
        self.tiers()
            .first()
            .map_or(PartitionGranularity::Hour, |t| t.partition_granularity())
    }

    async fn append_event(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
    ) -> anyhow::Result<()> {
        let t = self.tiers().first().ok_or_else(|| anyhow::anyhow!("no tiers"))?;
        Ok(t.append(pv, dbr_type, sample, None).await?)
    }

    async fn append_event_with_meta(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
        meta: &AppendMeta,
    ) -> anyhow::Result<()> {
        let t = self.tiers().first().ok_or_else(|| anyhow::anyhow!("no tiers"))?;
        Ok(t.append(pv, dbr_type, sample, Some(meta)).await?)
    }

    async fn get_data(
        &self,
        pv: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> anyhow::Result<Vec<Box<dyn EventStream>>> {
        let sources = self
            .sources(pv, Timestamp::from(start), Timestamp::from(end))
            .await?;
        Ok(sources
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn EventStream>)
            .collect())
    }

    async fn get_last_known_event(&self, pv: &str) -> anyhow::Result<Option<ArchiverSample>> {
        Ok(self.last_known_blocking(pv)?)
    }

    async fn get_last_event_before(
        &self,
        pv: &str,
        target: SystemTime,
    ) -> anyhow::Result<Option<ArchiverSample>> {
        let me = self.clone();
        let pv = pv.to_string();
        let t = Timestamp::from(target);
        Ok(blocking(move || me.last_before_blocking(&pv, t)).await?)
    }

    async fn delete_pv_data(&self, pv: &str) -> anyhow::Result<u64> {
        let me = self.clone();
        let pv = pv.to_string();
        Ok(blocking(move || {
            let mut n = 0;
            for t in me.tiers().iter() {
                n += t
                    .delete_blocking(&pv)
                    .map_err(|e| super::tiered::tier_error(t, e))?;
            }
            Ok(n)
        })
        .await?)
    }

    async fn flush_writes(&self) -> anyhow::Result<()> {
        let me = self.clone();
        blocking(move || me.flush_all_blocking()).await?;
        Ok(())
    }

    async fn flush_ingest_writes(&self) -> anyhow::Result<IngestFlushResult> {
        match self.tiers().first() {
            Some(t) => t.flush_ingest_writes().await,
            None => Ok(IngestFlushResult::default()),
        }
    }

    fn stores_for_pv(&self, pv: &str) -> anyhow::Result<Vec<StoreSummary>> {
        let mut out = Vec::new();
        for t in self.tiers().iter() {
            out.extend(t.stores_for_pv(pv)?);
        }
        Ok(out)
    }

    fn appliance_metrics(&self) -> anyhow::Result<Vec<StoreSummary>> {
        let mut out = Vec::new();
        for t in self.tiers().iter() {
            out.extend(t.appliance_metrics()?);
        }
        Ok(out)
    }

    async fn rename_pv(&self, from: &str, to: &str) -> anyhow::Result<u64> {
        Ok(self.rename(from, to).await?)
    }
}
