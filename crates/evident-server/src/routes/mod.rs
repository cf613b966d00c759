//! One module per resource. Handlers extract, call one domain or store
//! function, and render.

pub mod catalog;
pub mod checkpoint;
pub mod events;
pub mod export;
pub mod keys;
pub mod log;
pub mod ops;
pub mod tenants;
pub mod viewer_links;
