//! Persistence: a restart must not reopen the replay window, so the filter is saved to a
//! file and loaded back for the same key (see [`ReplayFilter::save`] for the format).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{
    FreshReason, LoadOutcome, ReplayError, ReplayFilter, ReplayFilterParams, MAX_HASHES, MAX_WORDS,
};

const MAGIC: [u8; 8] = *b"MIXRPLF\0";
const FORMAT_VERSION: u32 = 1;
/// magic(8) version(4) flags(4) key_id(32) words(8) k(4) pad(4) inserted(8)
pub(super) const HEADER_LEN: usize = 72;
pub(super) const CHECKSUM_LEN: u64 = 8;
const IO_CHUNK: usize = 64 * 1024;

impl ReplayFilter {
    /// Write the filter atomically to `path`.
    ///
    /// Writes `path.tmp`, fsyncs it, renames it over `path` and fsyncs the
    /// directory, so a crash leaves either the old file or the new one.
    /// Concurrent inserts during a save are allowed: each word is read
    /// once, so a tag inserted meanwhile may be missing from the file
    /// (forgotten after a restart) but a restored filter never reports a
    /// tag that was not inserted, beyond ordinary false positives. For a
    /// complete snapshot, save after the cores have stopped.
    ///
    /// Format (all integers little-endian): magic `MIXRPLF\0`, version
    /// `u32`, flags `u32` (0), key id (32 bytes), words `u64`, k `u32`,
    /// padding `u32` (0), inserted `u64`, the words, then a `u64` checksum:
    /// FNV-1a over the preceding bytes taken as 64-bit little-endian lanes.
    /// Lane-wise FNV-1a detects any single corrupted lane with certainty
    /// (each step is a bijection of the state) and is fast enough for a
    /// gigabyte at start-up; it is for corruption, not for adversaries.
    pub fn save(&self, path: &Path) -> Result<(), ReplayError> {
        let tmp = tmp_path(path);
        let result = self
            .write_file(&tmp)
            .and_then(|()| fs::rename(&tmp, path).map_err(io_err("rename to", path)))
            .and_then(|()| sync_parent_dir(path));
        if result.is_err() {
            // Best effort: a stale temp file is harmless, it is rewritten
            // by the next save.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_file(&self, tmp: &Path) -> Result<(), ReplayError> {
        let err = io_err("write", tmp);
        let mut file = File::create(tmp).map_err(io_err("create", tmp))?;
        let mut header = [0u8; HEADER_LEN];
        header[0..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[16..48].copy_from_slice(&self.key_id);
        header[48..56].copy_from_slice(&self.params.words.to_le_bytes());
        header[56..60].copy_from_slice(&self.params.k.to_le_bytes());
        header[64..72].copy_from_slice(&self.inserted().to_le_bytes());
        let mut sum = Fnv64Lanes::new();
        sum.update_bytes(&header);
        file.write_all(&header).map_err(&err)?;

        let mut buf = Vec::with_capacity(IO_CHUNK);
        for chunk in self.words.chunks(IO_CHUNK / 8) {
            buf.clear();
            for w in chunk {
                let v = w.load(Ordering::Relaxed);
                sum.update(v);
                buf.extend_from_slice(&v.to_le_bytes());
            }
            file.write_all(&buf).map_err(&err)?;
        }
        file.write_all(&sum.finish().to_le_bytes()).map_err(&err)?;
        file.sync_all().map_err(io_err("fsync", tmp))
    }

    /// Load the filter saved at `path` for `expected_key_id`.
    ///
    /// Returns [`LoadOutcome::Fresh`] when there is no file, when it
    /// belongs to another key (rotation happened while we were down), or
    /// when its geometry differs from `params`. A file that is truncated,
    /// corrupt or fails its checksum is an error: the caller decides
    /// whether to refuse to start or to start empty (accepting that
    /// replays of pre-restart packets get through).
    ///
    /// The checksum covers the whole file and is verified before the key
    /// id is trusted, so a bit flip in the key id is reported as
    /// corruption rather than silently treated as a rotation. The file is
    /// streamed in 64 KiB chunks straight into the new filter's words, so
    /// loading needs the filter's memory plus one chunk.
    pub fn load(
        path: &Path,
        expected_key_id: [u8; 32],
        params: ReplayFilterParams,
    ) -> Result<LoadOutcome, ReplayError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(LoadOutcome::Fresh(
                    Self::new(params, expected_key_id),
                    FreshReason::NoFile,
                ))
            }
            Err(e) => return Err(io_err("open", path)(e)),
        };
        let actual = file.metadata().map_err(io_err("stat", path))?.len();
        let header = SavedHeader::read(&mut file, path, actual)?;
        let matches = header.key_id == expected_key_id
            && header.words == params.words
            && header.k == params.k;
        // Only allocate when the contents will be kept; otherwise just
        // stream through to verify the checksum.
        let mut filter = matches.then(|| Self::new(params, expected_key_id));
        let mut sum = Fnv64Lanes::new();
        sum.update_bytes(&header.bytes);
        header.read_words(&mut file, path, actual, &mut sum, filter.as_mut())?;
        header.check_trailer(&mut file, path, sum.finish(), actual)?;
        Ok(match filter {
            Some(mut f) => {
                // the stripes only ever matter summed
                for (i, stripe) in f.inserted.iter_mut().enumerate() {
                    *stripe.0.get_mut() = if i == 0 { header.inserted } else { 0 };
                }
                LoadOutcome::Restored(f)
            }
            None => {
                let reason = if header.key_id != expected_key_id {
                    FreshReason::KeyMismatch
                } else {
                    FreshReason::ParamsMismatch
                };
                LoadOutcome::Fresh(Self::new(params, expected_key_id), reason)
            }
        })
    }
}

