//! Plain value types shared by every layer: DBR/payload types, sample values,
//! timestamps, partition granularities, stream descriptions, PV names and
//! Java's number text.
//!
//! Pure data: no I/O, no protobuf, no storage knowledge.

mod dbr;
mod granularity;
pub mod java;
mod name;
mod sample;
mod time;

pub use dbr::{ArchDbType, UnknownDbrType};
pub use granularity::{PartitionGranularity, UnknownGranularity};
pub use name::PvName;
pub use sample::{ArchiverSample, EventStreamDesc, SampleExtra, SampleValue};
pub use time::{
    civil_from_days, days_from_civil, epoch_secs_to_system_time, year_of, year_start, Timestamp,
    EPICS_EPOCH_OFFSET,
};
