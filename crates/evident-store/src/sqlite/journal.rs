//! The ingest journal: appended events, every column prepared, written to
//! an append-only file and synced before the append is acknowledged, then
//! applied to the database behind it (`ingest.rs`).
//!
//! A journal is a directory of segment files, each named by the number of
//! its first record. The open segment is zero-filled ahead of its small
//! records, [`PREALLOCATE_BYTES`] at a time, so that most syncs of small
//! groups write records into room the file already has and leave its size
//! alone: on ext4 a size change makes `fdatasync` commit the file system's
//! own journal, which also waits for other files' data (the WAL
//! checkpoints' pages). A large record grows the file itself: zeros would
//! double what it writes for one sync's saving. Zeros to a segment's end
//! end its records.
//!
//! A record is framed as its payload's length (u32, little
//! endian), the payload's CRC-32, and the payload: the record's number (u64),
//! then each batch: its tenant's number, the tenant's log size after it, its
//! events and the Merkle nodes they complete. A torn write at the end of the
//! last segment (a crash mid-append, before the sync that acknowledges it)
//! shows as a short or mismatched frame and ends the journal there.
//!
//! **Invariant:** a record is synced, and the file that holds it is durably
//! named in its directory, before its append returns. A segment is synced
//! before the next one is started, so that syncing the open segment makes
//! every record written so far durable.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use evident_core::log::merkle::Node;

use crate::{Result, StoreError};

/// The journal's directory inside the data directory.
pub const JOURNAL_DIR: &str = "journal";
/// A segment past this size is closed and the next record starts another.
#[cfg(not(test))]
const SEGMENT_BYTES: u64 = 64 << 20;
/// Small in tests, so that they close segments.
#[cfg(test)]
const SEGMENT_BYTES: u64 = 16 << 10;
/// The open segment grows by this much zero-filled room when a record needs more.
#[cfg(not(test))]
const PREALLOCATE_BYTES: u64 = 4 << 20;
/// Small in tests, so that a segment grows several times.
#[cfg(test)]
const PREALLOCATE_BYTES: u64 = 4 << 10;
/// Frames up to this size go into zero-filled room; larger ones grow the file.
#[cfg(not(test))]
const MOST_ROOMED_BYTES: u64 = 64 << 10;
#[cfg(test)]
const MOST_ROOMED_BYTES: u64 = 1 << 10;
/// Frame header: payload length and CRC-32.
const FRAME_HEADER: usize = 8;
/// The largest payload a frame may claim (a group holds at most some 20,000 events).
const MOST_PAYLOAD_BYTES: usize = 1 << 30;

/// One event as appended: every column the database row, its targets and
/// its search entry need, already computed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JournalEvent<'a> {
    pub seq: u64,
    pub id: [u8; 16],
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub action: &'a str,
    pub category: &'a str,
    pub actor_type: &'a str,
    pub actor_id: Option<&'a str>,
    /// Lower-cased, as it is indexed.
    pub actor_email: Option<&'a str>,
    pub ip: Option<[u8; 16]>,
    pub channel: Option<&'a str>,
    pub outcome: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub doc: &'a str,
    pub salt: [u8; 16],
    /// What free text searches.
    pub text: &'a str,
    /// (id, type) of each target.
    pub targets: Vec<(&'a str, &'a str)>,
}

/// One tenant's part of a record.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JournalBatch<'a> {
    pub tenant_no: i64,
    /// The tenant's log size once these events are in.
    pub next_seq: u64,
    pub events: Vec<JournalEvent<'a>>,
    pub nodes: Vec<Node>,
}

/// What one append journaled, read back from its payload.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record<'a> {
    pub number: u64,
    pub batches: Vec<JournalBatch<'a>>,
}

impl Record<'_> {
    pub fn events(&self) -> usize {
        self.batches.iter().map(|batch| batch.events.len()).sum()
    }
}

/// Builds a record's payload as the events are prepared.
pub(super) struct RecordBuilder {
    payload: Vec<u8>,
    /// Where the open batch's event count goes, and the count so far.
    open_batch: Option<(usize, u32)>,
    batches: u32,
    events: usize,
}

impl RecordBuilder {
    pub fn new(number: u64) -> RecordBuilder {
        let mut payload = Vec::with_capacity(64 * 1024);
        payload.extend_from_slice(&number.to_le_bytes());
        // The batch count, written when the record is finished.
        payload.extend_from_slice(&0u32.to_le_bytes());
        RecordBuilder {
            payload,
            open_batch: None,
            batches: 0,
            events: 0,
        }
    }

