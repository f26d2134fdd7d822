//! # strata
//!
//! A single-node EPICS archiver that reads and writes the PlainPB files of the
//! EPICS Archiver Appliance and serves its retrieval and management HTTP APIs.
//!
//! Modules, each using only those listed before it (checked by
//! `tests/layout_modules.rs`): [`types`], [`pb`], [`plainpb`], [`index`],
//! [`storage`], [`registry`], [`rebuild`], [`engine`], [`retrieval`],
//! [`mgmt`], `cluster` (cargo feature `cluster`), [`api`]; above them [`config`] (one section per module) and
//! [`app`] (opens everything from a `Config`).

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod app;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod config;
pub mod engine;
pub mod etl;
pub mod index;
pub mod mgmt;
pub mod pb;
pub mod plainpb;
pub mod rebuild;
pub mod registry;
pub mod retrieval;
pub mod storage;
pub mod types;

/// Version string reported by `getVersion` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
