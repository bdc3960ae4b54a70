//! The replay journal: every tag a key's filter accepted since its last snapshot, appended in
//! checksummed chunks, so a node that crashes still knows the packets it processed.
//!
//! # Why a journal
//!
//! A snapshot ([`ReplayFilter::save`]) writes the whole filter, up to gigabytes, so it is taken
//! rarely; whatever was accepted after it would be forgotten by a crash, and an adversary
//! could replay those packets to the restarted node. The journal closes that window: the
//! runtime hands the accepted tags to the node every few milliseconds, the node appends them
//! here and [`ReplayJournal::sync`]s, and after a restart [`replay_journal`] re-inserts them
//! into the filter loaded from the snapshot. A fresh journal goes with each snapshot (the
//! snapshot holds the older tags).
//!
//! # Format
//!
//! All integers little-endian; every length is a multiple of 8 so the checksums run over
//! 64-bit lanes (FNV-1a, as in the snapshot: for corruption, not adversaries).
//!
//! ```text
//! header:  magic "MIXRPLJ\0" | version u32 (1) | flags u32 (0) | key id [32] | checksum u64
//! chunk:   count u32 | check u32 | count × tag [32] | checksum u64
//! ```
//!
//! The header's checksum covers the 48 bytes before it. A chunk holds 1 to
//! [`MAX_CHUNK_TAGS`] tags; `check` is a fixed bijection of `count` (so a damaged count is
//! recognised before it is used to find the next chunk, and an all-zero chunk header is
//! invalid), and the checksum covers the count, the check and the tags.
//!
//! # Torn tails
//!
//! [`ReplayJournal::sync`] writes one chunk per `fdatasync`, so a crash can leave only the last
//! chunk incomplete: cut short, or of full length with garbage in it (a filesystem that
//! extends the file before the data reaches the disk). Replay applies every verified chunk
//! and stops at the first one that does not verify:
//!
//! * a chunk whose header verifies but which runs past the end of the file, or which ends
//!   exactly at the end of the file with a bad checksum, is the torn tail: ignored and reported
//!   ([`JournalReplay::torn_tail`]);
//! * a verified header followed by a bad checksum with more bytes after the chunk is
//!   corruption ([`ReplayError::JournalCorrupt`]): that chunk was synced before a later one;
//! * an unreadable chunk header is the torn tail if what follows it is no longer than one chunk
//!   and no verifying chunk starts anywhere in it; otherwise corruption.
//!
//! [`ReplayJournal::resume`] cuts a torn tail off before appending, so new chunks never
//! follow garbage.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::persist::{io_err, le_u32, le_u64, read_exact, sync_parent_dir, Fnv64Lanes};
use super::{ReplayError, ReplayFilter};

const MAGIC: [u8; 8] = *b"MIXRPLJ\0";
const FORMAT_VERSION: u32 = 1;
/// magic(8) version(4) flags(4) key_id(32) checksum(8)
const HEADER_LEN: usize = 56;
const CHUNK_HEADER_LEN: usize = 8;
const CHECKSUM_LEN: usize = 8;
const TAG_LEN: usize = 32;

/// Most tags in one chunk (2 MiB of tags): bounds how much a crash can tear and how much
/// replay reads at once.
pub const MAX_CHUNK_TAGS: u32 = 1 << 16;

/// Longest chunk in bytes.
const MAX_CHUNK_LEN: u64 = (CHUNK_HEADER_LEN + CHECKSUM_LEN) as u64 + MAX_CHUNK_TAGS as u64 * 32;

/// `check` of a chunk holding `count` tags: multiplication by an odd constant is a bijection
/// of `u32`, so a changed count never keeps its check.
const fn count_check(count: u32) -> u32 {
    count.wrapping_mul(0x9e37_79b1) ^ 0x4a52_4e4c
}

fn chunk_len(count: u32) -> u64 {
    (CHUNK_HEADER_LEN + CHECKSUM_LEN) as u64 + u64::from(count) * TAG_LEN as u64
}

