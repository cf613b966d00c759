//! Event documents compressed with dictionaries trained on the store's own
//! events, on either backend.
//!
//! A document (the part of an event kept as JSON: the actor's name, targets,
//! user agent, description, metadata) is a few hundred bytes whose keys,
//! user agents and wording repeat from one event to the next but hardly
//! within one: compressed alone it barely shrinks; compressed with a zstd
//! dictionary of what the store's events share, it keeps about a fifth of
//! its bytes (the benchmark's events: 365 bytes on average, 78 compressed).
//!
//! A young store keeps its first documents as JSON text while it samples
//! them ([`Sampler`]), trains a dictionary from [`SAMPLES`] of them and keeps
//! it in `doc_dictionaries`. From then on a document is a blob: the number of
//! its dictionary (one byte), then its zstd frame without the frame's
//! four-byte magic number ([`Packing`]). Each time the store has grown
//! [`GROWTH`] times over since the last dictionary, another is trained from
//! the documents just before, so that the first one, trained on a young
//! store's first tenants, does not serve every product and tenant that comes
//! later. A blob names the dictionary it needs; none is ever removed, and a
//! number, once it names a dictionary, names it for good.
//!
//! Reads see only JSON: [`Dictionaries::unpack`] gives a blob's text,
//! decompressing it in the reading thread (so that a page sorted by the
//! database carries each candidate's few compressed bytes, and only the rows
//! read are decompressed).

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use rusqlite::types::ValueRef;
use zstd::zstd_safe::{self, CCtx, CDict, CParameter, DCtx, DDict};

use crate::{Result, StoreError};

/// Documents a dictionary is trained from; also the store's size when the
/// first one is trained.
pub(crate) const SAMPLES: usize = 2_048;
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
pub(crate) const GROWTH: u64 = 10;
/// The head of every zstd frame; stored documents leave it out.
const MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();
/// No document is larger: a frame that says otherwise is corrupt.
const LARGEST_DOCUMENT: u64 = 64 << 20;

/// Reads dictionary `id` from the store, for one trained after this process
/// loaded the others (another process writes the store while this one reads it).
pub(crate) type Loader = Box<dyn Fn(u8) -> Result<Option<Vec<u8>>> + Send + Sync>;

/// The decompression dictionaries of one store by number, loaded as first
/// needed and shared by its connections.
pub(crate) struct Dictionaries {
    loader: Loader,
    /// By number (one byte). A number, once it names a dictionary, names it
    /// for good, so that every reading thread takes it without a lock or a
    /// reference count (both were a shared cache line written for every
    /// document read: 4% of `verify --store`'s time on two threads).
    by_id: Box<[OnceLock<DDict<'static>>]>,
}

impl Dictionaries {
    pub(crate) fn new(loader: Loader) -> Arc<Dictionaries> {
        Arc::new(Dictionaries {
            loader,
            by_id: (0..=u8::MAX).map(|_| OnceLock::new()).collect(),
        })
    }

