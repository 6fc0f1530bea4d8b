//! The container's output as a CRI log file, the format the kubelet reads
//! (`crictl logs`, `kubectl logs`): one record per line,
//!
//! ```text
//! 2026-12-01T23:11:02.123456789Z stdout F hello world
//! 2026-12-01T23:11:02.123470001Z stderr P a chunk with no newline yet
//! ```
//!
//! - `F` ends a line; its newline is not part of the content.
//! - `P` is a piece of a longer line: written when a stream has
//!   [`PARTIAL_LIMIT`] bytes without a newline, and for what is left when
//!   the stream ends. The next records of that stream continue the line.
//! - Rotation: before a record would take the file past `size_max`,
//!   `log.N-1` -> `log.N`, ..., `log` -> `log.1`, and a new `log` is
//!   started; `max_files` counts every file kept, the live one included
//!   (with 1 the live file is truncated). A record is never split across
//!   files, so one longer than `size_max` makes a file of its own.
//! - [`CriLog::reopen`] reopens the path (after an external logrotate).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::timefmt;

/// A line with this many bytes and no newline is written as `P` pieces.
pub const PARTIAL_LIMIT: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log {path}: open: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("log {path}: write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("log {path}: rotate: {source}")]
    Rotate {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn tag(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// `F` (full line) or `P` (partial).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Full,
    Partial,
}

impl Tag {
    fn letter(self) -> u8 {
        match self {
            Tag::Full => b'F',
            Tag::Partial => b'P',
        }
    }
}

/// Splits one stream's bytes into records; keeps the unfinished line.
#[derive(Debug, Default)]
pub struct Framer {
    pending: Vec<u8>,
}

impl Framer {
    /// Feeds bytes; `emit(tag, head, tail)` gets each record's content as
    /// two slices (held bytes, then new ones) so nothing is copied twice.
    pub fn feed(&mut self, mut data: &[u8], limit: usize, mut emit: impl FnMut(Tag, &[u8], &[u8])) {
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = (&data[..nl], &data[nl + 1..]);
            if self.pending.len() + line.len() > limit {
                // Too long for one record: pieces of `limit`, then the end.
                self.pending.extend_from_slice(line);
                self.emit_pieces(limit, &mut emit);
                emit(Tag::Full, &self.pending, &[]);
            } else {
                emit(Tag::Full, &self.pending, line);
            }
            self.pending.clear();
            data = rest;
        }
        self.pending.extend_from_slice(data);
        self.emit_pieces(limit, &mut emit);
        if self.pending.capacity() > 2 * limit {
            self.pending.shrink_to(limit);
        }
    }

    /// Emits every whole `limit`-sized piece held, keeping the rest.
    fn emit_pieces(&mut self, limit: usize, emit: &mut impl FnMut(Tag, &[u8], &[u8])) {
        let mut start = 0;
        while self.pending.len() - start >= limit {
            emit(Tag::Partial, &self.pending[start..start + limit], &[]);
            start += limit;
        }
        self.pending.drain(..start);
    }

    /// The stream ended: what is held becomes a final `P` record.
    pub fn finish(&mut self, mut emit: impl FnMut(Tag, &[u8], &[u8])) {
        if !self.pending.is_empty() {
            emit(Tag::Partial, &self.pending, &[]);
            self.pending = Vec::new();
        }
    }
}

/// Appends one record to `out`.
pub fn format_record(out: &mut Vec<u8>, ts: &str, s: Stream, tag: Tag, head: &[u8], tail: &[u8]) {
    out.extend_from_slice(ts.as_bytes());
    out.push(b' ');
    out.extend_from_slice(s.tag().as_bytes());
    out.push(b' ');
    out.push(tag.letter());
    out.push(b' ');
    out.extend_from_slice(head);
    out.extend_from_slice(tail);
    out.push(b'\n');
}

/// `log` -> `log.N`.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Shifts `log.K` -> `log.K+1` (the oldest falls off) and `log` -> `log.1`,
/// keeping `max_files` files in all once a new live file is opened.
pub fn rotate_files(path: &Path, max_files: u32) -> io::Result<()> {
    if max_files <= 1 {
        return Ok(()); // the caller truncates the live file instead
    }
    let ignore_missing = |r: io::Result<()>| match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    };
    ignore_missing(fs::remove_file(rotated_path(path, max_files - 1)))?;
    for k in (1..max_files - 1).rev() {
        ignore_missing(fs::rename(rotated_path(path, k), rotated_path(path, k + 1)))?;
    }
    ignore_missing(fs::rename(path, rotated_path(path, 1)))
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub path: PathBuf,
    /// 0: no cap.
    pub size_max: u64,
    pub max_files: u32,
}

/// The log file and the unfinished line of each stream.
#[derive(Debug)]
pub struct CriLog {
    cfg: LogConfig,
    file: File,
    size: u64,
    framers: [Framer; 2],
}

fn open_append(path: &Path, truncate: bool) -> Result<(File, u64), LogError> {
    let open_err = |source| LogError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut o = OpenOptions::new();
    if truncate {
        o.write(true).truncate(true);
    } else {
        o.append(true);
    }
    let f = o.create(true).open(path).map_err(open_err)?;
    let size = f.metadata().map_err(open_err)?.len();
    Ok((f, size))
}

