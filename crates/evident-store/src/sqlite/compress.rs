//! SQLite's side of compressed documents ([`crate::compress`]): the applier
//! stores a young store's first documents as JSON text while it samples
//! them, and keeps each dictionary in `doc_dictionaries` in the transaction
//! whose documents first use it. A document is stored as text or as a blob
//! (its dictionary's number, then its frame); [`Dictionaries::text`] reads
//! either.

use std::path::Path;
use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::Result;
pub(crate) use crate::compress::Dictionaries;
pub(super) use crate::compress::PackedDocs;
use crate::compress::{Packing, Sampler, Trained, dictionary_id};

/// The dictionaries of the store at `path`: one trained after this process
/// loaded the others is read from the database when a document first names it.
pub(crate) fn dictionaries(path: &Path) -> Arc<Dictionaries> {
    let path = path.to_owned();
    Dictionaries::new(Box::new(move |id| {
        let connection = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(connection
            .query_row(
                "SELECT dictionary FROM doc_dictionaries WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()?)
    }))
}

/// Loads every dictionary `connection` sees into `dictionaries`.
pub(crate) fn load(dictionaries: &Dictionaries, connection: &Connection) -> Result<()> {
    let mut statement = connection.prepare("SELECT id, dictionary FROM doc_dictionaries")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        dictionaries.insert(
            dictionary_id(id)?,
            row.get_ref(1)?
                .as_blob()
                .map_err(crate::compress::corrupt)?,
        )?;
    }
    Ok(())
}

/// The applier's side: compresses each document with the store's latest
/// dictionary, and trains the next one when the store has grown enough.
pub(super) struct DocPacker {
    dictionaries: Arc<Dictionaries>,
    latest: Option<Packing>,
    sampler: Sampler,
    /// The blob of the document packed last.
    packed: Vec<u8>,
}

impl DocPacker {
    /// The packer of the store `connection` writes: its latest dictionary,
    /// and when to train the next.
    pub(super) fn open(connection: &Connection, dictionaries: Arc<Dictionaries>) -> Result<Self> {
        let events: i64 = connection.query_row(
            "SELECT coalesce(sum(next_seq), 0) FROM tenants",
            [],
            |row| row.get(0),
        )?;
        let latest: Option<(i64, Vec<u8>, i64)> = connection
            .query_row(
                "SELECT id, dictionary, events FROM doc_dictionaries ORDER BY id DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let (latest, sampler) = match latest {
            Some((id, bytes, trained_at)) => {
                let id = dictionary_id(id)?;
                (
                    Some(Packing::new(Trained::new(id, &bytes)?)?),
                    Sampler::new(events as u64, Some((id, trained_at.max(0) as u64))),
                )
            }
            None => (None, Sampler::new(events as u64, None)),
        };
        Ok(DocPacker {
            dictionaries,
            latest,
            sampler,
            packed: Vec::new(),
        })
    }

    /// The value to store for the next event's document: its compressed
    /// frame, or its text while the store has no dictionary (or when the
    /// frame is no smaller).
    pub(super) fn pack<'d>(&'d mut self, doc: &'d str) -> Result<ToSqlOutput<'d>> {
        self.sampler.note(doc);
        let text = ToSqlOutput::Borrowed(ValueRef::Text(doc.as_bytes()));
        let Some(packing) = &mut self.latest else {
            return Ok(text);
        };
        if !packing.pack(doc, &mut self.packed)? {
            return Ok(text);
        }
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(&self.packed)))
    }

    /// Packs a transaction's documents in their order, as [`DocPacker::pack`]
    /// packs each (the applier then writes the rows with them).
    pub(super) fn pack_all<'d>(
        &mut self,
        docs: impl IntoIterator<Item = &'d str>,
    ) -> Result<PackedDocs> {
        let mut packed = PackedDocs::default();
        for doc in docs {
            match self.pack(doc)? {
                ToSqlOutput::Borrowed(ValueRef::Blob(blob)) => packed.push(Some(blob)),
                _ => packed.push(None),
            }
        }
        Ok(packed)
    }

    /// Trains the next dictionary if the store has grown to it (in the
    /// transaction `connection` has open, whose documents are all packed);
    /// later documents are compressed with it.
    pub(super) fn train_if_due(&mut self, connection: &Connection, now_micros: i64) -> Result<()> {
        let Some((id, bytes, events)) = self.sampler.train() else {
            return Ok(());
        };
        let packing = Packing::new(Trained::new(id, &bytes)?)?;
        connection
            .prepare_cached(
                "INSERT INTO doc_dictionaries (id, dictionary, events, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, bytes, events as i64, now_micros])?;
        self.dictionaries.insert(id, &bytes)?;
        self.latest = Some(packing);
        Ok(())
    }
}