    /// Keeps dictionary `id` (a number already loaded keeps its dictionary:
    /// the store never gives one number two).
    pub(crate) fn insert(&self, id: u8, bytes: &[u8]) -> Result<&DDict<'static>> {
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
        // Trained since this process loaded the others: committed with or
        // before the first document that names it, so the store has it.
        let bytes = (self.loader)(id)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a document names dictionary {id}, which the store does not have"
            ))
        })?;
        self.insert(id, &bytes)
    }

    /// The JSON of a SQLite `doc` column as read: borrowed when stored as
    /// text, decompressed when stored as a blob.
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
    pub(crate) fn unpack(&self, packed: &[u8]) -> Result<String> {
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

/// A dictionary prepared for compressing, shared by every context that uses it.
pub(crate) struct Trained {
    pub(crate) id: u8,
    dictionary: CDict<'static>,
}

impl Trained {
    pub(crate) fn new(id: u8, bytes: &[u8]) -> Result<Arc<Trained>> {
        let dictionary = CDict::try_create(bytes, LEVEL).ok_or_else(|| {
            StoreError::Corrupt(format!("document dictionary {id} cannot be loaded"))
        })?;
        Ok(Arc::new(Trained { id, dictionary }))
    }
}

/// A compression context on a trained dictionary. The context refers to the
/// dictionary, so it is declared (and dropped) first.
pub(crate) struct Packing {
    context: CCtx<'static>,
    trained: Arc<Trained>,
}

impl Packing {
    pub(crate) fn new(trained: Arc<Trained>) -> Result<Packing> {
        let mut context = CCtx::try_create()
            .ok_or_else(|| StoreError::Corrupt("no zstd compression context".to_owned()))?;
        // The blob names its dictionary itself, and the database checks pages.
        context
            .set_parameter(CParameter::DictIdFlag(false))
            .map_err(zstd_error)?;
        context
            .set_parameter(CParameter::ChecksumFlag(false))
            .map_err(zstd_error)?;
        // The dictionary lives as long as `trained`, which the packing holds
        // and drops after the context.
        let dictionary: &CDict<'static> = &trained.dictionary;
        context.ref_cdict(dictionary).map_err(zstd_error)?;
        Ok(Packing { context, trained })
    }

    /// The number of the dictionary it compresses with.
    pub(crate) fn id(&self) -> u8 {
        self.trained.id
    }

    /// Compresses `doc` into `packed` (cleared first) as it is stored: the
    /// dictionary's number, then the frame without its magic number. False,
    /// with `packed` to be ignored, when that is no smaller than the text.
    pub(crate) fn pack(&mut self, doc: &str, packed: &mut Vec<u8>) -> Result<bool> {
        packed.clear();
        packed.reserve(zstd_safe::compress_bound(doc.len()));
        self.context
            .compress2(packed, doc.as_bytes())
            .map_err(zstd_error)?;
        if !packed.starts_with(&MAGIC) || packed.len() - 3 >= doc.len() {
            return Ok(false);
        }
        // The dictionary's number takes the last byte of the magic number.
        packed[3] = self.trained.id;
        packed.drain(..3);
        Ok(true)
    }
}

/// Samples the documents a store appends and trains its next dictionary
/// when the store has grown to it.
pub(crate) struct Sampler {
    /// The number the next dictionary gets (dictionaries run out at 255).
    next_id: i64,
    /// Events in the store, and how many it holds when the next dictionary is trained.
    events: u64,
    train_at: u64,
    /// Sampled documents, one after the other, and their sizes.
    samples: Vec<u8>,
    sample_sizes: Vec<usize>,
}

impl Sampler {
    /// The sampler of a store holding `events`, whose latest dictionary (if
    /// any) has number `id` and was trained when the store held `trained_at` events.
    pub(crate) fn new(events: u64, latest: Option<(u8, u64)>) -> Sampler {
        let (next_id, train_at) = match latest {
            Some((id, trained_at)) => (i64::from(id) + 1, trained_at.max(1).saturating_mul(GROWTH)),
            None => (1, SAMPLES as u64),
        };
        Sampler {
            next_id,
            events,
            train_at,
            samples: Vec::new(),
            sample_sizes: Vec::new(),
        }
    }

    /// Counts one more stored document, and samples it when the next
    /// dictionary is near.
    pub(crate) fn note(&mut self, doc: &str) {
        self.events += 1;
        if self.events + SAMPLES as u64 > self.train_at
            && self.sample_sizes.len() < SAMPLES
            && doc.len() <= LARGEST_SAMPLE
        {
            self.samples.extend_from_slice(doc.as_bytes());
            self.sample_sizes.push(doc.len());
        }
    }

    /// The next dictionary's number and bytes, and the store's size it was
    /// trained at, once the store has grown to it; None before (or when
    /// numbers have run out, or training failed: a later size tries again).
    pub(crate) fn train(&mut self) -> Option<(u8, Vec<u8>, u64)> {
        if self.events < self.train_at || self.sample_sizes.len() < SAMPLES {
            return None;
        }
        let samples = std::mem::take(&mut self.samples);
        let sizes = std::mem::take(&mut self.sample_sizes);
        self.train_at = self.events.saturating_mul(GROWTH);
        let id = u8::try_from(self.next_id).ok()?;
        match zstd::dict::from_continuous(&samples, &sizes, DICTIONARY_BYTES) {
            Ok(bytes) => {
                self.next_id += 1;
                Some((id, bytes, self.events))
            }
            Err(error) => {
                tracing::warn!(%error, "training a document dictionary failed");
                None
            }
        }
    }

    /// Goes on from dictionary `id`, trained by another process when the
    /// store held `trained_at` events, in place of the one this one trained
    /// under the same number.
    pub(crate) fn adopt(&mut self, id: u8, trained_at: u64) {
        self.next_id = i64::from(id) + 1;
        self.train_at = trained_at.max(1).saturating_mul(GROWTH).max(self.train_at);
    }
}

/// The documents of one write, packed: each one's blob, or none where it is
/// stored as text.
#[derive(Default)]
pub(crate) struct PackedDocs {
    frames: Vec<u8>,
    /// Per document, in order: where its blob is in `frames`.
    blobs: Vec<Option<std::ops::Range<usize>>>,
}

impl PackedDocs {
    pub(crate) fn push(&mut self, blob: Option<&[u8]>) {
        let range = blob.map(|blob| {
            let start = self.frames.len();
            self.frames.extend_from_slice(blob);
            start..self.frames.len()
        });
        self.blobs.push(range);
    }

    /// Document `index`'s blob, or None when it is stored as text.
    pub(crate) fn blob(&self, index: usize) -> Option<&[u8]> {
        self.blobs[index]
            .as_ref()
            .map(|range| &self.frames[range.clone()])
    }
}

pub(crate) fn dictionary_id(id: i64) -> Result<u8> {
    u8::try_from(id).map_err(|_| StoreError::Corrupt(format!("document dictionary {id}")))
}

pub(crate) fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("a document: {error}"))
}

fn zstd_error(code: usize) -> StoreError {
    corrupt(zstd_safe::get_error_name(code))
}