    pub fn events(&self) -> usize {
        self.events
    }

    pub fn begin_batch(&mut self, tenant_no: i64) {
        debug_assert!(self.open_batch.is_none(), "a batch is still open");
        put_i64(&mut self.payload, tenant_no);
        self.open_batch = Some((self.payload.len(), 0));
        put_u32(&mut self.payload, 0);
    }

    pub fn event(&mut self, event: &JournalEvent<'_>) {
        let Some((_, count)) = self.open_batch.as_mut() else {
            unreachable!("events are written inside a batch")
        };
        *count += 1;
        self.events += 1;
        let out = &mut self.payload;
        put_u64(out, event.seq);
        out.extend_from_slice(&event.id);
        put_i64(out, event.occurred_at);
        put_i64(out, event.recorded_at);
        put_str(out, event.action);
        put_str(out, event.category);
        put_str(out, event.actor_type);
        put_opt_str(out, event.actor_id);
        put_opt_str(out, event.actor_email);
        match event.ip {
            Some(ip) => {
                out.push(1);
                out.extend_from_slice(&ip);
            }
            None => out.push(0),
        }
        put_opt_str(out, event.channel);
        put_str(out, event.outcome);
        put_opt_str(out, event.idempotency_key);
        put_str(out, event.doc);
        out.extend_from_slice(&event.salt);
        put_str(out, event.text);
        put_u32(out, event.targets.len() as u32);
        for (id, target_type) in &event.targets {
            put_str(out, id);
            put_str(out, target_type);
        }
    }

    /// Closes the open batch; its events are at seq below `next_seq`.
    pub fn end_batch(&mut self, next_seq: u64, nodes: &[Node]) {
        let Some((at, count)) = self.open_batch.take() else {
            unreachable!("a batch is open")
        };
        self.payload[at..at + 4].copy_from_slice(&count.to_le_bytes());
        put_u64(&mut self.payload, next_seq);
        put_u32(&mut self.payload, nodes.len() as u32);
        for node in nodes {
            put_u32(&mut self.payload, node.level);
            put_u64(&mut self.payload, node.index);
            self.payload.extend_from_slice(&node.hash);
        }
        self.batches += 1;
    }

    /// The payload, ready for [`JournalWriter::append`].
    pub fn finish(mut self) -> Vec<u8> {
        debug_assert!(self.open_batch.is_none(), "a batch is still open");
        self.payload[8..12].copy_from_slice(&self.batches.to_le_bytes());
        self.payload
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u32(out, text.len() as u32);
    out.extend_from_slice(text.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            out.push(1);
            put_str(out, text);
        }
        None => out.push(0),
    }
}

/// Reads a payload back; every string borrows from it.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < length {
            return Err(corrupt("a record ends early"));
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<&'a str> {
        let length = self.u32()? as usize;
        std::str::from_utf8(self.take(length)?).map_err(|_| corrupt("text that is not UTF-8"))
    }

    fn flag(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupt("a flag that is neither 0 nor 1")),
        }
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>> {
        Ok(if self.flag()? {
            Some(self.str()?)
        } else {
            None
        })
    }

    /// A count of items each at least `least_bytes` long, checked against what is left.
    fn count(&mut self, least_bytes: usize) -> Result<usize> {
        let count = self.u32()? as usize;
        if count.saturating_mul(least_bytes) > self.bytes.len() {
            return Err(corrupt("a count past the record's end"));
        }
        Ok(count)
    }

    fn event(&mut self) -> Result<JournalEvent<'a>> {
        Ok(JournalEvent {
            seq: self.u64()?,
            id: self.array()?,
            occurred_at: self.i64()?,
            recorded_at: self.i64()?,
            action: self.str()?,
            category: self.str()?,
            actor_type: self.str()?,
            actor_id: self.opt_str()?,
            actor_email: self.opt_str()?,
            ip: if self.flag()? {
                Some(self.array()?)
            } else {
                None
            },
            channel: self.opt_str()?,
            outcome: self.str()?,
            idempotency_key: self.opt_str()?,
            doc: self.str()?,
            salt: self.array()?,
            text: self.str()?,
            targets: {
                let count = self.count(8)?;
                (0..count)
                    .map(|_| Ok((self.str()?, self.str()?)))
                    .collect::<Result<_>>()?
            },
        })
    }
}