/// The tag count of a chunk header, if it verifies.
fn chunk_count(header: &[u8]) -> Option<u32> {
    let count = le_u32(header.get(0..4)?);
    let check = le_u32(header.get(4..8)?);
    ((1..=MAX_CHUNK_TAGS).contains(&count) && check == count_check(count)).then_some(count)
}

/// Whether `bytes` (a chunk's count, check and tags) match `stored`.
fn chunk_checksum(bytes: &[u8]) -> u64 {
    let mut sum = Fnv64Lanes::new();
    sum.update_bytes(bytes);
    sum.finish()
}

/// What [`replay_journal`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalReplay {
    /// Tags in the verified chunks, all inserted into the filter (a tag the filter already
    /// held counts here too).
    pub tags: u64,
    /// The journal ended in a torn chunk (a crash while it was written), which was ignored.
    pub torn_tail: bool,
    /// Bytes up to the end of the last verified chunk (or of the header): where appending
    /// resumes.
    pub valid_len: u64,
}

/// Re-inserts into `filter` every tag of the journal at `path`, which must belong to the key
/// `key_id`; see the module docs for what is a torn tail and what is corruption.
///
/// A file shorter than the header was torn while being created: no tags, `torn_tail`. A
/// journal of another key is [`ReplayError::JournalKeyMismatch`], and nothing is inserted. On
/// [`ReplayError::JournalCorrupt`] the chunks before the damage have been inserted.
pub fn replay_journal(
    path: &Path,
    key_id: [u8; 32],
    filter: &ReplayFilter,
) -> Result<JournalReplay, ReplayError> {
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    replay_open(&mut file, path, len, key_id, filter)
}

fn replay_open(
    file: &mut File,
    path: &Path,
    len: u64,
    key_id: [u8; 32],
    filter: &ReplayFilter,
) -> Result<JournalReplay, ReplayError> {
    if len < HEADER_LEN as u64 {
        return Ok(JournalReplay {
            tags: 0,
            torn_tail: true,
            valid_len: 0,
        });
    }
    let truncated = || ReplayError::Truncated {
        path: path.to_path_buf(),
        expected: len,
        actual: len,
    };
    let mut header = [0u8; HEADER_LEN];
    read_exact(file, &mut header, path, truncated)?;
    check_header(&header, path, key_id)?;

    let corrupt = |offset, what| ReplayError::JournalCorrupt {
        path: path.to_path_buf(),
        offset,
        what,
    };
    let mut replay = JournalReplay {
        tags: 0,
        torn_tail: false,
        valid_len: HEADER_LEN as u64,
    };
    let mut buf = Vec::new();
    loop {
        let at = replay.valid_len;
        let remaining = len - at;
        if remaining == 0 {
            return Ok(replay);
        }
        if remaining < CHUNK_HEADER_LEN as u64 {
            replay.torn_tail = true;
            return Ok(replay);
        }
        let mut chunk_header = [0u8; CHUNK_HEADER_LEN];
        read_exact(file, &mut chunk_header, path, truncated)?;
        let Some(count) = chunk_count(&chunk_header) else {
            if remaining > MAX_CHUNK_LEN {
                return Err(corrupt(at, "chunk header does not verify"));
            }
            // What follows is no longer than one chunk: a torn tail, unless a verifying chunk
            // starts somewhere in it (then this header was damaged after it was synced).
            buf.clear();
            buf.extend_from_slice(&chunk_header);
            file.read_to_end(&mut buf).map_err(io_err("read", path))?;
            if holds_a_chunk(buf.get(CHUNK_HEADER_LEN..).unwrap_or_default()) {
                return Err(corrupt(at, "chunk header does not verify"));
            }
            replay.torn_tail = true;
            return Ok(replay);
        };
        let total = chunk_len(count);
        if total > remaining {
            replay.torn_tail = true;
            return Ok(replay);
        }
        // total <= MAX_CHUNK_LEN, a few MiB: the cast is lossless
        let body_len = total as usize - CHUNK_HEADER_LEN;
        buf.clear();
        buf.extend_from_slice(&chunk_header);
        buf.resize(total as usize, 0);
        read_exact(
            file,
            buf.get_mut(CHUNK_HEADER_LEN..).unwrap_or_default(),
            path,
            truncated,
        )?;
        let (covered, stored) = buf.split_at(CHUNK_HEADER_LEN + body_len - CHECKSUM_LEN);
        if chunk_checksum(covered) != le_u64(stored) {
            if total == remaining {
                replay.torn_tail = true;
                return Ok(replay);
            }
            return Err(corrupt(at, "chunk checksum mismatch"));
        }
        for tag in covered
            .get(CHUNK_HEADER_LEN..)
            .unwrap_or_default()
            .chunks_exact(TAG_LEN)
        {
            if let Ok(tag) = <&[u8; TAG_LEN]>::try_from(tag) {
                filter.insert_tag(tag);
            }
        }
        replay.tags += u64::from(count);
        replay.valid_len += total;
    }
}

