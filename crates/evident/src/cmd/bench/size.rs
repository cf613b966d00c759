//! Where a store's bytes go: each table and index (SQLite's `dbstat`,
//! PostgreSQL's relation sizes) and each other file, largest first.

use std::path::Path;

use serde::Serialize;

use crate::store::Location;

/// One table, index or file of the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoredPart {
    /// `events.db: events_time`, `search.db: search_data`, `journal/…`, or a relation's name.
    pub name: String,
    pub bytes: u64,
}

/// Every part of a settled store (after the server stopped, or a VACUUM).
pub fn stored_parts(location: &Location) -> anyhow::Result<Vec<StoredPart>> {
    let mut parts = match location {
        Location::Dir(dir) => directory_parts(dir, dir)?,
        Location::Postgres(url) => relation_parts(url)?,
    };
    parts.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    Ok(parts)
}

/// Each SQLite file's tables and indexes by `dbstat` (its pages, free ones
/// as `(free pages)`), and every other file by its length.
fn directory_parts(root: &Path, dir: &Path) -> anyhow::Result<Vec<StoredPart>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let metadata = entry.metadata()?;
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if metadata.is_dir() {
            parts.extend(directory_parts(root, &path)?);
        } else if name.ends_with(".db") && metadata.len() > 0 {
            parts.extend(sqlite_parts(&path, &name, metadata.len())?);
        } else {
            parts.push(StoredPart {
                name,
                bytes: metadata.len(),
            });
        }
    }
    Ok(parts)
}

fn sqlite_parts(path: &Path, file: &str, length: u64) -> anyhow::Result<Vec<StoredPart>> {
    let connection = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = connection.prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")?;
    let mut parts = statement
        .query_map([], |row| {
            Ok(StoredPart {
                name: format!("{file}: {}", row.get::<_, String>(0)?),
                bytes: row.get::<_, i64>(1)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // The file's pages that no table or index holds (its header page is
    // counted with sqlite_schema).
    let used: u64 = parts.iter().map(|part| part.bytes).sum();
    if length > used {
        parts.push(StoredPart {
            name: format!("{file}: (free pages)"),
            bytes: length - used,
        });
    }
    Ok(parts)
}

/// Each table (with its TOAST) and each index of the store's schema: together
/// what `Store::stats` counts.
fn relation_parts(url: &str) -> anyhow::Result<Vec<StoredPart>> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let rows = client.query(
        "SELECT c.relname::text,
                (CASE c.relkind WHEN 'r' THEN pg_table_size(c.oid) ELSE pg_total_relation_size(c.oid) END)::bigint
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')",
        &[],
    )?;
    rows.iter()
        .map(|row| {
            Ok(StoredPart {
                name: row.try_get(0)?,
                bytes: row.try_get::<_, i64>(1)? as u64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directorys_parts_add_up_to_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = rusqlite::Connection::open(dir.path().join("events.db")).unwrap();
        db.execute_batch(
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT);
             CREATE INDEX t_b ON t (b);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT i, printf('%010d', i), printf('%0300d', i) FROM n;",
        )
        .unwrap();
        drop(db);
        std::fs::create_dir(dir.path().join("journal")).unwrap();
        std::fs::write(dir.path().join("journal").join("0001"), [0u8; 1234]).unwrap();

        let parts = stored_parts(&Location::Dir(dir.path().to_owned())).unwrap();
        let total: u64 = parts.iter().map(|part| part.bytes).sum();
        assert_eq!(
            total,
            super::super::server::directory_bytes(dir.path()).unwrap()
        );
        let names: Vec<&str> = parts.iter().map(|part| part.name.as_str()).collect();
        assert!(names.contains(&"events.db: t"), "{names:?}");
        assert!(names.contains(&"events.db: t_b"), "{names:?}");
        assert!(names.contains(&"journal/0001"), "{names:?}");
        // Largest first: the table's rows (b and c) hold more than its index (b).
        assert!(parts.windows(2).all(|pair| pair[0].bytes >= pair[1].bytes));
        let size = |name: &str| parts.iter().find(|part| part.name == name).unwrap().bytes;
        assert!(size("events.db: t") > size("events.db: t_b"));
        assert_eq!(size("journal/0001"), 1234);
    }
}