impl<'a> Record<'a> {
    /// Reads a record's payload.
    pub fn decode(payload: &'a [u8]) -> Result<Record<'a>> {
        let mut reader = Reader { bytes: payload };
        let number = reader.u64()?;
        let batch_count = reader.count(20)?;
        let mut batches = Vec::with_capacity(batch_count);
        for _ in 0..batch_count {
            let tenant_no = reader.i64()?;
            let event_count = reader.count(100)?;
            let events = (0..event_count)
                .map(|_| reader.event())
                .collect::<Result<_>>()?;
            let next_seq = reader.u64()?;
            let node_count = reader.count(44)?;
            let nodes = (0..node_count)
                .map(|_| {
                    Ok(Node {
                        level: reader.u32()?,
                        index: reader.u64()?,
                        hash: reader.array()?,
                    })
                })
                .collect::<Result<_>>()?;
            batches.push(JournalBatch {
                tenant_no,
                next_seq,
                events,
                nodes,
            });
        }
        if !reader.bytes.is_empty() {
            return Err(corrupt("bytes after a record's last batch"));
        }
        Ok(Record { number, batches })
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("ingest journal: {what}"))
}

/// A closed segment: every record in it is at most `last`.
#[derive(Debug, Clone)]
pub(super) struct ClosedSegment {
    pub path: PathBuf,
    pub last: u64,
}

/// Appends records to the open segment (the caller syncs them, [`JournalWriter::file`]).
pub(super) struct JournalWriter {
    dir: PathBuf,
    file: Arc<File>,
    path: PathBuf,
    /// The end of the last record written.
    bytes: u64,
    /// The end of the zero-filled room after it (of the file).
    room: u64,
}

impl JournalWriter {
    /// Starts a new segment whose first record will be `first`.
    pub fn create(dir: &Path, first: u64) -> Result<JournalWriter> {
        std::fs::create_dir_all(dir)?;
        let path = segment_path(dir, first);
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        // The new file's name must survive a crash as surely as the records written to it.
        sync_dir(dir)?;
        Ok(JournalWriter {
            dir: dir.to_owned(),
            file: Arc::new(file),
            path,
            bytes: 0,
            room: 0,
        })
    }

    /// Writes one record (not synced: see [`JournalWriter::file`]). When the
    /// segment has grown past its size, it is synced and closed, returned,
    /// and the next record goes to a new one.
    pub fn write(&mut self, number: u64, payload: &[u8]) -> Result<Option<ClosedSegment>> {
        let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        frame.extend_from_slice(payload);
        let end = self.bytes + frame.len() as u64;
        if end > self.room && frame.len() as u64 <= MOST_ROOMED_BYTES {
            // Zeros read as the end of the records (`read_payloads`); the
            // sync that makes this record durable makes the room durable too.
            let room = end.max((self.room + PREALLOCATE_BYTES).min(SEGMENT_BYTES));
            let zeros = vec![0; (room - self.room) as usize];
            self.file.write_all_at(&zeros, self.room)?;
            self.room = room;
        }
        self.file.write_all_at(&frame, self.bytes)?;
        self.bytes = end;
        self.room = self.room.max(end);
        if self.bytes < SEGMENT_BYTES {
            return Ok(None);
        }
        self.file.sync_data()?;
        let next = JournalWriter::create(&self.dir, number + 1)?;
        let closed = ClosedSegment {
            path: std::mem::replace(&mut self.path, next.path.clone()),
            last: number,
        };
        *self = next;
        Ok(Some(closed))
    }

