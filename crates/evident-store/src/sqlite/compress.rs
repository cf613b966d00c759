//! Event documents compressed with dictionaries trained on the store's own
//! events.
//!
//! A document (the part of an event kept as JSON: the actor's name, targets,
//! user agent, description, metadata) is a few hundred bytes whose keys,
//! user agents and wording repeat from one event to the next but hardly
//! within one: compressed alone it barely shrinks; compressed with a zstd
//! dictionary of what the store's events share, it keeps about a fifth of
//! its bytes (the benchmark's events: 365 bytes on average, 78 compressed).
//!
//! The applier stores a young store's first documents as JSON text while it
//! samples them, trains a dictionary from [`SAMPLES`] of them, and keeps it
//! in `doc_dictionaries` in the transaction whose documents first use it.
//! From then on a document is a blob: the number of its dictionary (one
//! byte), then its zstd frame without the frame's four-byte magic number.
//! Each time the store has grown [`GROWTH`] times over since the last
//! dictionary, the applier trains another from the documents just before,
//! so that the first one, trained on a young store's first tenants, does not
//! serve every product and tenant that comes later. A blob names the
//! dictionary it needs; none is ever removed.
//!
//! Reads see only JSON: [`Dictionaries::text`] gives a `doc` column's text
//! however it is stored, decompressing it in the reading thread (so that a
//! page sorted by SQLite carries each candidate's few compressed bytes, and
//! only the rows read are decompressed).

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use zstd::zstd_safe::{self, CCtx, CDict, CParameter, DCtx, DDict};

use crate::{Result, StoreError};

/// Documents a dictionary is trained from; also the store's size when the
/// first one is trained.
pub(super) const SAMPLES: usize = 2_048;
/// Documents larger than this are not sampled (a dictionary is for what
/// events share; one large document would crowd out hundreds of others).
const LARGEST_SAMPLE: usize = 4 << 10;
/// The most bytes a dictionary takes. Larger ones measured no better on the
/// benchmark's events (16 KiB: 77.6 bytes a document, 64 KiB: 77.4).
const DICTIONARY_BYTES: usize = 16 << 10;
/// zstd's compression level: its default, a few microseconds a document.
const LEVEL: i32 = 3;
/// A new dictionary once the store holds this many times the events it held
/// when the last one was trained.
const GROWTH: u64 = 10;
/// The head of every zstd frame; stored documents leave it out.
const MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();
/// No document is larger: a frame that says otherwise is corrupt.
const LARGEST_DOCUMENT: u64 = 64 << 20;

/// The decompression dictionaries of one store by number, loaded as first
/// needed and shared by its connections.
pub(crate) struct Dictionaries {
    /// The database, for a dictionary trained after this process loaded the rest.
    path: PathBuf,
    /// By number (one byte). A number, once it names a dictionary, names it
    /// for good, so that every reading thread takes it without a lock or a
    /// reference count (both were a shared cache line written for every
    /// document read: 4% of `verify --store`'s time on two threads).
    by_id: Box<[OnceLock<DDict<'static>>]>,
}

impl Dictionaries {
    pub(crate) fn new(path: &Path) -> Arc<Dictionaries> {
        Arc::new(Dictionaries {
            path: path.to_owned(),
            by_id: (0..=u8::MAX).map(|_| OnceLock::new()).collect(),
        })
    }

    /// Loads every dictionary `connection` sees.
    pub(crate) fn load(&self, connection: &Connection) -> Result<()> {
        let mut statement = connection.prepare("SELECT id, dictionary FROM doc_dictionaries")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            self.insert(
                dictionary_id(id)?,
                row.get_ref(1)?.as_blob().map_err(corrupt)?,
            )?;
        }
        Ok(())
    }

    /// Keeps dictionary `id` (a number already loaded keeps its dictionary:
    /// the store never gives one number two).
    fn insert(&self, id: u8, bytes: &[u8]) -> Result<&DDict<'static>> {
        let slot = &self.by_id[usize::from(id)];
        if let Some(dictionary) = slot.get() {
            return Ok(dictionary);
        }
        let dictionary = DDict::try_create(bytes).ok_or_else(|| {
            StoreError::Corrupt(format!("document dictionary {id} cannot be loaded"))
        })?;
        Ok(slot.get_or_init(|| dictionary))
    }

    fn get(&self, id: u8) -> Result<&DDict<'static>> {
        if let Some(dictionary) = self.by_id[usize::from(id)].get() {
            return Ok(dictionary);
        }
        // Trained since this process loaded the others (a server writes the
        // store while a command reads it): committed with or before the
        // first document that names it, so a new connection sees it.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        let bytes: Option<Vec<u8>> = connection
            .query_row(
                "SELECT dictionary FROM doc_dictionaries WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()?;
        let bytes = bytes.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a document names dictionary {id}, which the store does not have"
            ))
        })?;
        self.insert(id, &bytes)
    }

    /// The JSON of a `doc` column as read: borrowed when stored as text,
    /// decompressed when stored as a blob.
    pub(crate) fn text<'r>(&self, doc: ValueRef<'r>) -> Result<Cow<'r, str>> {
        match doc {
            ValueRef::Text(text) => std::str::from_utf8(text)
                .map(Cow::Borrowed)
                .map_err(corrupt),
            ValueRef::Blob(packed) => self.unpack(packed).map(Cow::Owned),
            other => Err(StoreError::Corrupt(format!(
                "a document stored as {:?}",
                other.data_type()
            ))),
        }
    }

    /// The JSON of a document stored as a blob.
    fn unpack(&self, packed: &[u8]) -> Result<String> {
        let (&id, frame) = packed
            .split_first()
            .ok_or_else(|| StoreError::Corrupt("an empty document".to_owned()))?;
        let dictionary = self.get(id)?;
        UNPACKING.with_borrow_mut(|(context, framed)| {
            framed.clear();
            framed.extend_from_slice(&MAGIC);
            framed.extend_from_slice(frame);
            let size = match zstd_safe::get_frame_content_size(framed) {
                Ok(Some(size)) if size <= LARGEST_DOCUMENT => size as usize,
                _ => return Err(StoreError::Corrupt("a document's frame header".to_owned())),
            };
            let mut text = Vec::with_capacity(size);
            context
                .decompress_using_ddict(&mut text, framed, dictionary)
                .map_err(zstd_error)?;
            String::from_utf8(text).map_err(corrupt)
        })
    }
}