/// Whether a complete, verifying chunk starts at some 8-byte boundary of `bytes`.
fn holds_a_chunk(bytes: &[u8]) -> bool {
    (0..bytes.len()).step_by(8).any(|at| {
        let Some(count) = bytes.get(at..).and_then(chunk_count) else {
            return false;
        };
        // chunk_len(count) <= MAX_CHUNK_LEN: the cast is lossless
        let end = at + chunk_len(count) as usize;
        let Some(chunk) = bytes.get(at..end) else {
            return false;
        };
        let (covered, stored) = chunk.split_at(chunk.len() - CHECKSUM_LEN);
        chunk_checksum(covered) == le_u64(stored)
    })
}

fn check_header(
    header: &[u8; HEADER_LEN],
    path: &Path,
    key_id: [u8; 32],
) -> Result<(), ReplayError> {
    if header[0..8] != MAGIC {
        return Err(ReplayError::BadMagic {
            path: path.to_path_buf(),
        });
    }
    let version = le_u32(&header[8..12]);
    if version != FORMAT_VERSION {
        return Err(ReplayError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let computed = chunk_checksum(&header[..48]);
    let stored = le_u64(&header[48..56]);
    if computed != stored {
        return Err(ReplayError::ChecksumMismatch {
            path: path.to_path_buf(),
            stored,
            computed,
        });
    }
    if le_u32(&header[12..16]) != 0 {
        return Err(ReplayError::CorruptHeader {
            path: path.to_path_buf(),
            what: "flags not zero",
        });
    }
    let mut found = [0u8; 32];
    found.copy_from_slice(&header[16..48]);
    if found != key_id {
        return Err(ReplayError::JournalKeyMismatch {
            path: path.to_path_buf(),
            found,
        });
    }
    Ok(())
}

fn encode_header(key_id: [u8; 32]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..48].copy_from_slice(&key_id);
    let sum = chunk_checksum(&header[..48]);
    header[48..56].copy_from_slice(&sum.to_le_bytes());
    header
}

/// The journal of one key's accepted tags, open for appending; see the module docs.
#[derive(Debug)]
pub struct ReplayJournal {
    file: File,
    path: PathBuf,
    key_id: [u8; 32],
    /// Appended, not yet durable.
    pending: Vec<[u8; TAG_LEN]>,
    /// One chunk's bytes, reused.
    chunk: Vec<u8>,
    /// The file's length up to its last durable chunk: where the next chunk goes.
    len: u64,
    /// Tags in the durable chunks.
    durable: u64,
}

impl ReplayJournal {
    /// A new, empty journal for the key `key_id` at `path`, replacing any file there (use
    /// [`Self::resume`] to continue a journal after a restart). The header is durable when
    /// this returns.
    pub fn create(path: &Path, key_id: [u8; 32]) -> Result<Self, ReplayError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io_err("create", path))?;
        file.write_all(&encode_header(key_id))
            .map_err(io_err("write", path))?;
        file.sync_all().map_err(io_err("fsync", path))?;
        sync_parent_dir(path)?;
        Ok(Self::opened(file, path, key_id, HEADER_LEN as u64, 0))
    }

    /// Continues the journal at `path` after a restart: replays it into `filter` (see
    /// [`replay_journal`]), cuts off a torn tail so new chunks follow verified ones, and opens
    /// it for appending. Without a file (or with one torn while it was created) a new journal
    /// is created. A journal of another key or a corrupt one is an error and left as it is.
    pub fn resume(
        path: &Path,
        key_id: [u8; 32],
        filter: &ReplayFilter,
    ) -> Result<(Self, JournalReplay), ReplayError> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let fresh = JournalReplay {
                    tags: 0,
                    torn_tail: false,
                    valid_len: HEADER_LEN as u64,
                };
                return Ok((Self::create(path, key_id)?, fresh));
            }
            Err(e) => return Err(io_err("open", path)(e)),
        };
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        let replay = replay_open(&mut file, path, len, key_id, filter)?;
        if replay.valid_len < HEADER_LEN as u64 {
            drop(file);
            return Ok((Self::create(path, key_id)?, replay));
        }
        if replay.valid_len < len {
            file.set_len(replay.valid_len)
                .map_err(io_err("truncate", path))?;
            file.sync_all().map_err(io_err("fsync", path))?;
        }
        Ok((
            Self::opened(file, path, key_id, replay.valid_len, replay.tags),
            replay,
        ))
    }

    fn opened(file: File, path: &Path, key_id: [u8; 32], len: u64, durable: u64) -> Self {
        ReplayJournal {
            file,
            path: path.to_path_buf(),
            key_id,
            pending: Vec::new(),
            chunk: Vec::new(),
            len,
            durable,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key the journal belongs to.
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    /// Queues `tags` for the next [`Self::sync`]; no IO.
    pub fn append(&mut self, tags: &[[u8; 32]]) {
        self.pending.extend_from_slice(tags);
    }

    /// Tags appended since the last successful sync.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Tags in the journal that a crash cannot lose.
    pub fn durable_tags(&self) -> u64 {
        self.durable
    }

    /// Writes the appended tags, one chunk of at most [`MAX_CHUNK_TAGS`] per `fdatasync`, and
    /// returns how many tags the journal now holds durably. On an error the chunks synced
    /// before it stay, the file is cut back to them (best effort) and the other tags stay
    /// pending for the next call.
    pub fn sync(&mut self) -> Result<u64, ReplayError> {
        let mut written = 0;
        let mut result = Ok(());
        for tags in self.pending.chunks(MAX_CHUNK_TAGS as usize) {
            // tags.len() <= MAX_CHUNK_TAGS: the cast is lossless
            let count = tags.len() as u32;
            self.chunk.clear();
            self.chunk.extend_from_slice(&count.to_le_bytes());
            self.chunk
                .extend_from_slice(&count_check(count).to_le_bytes());
            for tag in tags {
                self.chunk.extend_from_slice(tag);
            }
            let sum = chunk_checksum(&self.chunk);
            self.chunk.extend_from_slice(&sum.to_le_bytes());
            let path = self.path.as_path();
            let done = self
                .file
                .seek(SeekFrom::Start(self.len))
                .map_err(io_err("seek", path))
                .and_then(|_| {
                    self.file
                        .write_all(&self.chunk)
                        .map_err(io_err("write", path))
                })
                .and_then(|()| self.file.sync_data().map_err(io_err("fdatasync", path)));
            if let Err(error) = done {
                // A partial chunk must not stay in front of the next one.
                let _ = self.file.set_len(self.len);
                result = Err(error);
                break;
            }
            self.len += self.chunk.len() as u64;
            self.durable += u64::from(count);
            written += tags.len();
        }
        self.pending.drain(..written);
        result.map(|()| self.durable)
    }
}

#[cfg(test)]
mod tests;