/// The header of a saved filter, checked for everything it can be checked for alone.
struct SavedHeader {
    bytes: [u8; HEADER_LEN],
    key_id: [u8; 32],
    words: u64,
    k: u32,
    inserted: u64,
    /// The file length the header implies: header, words, checksum.
    file_len: u64,
}

impl SavedHeader {
    /// Reads and checks the header of a file `actual` bytes long: magic, version, reserved
    /// fields, geometry in range, and a length that matches the geometry exactly.
    fn read(file: &mut File, path: &Path, actual: u64) -> Result<Self, ReplayError> {
        let truncated = |expected: u64| ReplayError::Truncated {
            path: path.to_path_buf(),
            expected,
            actual,
        };
        let min_len = HEADER_LEN as u64 + CHECKSUM_LEN;
        if actual < min_len {
            return Err(truncated(min_len));
        }
        let mut bytes = [0u8; HEADER_LEN];
        read_exact(file, &mut bytes, path, || truncated(min_len))?;
        if bytes[0..8] != MAGIC {
            return Err(ReplayError::BadMagic {
                path: path.to_path_buf(),
            });
        }
        let version = le_u32(&bytes[8..12]);
        if version != FORMAT_VERSION {
            return Err(ReplayError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
        let corrupt = |what| ReplayError::CorruptHeader {
            path: path.to_path_buf(),
            what,
        };
        if le_u32(&bytes[12..16]) != 0 || le_u32(&bytes[60..64]) != 0 {
            return Err(corrupt("reserved field not zero"));
        }
        let mut key_id = [0u8; 32];
        key_id.copy_from_slice(&bytes[16..48]);
        let words = le_u64(&bytes[48..56]);
        let k = le_u32(&bytes[56..60]);
        if words == 0 || words > MAX_WORDS {
            return Err(corrupt("word count out of range"));
        }
        if k == 0 || k > MAX_HASHES {
            return Err(corrupt("hash count out of range"));
        }
        // words <= 2^29, so this cannot overflow.
        let file_len = min_len + words * 8;
        if actual < file_len {
            return Err(truncated(file_len));
        }
        if actual > file_len {
            return Err(ReplayError::TrailingData {
                path: path.to_path_buf(),
                expected: file_len,
                actual,
            });
        }
        Ok(SavedHeader {
            bytes,
            key_id,
            words,
            k,
            inserted: le_u64(&bytes[64..72]),
            file_len,
        })
    }

    /// Streams the filter's words through the checksum, into `filter` when it is kept.
    fn read_words(
        &self,
        file: &mut File,
        path: &Path,
        actual: u64,
        sum: &mut Fnv64Lanes,
        mut filter: Option<&mut ReplayFilter>,
    ) -> Result<(), ReplayError> {
        let truncated = || ReplayError::Truncated {
            path: path.to_path_buf(),
            expected: self.file_len,
            actual,
        };
        let mut buf = vec![0u8; IO_CHUNK];
        let mut remaining = self.words;
        let mut next_word = 0usize;
        while remaining > 0 {
            let lanes = remaining.min((IO_CHUNK / 8) as u64);
            // lanes <= IO_CHUNK / 8, so the cast and the slice are in range.
            let bytes = &mut buf[..lanes as usize * 8];
            read_exact(file, bytes, path, truncated)?;
            for lane in bytes.chunks_exact(8) {
                let v = le_u64(lane);
                sum.update(v);
                if let Some(f) = filter.as_deref_mut() {
                    if let Some(w) = f.words.get_mut(next_word) {
                        *w.get_mut() = v;
                    }
                }
                next_word += 1;
            }
            remaining -= lanes;
        }
        Ok(())
    }

    /// Checks the stored checksum against `computed`, and that nothing follows it (the file
    /// may have grown since it was measured).
    fn check_trailer(
        &self,
        file: &mut File,
        path: &Path,
        computed: u64,
        actual: u64,
    ) -> Result<(), ReplayError> {
        let expected = self.file_len;
        let mut stored = [0u8; 8];
        read_exact(file, &mut stored, path, || ReplayError::Truncated {
            path: path.to_path_buf(),
            expected,
            actual,
        })?;
        let stored = u64::from_le_bytes(stored);
        if stored != computed {
            return Err(ReplayError::ChecksumMismatch {
                path: path.to_path_buf(),
                stored,
                computed,
            });
        }
        let mut probe = [0u8; 1];
        match file.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(ReplayError::TrailingData {
                path: path.to_path_buf(),
                expected,
                actual: actual.max(expected + 1),
            }),
            Err(e) => Err(io_err("read", path)(e)),
        }
    }
}

pub(super) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl Fn(io::Error) -> ReplayError + 'a {
    move |source| ReplayError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn read_exact(
    file: &mut File,
    buf: &mut [u8],
    path: &Path,
    truncated: impl FnOnce() -> ReplayError,
) -> Result<(), ReplayError> {
    file.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            truncated()
        } else {
            io_err("read", path)(e)
        }
    })
}

pub(super) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Make the rename durable. Directories cannot be opened for fsync on
/// every platform; mix nodes run on Unix, elsewhere this is a no-op.
pub(super) fn sync_parent_dir(path: &Path) -> Result<(), ReplayError> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory of", path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

pub(super) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub(super) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// FNV-1a over 64-bit lanes (see [`ReplayFilter::save`]).
pub(super) struct Fnv64Lanes(u64);

impl Fnv64Lanes {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub(super) fn new() -> Self {
        Self(Self::OFFSET)
    }

    pub(super) fn update(&mut self, lane: u64) {
        self.0 = (self.0 ^ lane).wrapping_mul(Self::PRIME);
    }

    /// `bytes.len()` is a multiple of 8 at every call site (headers, journal chunks).
    pub(super) fn update_bytes(&mut self, bytes: &[u8]) {
        for lane in bytes.chunks_exact(8) {
            self.update(le_u64(lane));
        }
    }

    pub(super) fn finish(&self) -> u64 {
        self.0
    }
}
