//! The verifiable log: each tenant's events, in `seq` order, are the leaves
//! of a Merkle tree hashed as RFC 9162 section 2.1 says.

pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod leaf;
pub mod merkle;
pub mod note;

/// Reads a file of `../shared/testdata/tlog/` (the project's sibling folder).
#[cfg(test)]
pub(crate) fn tlog_vectors(file: &str) -> serde_json::Value {
    // At run time, so that a moved checkout still finds the folder beside it.
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let path = std::path::Path::new(&crate_dir)
        .join("../../../shared/testdata/tlog")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error} (shared/ must sit beside the project)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("test vectors are JSON")
}
