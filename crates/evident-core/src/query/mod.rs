//! The query language (see docs/query-language.md).