thread_local! {
    /// Each thread's decompression context, and its frame with the magic number put back.
    static UNPACKING: RefCell<(DCtx<'static>, Vec<u8>)> = RefCell::new((DCtx::create(), Vec::new()));
}

/// The applier's side: compresses each document with the store's latest
/// dictionary, and trains the next one when the store has grown enough.
pub(super) struct DocPacker {
    dictionaries: Arc<Dictionaries>,
    latest: Option<Packing>,
    /// The number the next dictionary gets (dictionaries run out at 255).
    next_id: i64,
    /// Events in the store, and how many it holds when the next dictionary is trained.
    events: u64,
    train_at: u64,
    /// Sampled documents, one after the other, and their sizes.
    samples: Vec<u8>,
    sample_sizes: Vec<usize>,
    /// The frame of the document packed last.
    packed: Vec<u8>,
}

/// The latest dictionary, prepared for compressing. The context refers to
/// the dictionary, so it is declared (and dropped) first.
struct Packing {
    id: u8,
    context: CCtx<'static>,
    _dictionary: CDict<'static>,
}

impl Packing {
    fn new(id: u8, bytes: &[u8]) -> Result<Packing> {
        let dictionary = CDict::try_create(bytes, LEVEL).ok_or_else(|| {
            StoreError::Corrupt(format!("document dictionary {id} cannot be loaded"))
        })?;
        let mut context = CCtx::try_create()
            .ok_or_else(|| StoreError::Corrupt("no zstd compression context".to_owned()))?;
        // The blob names its dictionary itself, and SQLite checks pages.
        context
            .set_parameter(CParameter::DictIdFlag(false))
            .map_err(zstd_error)?;
        context
            .set_parameter(CParameter::ChecksumFlag(false))
            .map_err(zstd_error)?;
        context.ref_cdict(&dictionary).map_err(zstd_error)?;
        Ok(Packing {
            id,
            context,
            _dictionary: dictionary,
        })
    }
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
        let (latest, next_id, train_at) = match latest {
            Some((id, bytes, trained_at)) => (
                Some(Packing::new(dictionary_id(id)?, &bytes)?),
                id + 1,
                (trained_at.max(1) as u64).saturating_mul(GROWTH),
            ),
            None => (None, 1, SAMPLES as u64),
        };
        Ok(DocPacker {
            dictionaries,
            latest,
            next_id,
            events: events as u64,
            train_at,
            samples: Vec::new(),
            sample_sizes: Vec::new(),
            packed: Vec::new(),
        })
    }

    /// The value to store for the next event's document: its compressed
    /// frame, or its text while the store has no dictionary (or when the
    /// frame is no smaller).
    pub(super) fn pack<'d>(&'d mut self, doc: &'d str) -> Result<ToSqlOutput<'d>> {
        self.events += 1;
        if self.events + SAMPLES as u64 > self.train_at
            && self.sample_sizes.len() < SAMPLES
            && doc.len() <= LARGEST_SAMPLE
        {
            self.samples.extend_from_slice(doc.as_bytes());
            self.sample_sizes.push(doc.len());
        }
        let text = ToSqlOutput::Borrowed(ValueRef::Text(doc.as_bytes()));
        let Some(packing) = &mut self.latest else {
            return Ok(text);
        };
        self.packed.clear();
        self.packed.reserve(zstd_safe::compress_bound(doc.len()));
        packing
            .context
            .compress2(&mut self.packed, doc.as_bytes())
            .map_err(zstd_error)?;
        if !self.packed.starts_with(&MAGIC) || self.packed.len() - 3 >= doc.len() {
            return Ok(text);
        }
        // The dictionary's number takes the last byte of the magic number.
        self.packed[3] = packing.id;
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(&self.packed[3..])))
    }

    /// Packs a transaction's documents in their order, as [`DocPacker::pack`]
    /// packs each (the applier then writes the rows with them).
    pub(super) fn pack_all<'d>(
        &mut self,
        docs: impl IntoIterator<Item = &'d str>,
    ) -> Result<PackedDocs> {
        let docs = docs.into_iter();
        let mut packed = PackedDocs {
            frames: Vec::new(),
            blobs: Vec::with_capacity(docs.size_hint().0),
        };
        for doc in docs {
            let blob = match self.pack(doc)? {
                ToSqlOutput::Borrowed(ValueRef::Blob(blob)) => {
                    let start = packed.frames.len();
                    packed.frames.extend_from_slice(blob);
                    Some(start..packed.frames.len())
                }
                _ => None,
            };
            packed.blobs.push(blob);
        }
        Ok(packed)
    }

    /// Trains the next dictionary if the store has grown to it (in the
    /// transaction `connection` has open, whose documents are all packed);
    /// later documents are compressed with it.
    pub(super) fn train_if_due(&mut self, connection: &Connection, now_micros: i64) -> Result<()> {
        if self.events < self.train_at || self.sample_sizes.len() < SAMPLES {
            return Ok(());
        }
        let samples = std::mem::take(&mut self.samples);
        let sizes = std::mem::take(&mut self.sample_sizes);
        self.train_at = self.events.saturating_mul(GROWTH);
        let Ok(id) = u8::try_from(self.next_id) else {
            return Ok(());
        };
        let bytes = match zstd::dict::from_continuous(&samples, &sizes, DICTIONARY_BYTES) {
            Ok(bytes) => bytes,
            Err(error) => {
                // Documents stay as they are; a later size tries again.
                tracing::warn!(%error, "training a document dictionary failed");
                return Ok(());
            }
        };
        let packing = Packing::new(id, &bytes)?;
        connection
            .prepare_cached(
                "INSERT INTO doc_dictionaries (id, dictionary, events, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, bytes, self.events as i64, now_micros])?;
        self.dictionaries.insert(id, &bytes)?;
        self.latest = Some(packing);
        self.next_id += 1;
        Ok(())
    }
}

