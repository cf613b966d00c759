//! One module per command.

pub mod bench;
pub mod catalog;
pub mod checkpoint;
pub mod demo;
pub mod export;
pub mod ingest;
pub mod keys;
pub mod migrate;
pub mod query;
pub mod serve;
pub mod store;
pub mod tenants;
pub mod verify;
