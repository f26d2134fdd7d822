//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared test data folder: `$STRATA_TESTDATA`, else `../shared/testdata`
/// next to the checkout, else the byte-identical copy in `tests/testdata`.
pub fn testdata() -> PathBuf {
    if let Ok(p) = std::env::var("STRATA_TESTDATA") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/testdata");
    if shared.join("java/expected.json").exists() {
        return shared;
    }
    root.join("tests/testdata")
}

/// Parsed `expected.json` of one folder (`java` or `generated`).
pub fn expected(folder: &str) -> serde_json::Value {
    let p = testdata().join(folder).join("expected.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("expected.json parses")
}
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod crash;
pub mod fuzz;
pub mod ioc;
pub mod process;
pub mod pva;
pub mod routes;
pub mod server;
pub mod store;
