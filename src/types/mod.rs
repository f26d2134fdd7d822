//! Plain value types shared by every layer: DBR/payload types, sample values,
//! timestamps, partition granularities and stream descriptions.
//!
//! Pure data: no I/O, no protobuf, no storage knowledge.

mod dbr;
mod granularity;
mod sample;
mod time;

pub use dbr::{ArchDbType, UnknownDbrType};
pub use granularity::{PartitionGranularity, UnknownGranularity};
pub use sample::{ArchiverSample, EventStreamDesc, SampleExtra, SampleValue};
pub use time::{
    civil_from_days, days_from_civil, epoch_secs_to_system_time, year_of, year_start, Timestamp,
    EPICS_EPOCH_OFFSET,
};
