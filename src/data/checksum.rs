//! SHA-256 of decoded IDX files, checked against a `sha256sum`-style list (`PAYLOAD_SHA256SUMS`).
//!
//! The checksum is over the decoded file (header and payload), so the same data gzipped by a
//! different compressor still verifies; `zcat train-images-idx3-ubyte.gz | sha256sum` gives it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::data::idx::header;
use crate::data::mnist::{Mnist, MnistFiles, FILE_NAMES};
use crate::data::split::Split;
use crate::error::{Error, Result};

/// The checksum list of decoded payloads, in the data directory.
pub const PAYLOAD_SUMS_FILE: &str = "PAYLOAD_SHA256SUMS";

/// What the payload check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadCheck {
    /// The directory has no [`PAYLOAD_SUMS_FILE`]: nothing to check (not an error).
    NoChecksumFile,
    /// The listed files all matched; `unlisted` names standard files the list does not cover.
    Verified {
        verified: Vec<&'static str>,
        unlisted: Vec<&'static str>,
    },
}

impl fmt::Display for PayloadCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadCheck::NoChecksumFile => {
                write!(
                    f,
                    "payload checksums: no checksum file ({PAYLOAD_SUMS_FILE})"
                )
            }
            PayloadCheck::Verified { verified, unlisted } => {
                write!(
                    f,
                    "payload checksums: {} of {} decoded files match {PAYLOAD_SUMS_FILE}",
                    verified.len(),
                    FILE_NAMES.len()
                )?;
                if !unlisted.is_empty() {
                    write!(f, " (not listed: {})", unlisted.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

/// Lowercase hex SHA-256 of a decoded u8 IDX file.
///
/// ```text
/// sha256( header(dims) ++ data )     header as in crate::data::idx::header
/// ```
///
/// # Panics
/// As [`header`]: more than 255 dimensions or a dimension above `u32::MAX`.
#[track_caller]
pub fn idx_sha256(dims: &[usize], data: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(header(dims));
    hasher.update(data);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a `sha256sum` list: `<64 hex digits> <space> <space or *> <name>` per line.
///
/// ```text
/// "ba89…76db  train-images-idx3-ubyte"  →  { "train-images-idx3-ubyte": "ba89…76db" }
/// ```
/// Blank lines are skipped. Returns `None` when the file does not exist.
///
/// # Errors
/// [`Error::Io`] if it cannot be read, [`Error::ChecksumFile`] naming a malformed line.
pub fn read_sums(path: &Path) -> Result<Option<BTreeMap<String, String>>> {
    match fs::read_to_string(path) {
        Ok(text) => parse_sums(path, &text).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Parses the text of a `sha256sum` list (see [`read_sums`]); `path` names it in errors.
///
/// # Errors
/// [`Error::ChecksumFile`] naming a malformed line.
pub fn parse_sums(path: &Path, text: &str) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| Error::ChecksumFile {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.into(),
        };
        let (digest, name) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected `<sha256>  <name>`"))?;
        let name = name
            .strip_prefix(' ')
            .or_else(|| name.strip_prefix('*'))
            .ok_or_else(|| bad("expected two spaces or ` *` between digest and name"))?;
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the digest is not 64 hex digits"));
        }
        sums.insert(name.to_string(), digest.to_ascii_lowercase());
    }
    Ok(sums)
}

/// Checks the decoded files of a loaded data set against `dir/PAYLOAD_SHA256SUMS`.
///
/// ```text
/// for each standard name listed:  idx_sha256(decoded file) = listed digest
/// ```
/// The digests are computed from `mnist` (the header is determined by the shape), so nothing is
/// read twice.
///
/// # Errors
/// [`Error::ChecksumMismatch`] naming the first data file whose digest differs, or the errors
/// of [`read_sums`].
pub fn verify_payloads(dir: &Path, files: &MnistFiles, mnist: &Mnist) -> Result<PayloadCheck> {
    match read_sums(&dir.join(PAYLOAD_SUMS_FILE))? {
        Some(sums) => check_payloads(&sums, files, mnist),
        None => Ok(PayloadCheck::NoChecksumFile),
    }
}

/// Checks the decoded files of a loaded data set against the digests `sums` (by file name).
///
/// # Errors
/// [`Error::ChecksumMismatch`] naming the first data file whose digest differs.
pub fn check_payloads(
    sums: &BTreeMap<String, String>,
    files: &MnistFiles,
    mnist: &Mnist,
) -> Result<PayloadCheck> {
    let (mut verified, mut unlisted) = (Vec::new(), Vec::new());
    let splits = [&mnist.train, &mnist.train, &mnist.test, &mnist.test];
    for (k, ((name, path), split)) in FILE_NAMES.iter().zip(files.paths()).zip(splits).enumerate() {
        let Some(expected) = sums.get(*name) else {
            unlisted.push(*name);
            continue;
        };
        let found = if k % 2 == 0 {
            images_sha256(split)
        } else {
            idx_sha256(&[split.len()], split.labels())
        };
        if &found != expected {
            return Err(Error::ChecksumMismatch {
                path: path.to_path_buf(),
                expected: expected.clone(),
                found,
            });
        }
        verified.push(*name);
    }
    Ok(PayloadCheck::Verified { verified, unlisted })
}

/// The digest of a split's image file: dims `(n, rows, cols)`, pixels row-major.
fn images_sha256(split: &Split) -> String {
    let (rows, cols) = split.image_shape();
    let pixels = split.pixels();
    let data = pixels
        .as_slice()
        .expect("Split keeps its pixels in standard layout");
    idx_sha256(&[split.len(), rows, cols], data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_line_lists_unlisted_files_only_when_there_are_some() {
        let all = PayloadCheck::Verified {
            verified: FILE_NAMES.to_vec(),
            unlisted: Vec::new(),
        };
        assert_eq!(
            all.to_string(),
            "payload checksums: 4 of 4 decoded files match PAYLOAD_SHA256SUMS"
        );
        let some = PayloadCheck::Verified {
            verified: vec![FILE_NAMES[0]],
            unlisted: FILE_NAMES[1..].to_vec(),
        };
        assert_eq!(
            some.to_string(),
            format!(
                "payload checksums: 1 of 4 decoded files match PAYLOAD_SHA256SUMS (not listed: {})",
                FILE_NAMES[1..].join(", ")
            )
        );
    }

    #[test]
    fn a_digest_must_be_64_hex_digits() {
        let path = Path::new(PAYLOAD_SUMS_FILE);
        let digest = "0123456789abcdef".repeat(4);
        let sums = parse_sums(
            path,
            &format!("{}  a\n\n{digest} *b\n", digest.to_uppercase()),
        );
        assert_eq!(
            sums.unwrap().into_iter().collect::<Vec<_>>(),
            [
                ("a".to_string(), digest.clone()),
                ("b".to_string(), digest.clone())
            ]
        );
        for (line, bad) in [
            (format!("{}  a", &digest[1..]), "63 hex digits"),
            (format!("{digest}0  a"), "65 hex digits"),
            (format!("g{}  a", &digest[1..]), "64 digits, one not hex"),
        ] {
            match parse_sums(path, &format!("{digest}  ok\n{line}\n")) {
                Err(Error::ChecksumFile {
                    line: 2, reason, ..
                }) => {
                    assert_eq!(reason, "the digest is not 64 hex digits", "{bad}")
                }
                other => panic!("{bad}: expected a ChecksumFile error on line 2, got {other:?}"),
            }
        }
    }

    /// Only a missing list means "nothing to check"; a list that exists but cannot be read is
    /// an error naming it (here a folder in its place: root reads any file, so permissions
    /// cannot make one unreadable).
    #[test]
    fn a_list_that_cannot_be_read_is_an_error_not_a_missing_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PAYLOAD_SUMS_FILE);
        assert!(matches!(read_sums(&path), Ok(None)));
        fs::create_dir(&path).unwrap();
        match read_sums(&path) {
            Err(Error::Io { path: named, .. }) => assert_eq!(named, path),
            other => panic!("expected an Io error naming the list, got {other:?}"),
        }
    }
}
