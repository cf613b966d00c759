//! Tenants and API key scopes: who may act on what.

use serde::{Deserialize, Serialize};

/// What a key may do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Write events.
    Ingest,
    /// Query events.
    Read,
    /// Export events.
    Export,
    /// Manage tenants, keys and catalogs.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Export, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Export => "export",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

/// Longest tenant id.
pub const TENANT_ID_MAX: usize = 64;
/// Longest tenant name and key name.
pub const NAME_MAX: usize = 256;

/// Whether `id` is a tenant slug: 1–64 of `[a-z0-9_-]`.
pub fn is_valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= TENANT_ID_MAX
        && id.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        })
}

/// Whether a display name is acceptable: 1–256 characters, not only whitespace, no control characters.
pub fn is_valid_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= NAME_MAX
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_slugs() {
        for good in ["acme", "acme-001", "a_b", "0", &"a".repeat(64)] {
            assert!(is_valid_tenant_id(good), "{good}");
        }
        for bad in ["", "Acme", "a b", "a.b", "ä", &"a".repeat(65)] {
            assert!(!is_valid_tenant_id(bad), "{bad}");
        }
    }

    #[test]
    fn names_need_visible_text() {
        assert!(is_valid_name("Acme Corp"));
        assert!(!is_valid_name("   "));
        assert!(!is_valid_name("a\nb"));
        assert!(!is_valid_name(&"n".repeat(257)));
    }
}