/// Documents packed by [`DocPacker::pack_all`]: each one's blob, or its
/// text where it is stored as text.
pub(super) struct PackedDocs {
    frames: Vec<u8>,
    /// Per document, in order: where its blob is in `frames`, or `None` for its text.
    blobs: Vec<Option<std::ops::Range<usize>>>,
}

impl PackedDocs {
    /// The value to store for document `index`, whose text is `doc`.
    pub(super) fn value<'a>(&'a self, index: usize, doc: &'a str) -> ToSqlOutput<'a> {
        match &self.blobs[index] {
            Some(range) => ToSqlOutput::Borrowed(ValueRef::Blob(&self.frames[range.clone()])),
            None => ToSqlOutput::Borrowed(ValueRef::Text(doc.as_bytes())),
        }
    }
}

fn dictionary_id(id: i64) -> Result<u8> {
    u8::try_from(id).map_err(|_| StoreError::Corrupt(format!("document dictionary {id}")))
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("a document: {error}"))
}

fn zstd_error(code: usize) -> StoreError {
    corrupt(zstd_safe::get_error_name(code))
}

#[cfg(test)]
mod tests {
    use super::super::rows;
    use super::*;

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
        let mut packer = DocPacker::open(&connection, Dictionaries::new(&path)).unwrap();
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
        let dictionaries = Dictionaries::new(&path);
        let read = |sql: &str| -> Result<Vec<String>> {
            let mut statement = reader.prepare(sql)?;
            let mut rows = statement.query([])?;
            let mut texts = Vec::new();
            while let Some(row) = rows.next()? {
                texts.push(dictionaries.text(row.get_ref(0)?)?.into_owned());
            }
            Ok(texts)
        };
        let texts = read("SELECT doc FROM docs ORDER BY n").unwrap();
        assert_eq!(texts, (0..count).map(doc).collect::<Vec<_>>());

        // Threads sharing dictionaries not loaded yet each load the ones
        // they meet first, and read every document whole.
        let shared = Dictionaries::new(&path);
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
        let mut packer = DocPacker::open(&connection, Dictionaries::new(&path)).unwrap();
        let text = doc(count);
        match packer.pack(&text).unwrap() {
            ToSqlOutput::Borrowed(ValueRef::Blob(blob)) => assert_eq!(blob[0], 2),
            other => panic!("stored as {other:?}"),
        }
        // Packed together, documents are stored as packed one at a time.
        let texts: Vec<String> = (count..count + 20).map(doc).collect();
        let mut one_by_one = DocPacker::open(&connection, Dictionaries::new(&path)).unwrap();
        let together = DocPacker::open(&connection, Dictionaries::new(&path))
            .unwrap()
            .pack_all(texts.iter().map(String::as_str))
            .unwrap();
        for (index, text) in texts.iter().enumerate() {
            assert_eq!(together.value(index, text), one_by_one.pack(text).unwrap());
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