    /// The open segment's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open segment, for syncing what was written to it (by any thread):
    /// that makes every record written so far durable, since a closed
    /// segment was synced before it was closed.
    pub fn file(&self) -> Arc<File> {
        self.file.clone()
    }
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.journal"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Every segment of the journal in `dir`, oldest first (none when it does not exist).
pub(super) fn segments(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error.into()),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let numbered = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".journal"))
            .and_then(|number| number.parse::<u64>().ok());
        if let Some(number) = numbered {
            found.push((number, path));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// The payloads of the journal's records, in order. Zeros to a segment's
/// end are the room made ahead of its records: they end it. A frame cut
/// short or failing its check ends the journal: it can only be the last
/// segment's tail, an append that a crash interrupted before it was
/// acknowledged. Anything after it is an error: an acknowledged record
/// would be lost.
pub(super) fn read_payloads(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let segments = segments(dir)?;
    let mut payloads = Vec::new();
    for (number, path) in segments.iter().enumerate() {
        let bytes = std::fs::read(path)?;
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            match frame(rest) {
                Some((payload, after)) => {
                    payloads.push(payload.to_vec());
                    rest = after;
                }
                None if rest.iter().all(|&byte| byte == 0) => break,
                None if number + 1 == segments.len() => {
                    tracing::warn!(
                        segment = %path.display(),
                        bytes = rest.len(),
                        "the ingest journal ends in an interrupted append (never acknowledged): ignored"
                    );
                    break;
                }
                None => {
                    return Err(corrupt(&format!(
                        "{} holds a damaged record before later segments",
                        path.display()
                    )));
                }
            }
        }
    }
    Ok(payloads)
}

/// The payload of the frame at the start of `bytes` and what follows it;
/// None for a frame cut short or failing its check, or of no payload (a
/// record holds at least its number; zeros are room, not a record).
fn frame(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let header: [u8; FRAME_HEADER] = bytes.get(..FRAME_HEADER)?.try_into().ok()?;
    let length = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let checksum = u32::from_le_bytes(header[4..].try_into().ok()?);
    if length == 0 || length > MOST_PAYLOAD_BYTES {
        return None;
    }
    let payload = bytes.get(FRAME_HEADER..FRAME_HEADER + length)?;
    (crc32fast::hash(payload) == checksum).then(|| (payload, &bytes[FRAME_HEADER + length..]))
}

