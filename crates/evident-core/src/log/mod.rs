//! The verifiable log: each tenant's events, in `seq` order, are the leaves
//! of a Merkle tree hashed as RFC 9162 section 2.1 says.

pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod leaf;
pub mod merkle;
pub mod note;
