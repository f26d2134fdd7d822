//! ETL: moving data along each PV's store chain (STS → MTS → LTS, or into a
//! black hole for retention), crash-safe, on Java's schedule.
//!
//! [`plan`] decides, as pure functions of the chain, the partition index
//! records and a time, which partitions move, when and how; [`run`] carries
//! plans out step by step (intent, append, sync, record, delete, clear),
//! many PVs per wave; [`service`] plans and runs stages under the PVs' ETL
//! locks; [`schedule`] decides when, on Java's run times, from index
//! look-ups; [`stats`] counts what the stages did; [`consolidate`] runs the
//! `consolidateOnShutdown` stages on pause, delete and shutdown;
//! [`change`] moves a store's data into another store (`changeStore`). See
//! `docs/etl-design.md`. Knows storage, the index and the registry; knows
//! nothing of retrieval or HTTP (a `reducedata` post-processor is handed in).

pub mod change;
pub mod config;
pub mod consolidate;
mod dest;
pub mod plan;
pub mod run;
pub mod schedule;
pub mod service;
pub mod stats;

pub use config::EtlConfig;
pub use run::{
    statvfs_free, EtlError, EtlStop, Executor, Failed, FreeSpace, Reducer, StageOutcome, StageTarget, Step,
    SyncMode, WaveItem, WaveOptions,
};
pub use schedule::{system_clock, Clock, Scheduler, TickReport};
pub use service::{Etl, Skipped, StageJob, StageRun, WaveLimits};
pub use stats::EtlStats;