/// The value to store for document `index` of `packed`, whose text is `doc`.
pub(super) fn value<'a>(packed: &'a PackedDocs, index: usize, doc: &'a str) -> ToSqlOutput<'a> {
    match packed.blob(index) {
        Some(blob) => ToSqlOutput::Borrowed(ValueRef::Blob(blob)),
        None => ToSqlOutput::Borrowed(ValueRef::Text(doc.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::rows;
    use super::*;
    use crate::compress::{GROWTH, SAMPLES};

    /// A document as the applier stores them: what repeats (keys, user
    /// agents, wording) and what does not (ids).
    fn doc(n: usize) -> String {
        let agents = [
            "curl/8.10.1",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Terraform/1.9.8 terraform-provider-acme/3.2.0",
        ];
        serde_json::json!({
            "actor": {"name": format!("Grace Hopper {}", n % 37)},
            "targets": [{"type": "license", "id": format!("lic_{n:06x}"), "name": format!("Licence {n}")}],
            "user_agent": agents[n % agents.len()],
            "description": format!("revoked licence lic_{n:06x}"),
            "metadata": {"request_id": format!("req_{:016x}", n * 7919), "reason": "rotation"},
        })
        .to_string()
    }

    fn open(path: &Path) -> Connection {
        let mut connection = Connection::open(path).unwrap();
        super::super::schema::migrate(&mut connection).unwrap();
        connection
            .execute("CREATE TABLE docs (n INTEGER PRIMARY KEY, doc)", [])
            .unwrap();
        connection
    }

    #[test]
    fn documents_compress_with_the_latest_dictionary_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let connection = open(&path);
        let mut packer = DocPacker::open(&connection, dictionaries(&path)).unwrap();
        let count = SAMPLES * GROWTH as usize + 100;
        connection.execute_batch("BEGIN").unwrap();
        for n in 0..count {
            let text = doc(n);
            let value = packer.pack(&text).unwrap();
            connection
                .execute(
                    "INSERT INTO docs (n, doc) VALUES (?1, ?2)",
                    params![n, value],
                )
                .unwrap();
            packer
                .train_if_due(&connection, 1_700_000_000_000_000)
                .unwrap();
        }
        connection.execute_batch("COMMIT").unwrap();
        // One dictionary from the first documents, the next once the store grew tenfold.
        let trained: Vec<(i64, i64)> = rows(
            &connection,
            "SELECT id, events FROM doc_dictionaries ORDER BY id",
            |row| Ok((row.get(0)?, row.get(1)?)),
        );
        assert_eq!(
            trained,
            [(1, SAMPLES as i64), (2, SAMPLES as i64 * GROWTH as i64)]
        );
        // Text until the first dictionary; then each blob names the latest one.
        let stored: Vec<(usize, Option<u8>, usize)> = rows(
            &connection,
            "SELECT n, CASE typeof(doc) WHEN 'blob' THEN unicode(CAST(substr(doc, 1, 1) AS TEXT)) END, length(CAST(doc AS BLOB)) FROM docs ORDER BY n",
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        );
        for (n, dictionary, _) in &stored {
            let expected = match *n {
                n if n < SAMPLES => None,
                n if n < SAMPLES * GROWTH as usize => Some(1),
                _ => Some(2),
            };
            assert_eq!(*dictionary, expected, "document {n}");
        }
        let (packed, text): (Vec<_>, Vec<_>) = stored
            .iter()
            .partition(|(_, dictionary, _)| dictionary.is_some());
        let average = |rows: &[&(usize, Option<u8>, usize)]| {
            rows.iter().map(|row| row.2).sum::<usize>() / rows.len()
        };
        assert!(
            average(&packed) * 3 < average(&text),
            "{} bytes compressed against {} as text",
            average(&packed),
            average(&text)
        );

        // Another connection, whose dictionaries are not loaded yet, reads every document whole.
        let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let loaded = dictionaries(&path);
        let read = |sql: &str| -> Result<Vec<String>> {
            let mut statement = reader.prepare(sql)?;
            let mut rows = statement.query([])?;
            let mut texts = Vec::new();
            while let Some(row) = rows.next()? {
                texts.push(loaded.text(row.get_ref(0)?)?.into_owned());
            }
            Ok(texts)
        };
        let texts = read("SELECT doc FROM docs ORDER BY n").unwrap();
        assert_eq!(texts, (0..count).map(doc).collect::<Vec<_>>());

        // Threads sharing dictionaries not loaded yet each load the ones
        // they meet first, and read every document whole.
        let shared = dictionaries(&path);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let reader =
                        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                            .unwrap();
                    let mut statement = reader.prepare("SELECT doc FROM docs ORDER BY n").unwrap();
                    let mut rows = statement.query([]).unwrap();
                    let mut n = 0;
                    while let Some(row) = rows.next().unwrap() {
                        assert_eq!(shared.text(row.get_ref(0).unwrap()).unwrap(), doc(n));
                        n += 1;
                    }
                    assert_eq!(n, count);
                });
            }
        });

        // A packer opened again goes on with the latest dictionary.
        let mut packer = DocPacker::open(&connection, dictionaries(&path)).unwrap();
        let text = doc(count);
        match packer.pack(&text).unwrap() {
            ToSqlOutput::Borrowed(ValueRef::Blob(blob)) => assert_eq!(blob[0], 2),
            other => panic!("stored as {other:?}"),
        }
        // Packed together, documents are stored as packed one at a time.
        let texts: Vec<String> = (count..count + 20).map(doc).collect();
        let mut one_by_one = DocPacker::open(&connection, dictionaries(&path)).unwrap();
        let together = DocPacker::open(&connection, dictionaries(&path))
            .unwrap()
            .pack_all(texts.iter().map(String::as_str))
            .unwrap();
        for (index, text) in texts.iter().enumerate() {
            assert_eq!(
                value(&together, index, text),
                one_by_one.pack(text).unwrap()
            );
        }

        // A blob naming a dictionary the store does not have is an error, not
        // a guess; so is a frame cut short, or a document of another type.
        let error = read("SELECT X'09285300'").unwrap_err();
        assert!(error.to_string().contains("dictionary 9"), "{error}");
        let error = read("SELECT substr(doc, 1, 3) FROM docs WHERE n = (SELECT max(n) FROM docs)")
            .unwrap_err();
        assert!(error.to_string().contains("frame"), "{error}");
        let error = read("SELECT 42").unwrap_err();
        assert!(error.to_string().contains("Integer"), "{error}");
    }
}