/// Removes a segment (every record in it is applied and synced).
pub(super) fn remove(segment: &Path) -> Result<()> {
    match std::fs::remove_file(segment) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, text: &'static str) -> JournalEvent<'static> {
        JournalEvent {
            seq,
            id: [seq as u8; 16],
            occurred_at: -5,
            recorded_at: 1_700_000_000_000_000,
            action: "user.login",
            category: "authentication",
            actor_type: "user",
            actor_id: Some("usr_1"),
            actor_email: None,
            ip: Some([7; 16]),
            channel: None,
            outcome: "success",
            idempotency_key: Some("k-1"),
            doc: r#"{"actor":{"type":"user","id":"usr_1"}}"#,
            salt: [9; 16],
            text,
            targets: vec![("lic_1", "license"), ("", "empty")],
        }
    }

    fn record(number: u64) -> Vec<u8> {
        let mut builder = RecordBuilder::new(number);
        builder.begin_batch(3);
        builder.event(&event(0, "ünïcode text"));
        builder.event(&event(1, ""));
        builder.end_batch(
            2,
            &[Node {
                level: 1,
                index: 0,
                hash: [4; 32],
            }],
        );
        builder.begin_batch(5);
        builder.end_batch(0, &[]);
        builder.finish()
    }

    #[test]
    fn a_record_reads_back_as_it_was_built() {
        let payload = record(42);
        let read = Record::decode(&payload).unwrap();
        assert_eq!(read.number, 42);
        assert_eq!(read.events(), 2);
        assert_eq!(
            read.batches[0],
            JournalBatch {
                tenant_no: 3,
                next_seq: 2,
                events: vec![event(0, "ünïcode text"), event(1, "")],
                nodes: vec![Node {
                    level: 1,
                    index: 0,
                    hash: [4; 32]
                }],
            }
        );
        assert_eq!(read.batches[1].tenant_no, 5);
        assert!(read.batches[1].events.is_empty());
    }

    #[test]
    fn every_cut_of_a_record_is_refused_not_misread() {
        let payload = record(1);
        for cut in 0..payload.len() {
            assert!(Record::decode(&payload[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_torn_tail_ends_the_journal_and_damage_before_later_segments_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = JournalWriter::create(dir.path(), 1).unwrap();
        writer.write(1, &record(1)).unwrap();
        writer.write(2, &record(2)).unwrap();
        drop(writer);
        let segment = segments(dir.path()).unwrap().remove(0);
        let mut whole = std::fs::read(&segment).unwrap();
        // The records, then the zero-filled room made ahead of them.
        let records = 2 * (FRAME_HEADER + record(1).len());
        assert!(whole.len() > records);
        assert!(whole[records..].iter().all(|&byte| byte == 0));
        whole.truncate(records);
        // A crash mid-append: the third record's frame is half written.
        let mut torn = whole.clone();
        torn.extend_from_slice(&(record(3).len() as u32).to_le_bytes());
        torn.extend_from_slice(&[0, 1, 2]);
        std::fs::write(&segment, &torn).unwrap();
        let payloads = read_payloads(dir.path()).unwrap();
        assert_eq!(payloads, vec![record(1), record(2)]);
        // A flipped byte in the last record of the last segment: that record is dropped.
        let mut flipped = whole.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(&segment, &flipped).unwrap();
        assert_eq!(read_payloads(dir.path()).unwrap(), vec![record(1)]);
        // The same damage with a later segment after it loses acknowledged records: refused.
        let mut later = JournalWriter::create(dir.path(), 3).unwrap();
        later.write(3, &record(3)).unwrap();
        assert!(read_payloads(dir.path()).is_err());
    }

    #[test]
    fn records_go_into_zero_filled_room_whose_zeros_end_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = JournalWriter::create(dir.path(), 1).unwrap();
        let frame_bytes = (FRAME_HEADER + record(1).len()) as u64;
        let mut sizes = Vec::new();
        let mut closed = None;
        let mut number = 1;
        while closed.is_none() {
            closed = writer.write(number, &record(number)).unwrap();
            sizes.push(std::fs::metadata(writer.path()).unwrap().len());
            number += 1;
        }
        // The first segment grew by whole steps of room, ahead of its records,
        // not a record at a time; its last record took it past its size, and
        // it closed there, with no room after it.
        let closed = closed.unwrap();
        assert_eq!(closed.last, number - 1);
        let first_segment = std::fs::metadata(&closed.path).unwrap().len();
        assert_eq!(first_segment, (number - 1) * frame_bytes);
        assert!(first_segment >= SEGMENT_BYTES);
        assert!(sizes[0] == PREALLOCATE_BYTES && sizes[0] > frame_bytes);
        assert!(
            sizes
                .iter()
                .filter(|&&size| size == PREALLOCATE_BYTES)
                .count()
                > 1
        );
        // The next segment's records read back after the first's; the zeros
        // after them are read as no record.
        writer.write(number, &record(number)).unwrap();
        let open = std::fs::read(writer.path()).unwrap();
        assert_eq!(open.len() as u64, PREALLOCATE_BYTES);
        assert!(open[frame_bytes as usize..].iter().all(|&byte| byte == 0));
        let read: Vec<u64> = read_payloads(dir.path())
            .unwrap()
            .iter()
            .map(|payload| Record::decode(payload).unwrap().number)
            .collect();
        assert_eq!(read, (1..=number).collect::<Vec<_>>());
        // A large record (yet smaller than a step of room) that the room
        // left cannot hold grows the file to its own end, no further.
        let large_record = |number: u64| {
            let mut large = RecordBuilder::new(number);
            large.begin_batch(3);
            for seq in 0..8 {
                large.event(&event(seq, "a large record"));
            }
            large.end_batch(8, &[]);
            large.finish()
        };
        let large_bytes = (FRAME_HEADER + large_record(0).len()) as u64;
        assert!(large_bytes > MOST_ROOMED_BYTES && large_bytes < PREALLOCATE_BYTES);
        let mut last = number;
        while writer.room - writer.bytes >= large_bytes {
            last += 1;
            assert!(writer.write(last, &record(last)).unwrap().is_none());
        }
        let large = large_record(last + 1);
        assert!(writer.write(last + 1, &large).unwrap().is_none());
        let after = std::fs::metadata(writer.path()).unwrap().len();
        assert_eq!(after, writer.bytes);
        assert_eq!(read_payloads(dir.path()).unwrap().last(), Some(&large));
        // A frame of no payload is zeros, never a record.
        assert!(frame(&[0; FRAME_HEADER]).is_none());
    }

    #[test]
    fn segments_are_read_in_order_of_their_first_record() {
        let dir = tempfile::tempdir().unwrap();
        for first in [10, 9, 100] {
            let mut writer = JournalWriter::create(dir.path(), first).unwrap();
            writer.write(first, &record(first)).unwrap();
        }
        let numbers: Vec<u64> = read_payloads(dir.path())
            .unwrap()
            .iter()
            .map(|payload| Record::decode(payload).unwrap().number)
            .collect();
        assert_eq!(numbers, [9, 10, 100]);
    }
}
