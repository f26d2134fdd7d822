//! ETL: moving data along each PV's store chain (STS → MTS → LTS, or into a
//! black hole for retention), crash-safe, on Java's schedule.
//!
//! [`plan`] decides, as pure functions of the chain, the partition index
//! records and a time, which partitions move, when and how. The executor
//! (copy, sync, record, delete) and the scheduler come on top of it; see
//! `docs/etl-design.md`. Knows storage, the index and the registry; knows
//! nothing of retrieval or HTTP (a `reducedata` post-processor is handed in).

pub mod plan;
