//! Prost message types for `EPICSEvent.proto` and their conversion to the
//! header description in [`crate::types`].
//!
//! The sample messages here are the reference encoding; the hot-path sample
//! codec in [`crate::plainpb`] is hand-written and tested against them.

#[allow(missing_docs, clippy::all)]
mod epics_event;

pub use epics_event::*;

use crate::types::{ArchDbType, EventStreamDesc};

impl PayloadInfo {
    /// Header with type, name and year only (what the Java file writer emits).
    pub fn for_file(db_type: ArchDbType, pv_name: &str, year: i32) -> Self {
        PayloadInfo {
            r#type: db_type.as_i32(),
            pvname: pv_name.to_string(),
            year,
            ..Default::default()
        }
    }

    /// The stream description this header announces; `None` for an unknown type.
    pub fn to_desc(&self) -> Option<EventStreamDesc> {
        let db_type = ArchDbType::from_i32(self.r#type)?;
        Some(EventStreamDesc {
            pv_name: self.pvname.clone(),
            db_type,
            year: self.year,
            element_count: self.element_count,
            headers: self
                .headers
                .iter()
                .map(|f| (f.name.clone(), f.val.clone()))
                .collect(),
            source: String::new(),
        })
    }

    /// Header for a PB/HTTP chunk: adds element count and header fields.
    pub fn from_desc(desc: &EventStreamDesc, year: i32) -> Self {
        PayloadInfo {
            r#type: desc.db_type.as_i32(),
            pvname: desc.pv_name.clone(),
            year,
            element_count: desc.element_count,
            headers: desc
                .headers
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| FieldValue {
                    name: k.clone(),
                    val: v.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }
}