impl CriLog {
    pub fn open(cfg: LogConfig) -> Result<Self, LogError> {
        let (file, size) = open_append(&cfg.path, false)?;
        Ok(CriLog {
            cfg,
            file,
            size,
            framers: Default::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.cfg.path
    }

    /// Logs bytes read from one stream.
    pub fn write(&mut self, s: Stream, data: &[u8]) -> Result<(), LogError> {
        let mut records = Vec::new();
        let ts = timefmt::now();
        let mut framer = std::mem::take(&mut self.framers[s.index()]);
        let mut result = Ok(());
        framer.feed(data, PARTIAL_LIMIT, |tag, head, tail| {
            records.clear();
            format_record(&mut records, &ts, s, tag, head, tail);
            if result.is_ok() {
                result = self.append(&records);
            }
        });
        self.framers[s.index()] = framer;
        result
    }

    /// The stream reached EOF: its unfinished line goes out as `P`.
    pub fn finish(&mut self, s: Stream) -> Result<(), LogError> {
        let ts = timefmt::now();
        let mut records = Vec::new();
        self.framers[s.index()].finish(|tag, head, tail| {
            format_record(&mut records, &ts, s, tag, head, tail);
        });
        if records.is_empty() {
            return Ok(());
        }
        self.append(&records)
    }

    /// Opens the path again (it may have been moved away).
    pub fn reopen(&mut self) -> Result<(), LogError> {
        let (file, size) = open_append(&self.cfg.path, false)?;
        self.file = file;
        self.size = size;
        Ok(())
    }

    fn append(&mut self, record: &[u8]) -> Result<(), LogError> {
        let len = record.len() as u64;
        if self.cfg.size_max > 0 && self.size > 0 && self.size + len > self.cfg.size_max {
            self.rotate()?;
        }
        self.file
            .write_all(record)
            .map_err(|source| LogError::Write {
                path: self.cfg.path.clone(),
                source,
            })?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        rotate_files(&self.cfg.path, self.cfg.max_files).map_err(|source| LogError::Rotate {
            path: self.cfg.path.clone(),
            source,
        })?;
        let (file, size) = open_append(&self.cfg.path, self.cfg.max_files <= 1)?;
        self.file = file;
        self.size = size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]], limit: usize) -> Vec<(Tag, String)> {
        let mut f = Framer::default();
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, limit, |t, h, tl| {
                out.push((
                    t,
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(h),
                        String::from_utf8_lossy(tl)
                    ),
                ))
            });
        }
        f.finish(|t, h, tl| {
            out.push((
                t,
                format!(
                    "{}{}",
                    String::from_utf8_lossy(h),
                    String::from_utf8_lossy(tl)
                ),
            ))
        });
        out
    }

    use Tag::{Full as F, Partial as P};

    #[test]
    fn lines_split_on_newlines_and_keep_no_newline() {
        assert_eq!(
            frame(&[b"a\nbc\n\nd"], 100),
            [
                (F, "a".into()),
                (F, "bc".into()),
                (F, "".into()),
                (P, "d".into())
            ]
        );
    }

    #[test]
    fn a_line_split_across_reads_is_one_record() {
        assert_eq!(
            frame(&[b"hel", b"lo\nwor", b"ld\n"], 100),
            [(F, "hello".into()), (F, "world".into())]
        );
    }

    #[test]
    fn a_long_line_goes_out_as_partial_pieces_then_full() {
        assert_eq!(
            frame(&[b"abcdefghij", b"k\n"], 4),
            [(P, "abcd".into()), (P, "efgh".into()), (F, "ijk".into())]
        );
        // Exactly at the limit with the newline in the same read: one F.
        assert_eq!(frame(&[b"abcd\n"], 4), [(F, "abcd".into())]);
        // A line longer than the limit inside one read.
        assert_eq!(
            frame(&[b"abcdef\nx\n"], 4),
            [(P, "abcd".into()), (F, "ef".into()), (F, "x".into())]
        );
    }

    #[test]
    fn eof_flushes_the_unfinished_line_as_partial() {
        assert_eq!(frame(&[b"no newline"], 100), [(P, "no newline".into())]);
        assert_eq!(frame(&[b"done\n"], 100), [(F, "done".into())]);
    }

    #[test]
    fn record_format_is_cri() {
        let mut out = Vec::new();
        format_record(
            &mut out,
            "2026-12-01T23:11:02.123456789Z",
            Stream::Stderr,
            Tag::Partial,
            b"ab",
            b"c",
        );
        assert_eq!(out, b"2026-12-01T23:11:02.123456789Z stderr P abc\n");
    }

    #[test]
    fn rotation_names_and_shifts_keep_max_files() {
        let dir = std::env::temp_dir().join(format!("berth-shim-rot-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("c.log");
        assert_eq!(rotated_path(&log, 2), dir.join("c.log.2"));
        for gen in 0..5 {
            fs::write(&log, format!("gen{gen}")).unwrap();
            rotate_files(&log, 3).unwrap();
        }
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c.log.1", "c.log.2"]);
        assert_eq!(fs::read_to_string(dir.join("c.log.1")).unwrap(), "gen4");
        assert_eq!(fs::read_to_string(dir.join("c.log.2")).unwrap(), "gen3");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_writer_rotates_before_a_record_would_pass_the_cap() {
        let dir = std::env::temp_dir().join(format!("berth-shim-cap-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.log");
        let mut log = CriLog::open(LogConfig {
            path: path.clone(),
            size_max: 200,
            max_files: 2,
        })
        .unwrap();
        for i in 0..20 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        let live = fs::read_to_string(&path).unwrap();
        let old = fs::read_to_string(rotated_path(&path, 1)).unwrap();
        assert!(live.len() <= 200 && old.len() <= 200);
        assert!(!rotated_path(&path, 2).exists());
        let all: Vec<&str> = old.lines().chain(live.lines()).collect();
        assert!(all.last().unwrap().ends_with("stdout F line 19"), "{all:?}");
        // Consecutive numbers across the two files: nothing lost at the seam.
        let nums: Vec<u32> = all
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
