//! Response encodings: Java-style number text, JSON, CSV, PB/HTTP raw.

pub mod java;
