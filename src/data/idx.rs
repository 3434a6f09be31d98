//! IDX files (the format MNIST ships in), raw or gzip-compressed, read with validation.
//!
//! ```text
//! offset   bytes        meaning
//! 0        2            0x00 0x00
//! 2        1            dtype code: 0x08 u8 · 0x09 i8 · 0x0B i16 · 0x0C i32 · 0x0D f32 · 0x0E f64
//! 3        1            d, the number of dimensions
//! 4        4·d          the dimensions, big-endian u32
//! 4 + 4·d  Π dims       the payload, row-major (last dimension fastest), one byte per u8 element
//! ```
//!
//! A file whose first two bytes are the gzip magic `1f 8b` is decompressed first, whatever its
//! name. Only u8 payloads are read; the other dtypes are reported by name, never misread.
//!
//! Nothing is allocated before the header has been checked against the size of the file: a raw
//! file must hold exactly `header + Π dims` bytes, and a gzip file cannot decompress to more than
//! [`MAX_GZIP_RATIO`] times its own size. A gzip payload is then read through `take(Π dims)` into a
//! growing buffer, so even a header that passes the bound can never make the reader hold more
//! than the stream yields.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use byteorder::{BigEndian, ByteOrder};
use flate2::bufread::MultiGzDecoder;

use crate::error::{Error, Result};

/// The first two bytes of every gzip stream (RFC 1952).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The IDX dtype code of unsigned bytes, the only one read.
pub const DTYPE_U8: u8 = 0x08;

/// The largest expansion deflate can reach: 258 output bytes per 2-bit code, about 1032:1.
pub const MAX_GZIP_RATIO: u64 = 1032;

/// A decoded u8 IDX file: its dimensions and its row-major payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl Idx {
    /// The dimensions from the header, outermost first.
    ///
    /// ```text
    /// [count, rows, cols] for images, [count] for labels
    /// ```
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The payload, row-major.
    ///
    /// ```text
    /// shapes  data: (Π dims)
    /// ```
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Splits into dimensions and payload without copying.
    ///
    /// ```text
    /// (dims, data)   shapes  data: (Π dims)
    /// ```
    pub fn into_parts(self) -> (Vec<usize>, Vec<u8>) {
        (self.dims, self.data)
    }
}

/// Name of an IDX dtype code the format defines, `None` for codes it does not.
///
/// ```text
/// 0x08 u8   0x09 i8   0x0B i16   0x0C i32   0x0D f32   0x0E f64
/// ```
pub fn dtype_name(code: u8) -> Option<&'static str> {
    match code {
        0x08 => Some("u8 (unsigned byte)"),
        0x09 => Some("i8 (signed byte)"),
        0x0B => Some("i16 (short)"),
        0x0C => Some("i32 (int)"),
        0x0D => Some("f32 (float)"),
        0x0E => Some("f64 (double)"),
        _ => None,
    }
}

/// The header of a u8 IDX file with these dimensions.
///
/// ```text
/// header = [0, 0, 0x08, d] ++ BE_u32(dims[0]) ++ … ++ BE_u32(dims[d−1])     length 4 + 4·d
/// ```
/// `header(dims) ++ payload` is the decoded file, byte for byte: this is what checksums are
/// computed over, and how tests build IDX files.
///
/// # Panics
/// If there are more than 255 dimensions or a dimension exceeds `u32::MAX`.
#[track_caller]
pub fn header(dims: &[usize]) -> Vec<u8> {
    let d = u8::try_from(dims.len()).expect("an IDX file has at most 255 dimensions");
    let mut bytes = vec![0, 0, DTYPE_U8, d];
    for &n in dims {
        let n = u32::try_from(n).expect("an IDX dimension fits in u32");
        bytes.extend_from_slice(&n.to_be_bytes());
    }
    bytes
}

/// Reads and validates a u8 IDX file, raw or gzip (told apart by the magic bytes `1f 8b`).
///
/// ```text
/// raw:   file length  = 4 + 4·d + Π dims            (checked from the size before reading)
/// gzip:  4 + 4·d + Π dims ≤ 1032 · compressed length (checked before reading), then
///        decoded length = 4 + 4·d + Π dims          (read through take, never over-allocated)
/// ```
///
/// # Errors
/// Every error names the file: [`Error::Missing`], [`Error::Io`], [`Error::Empty`],
/// [`Error::BadMagic`], [`Error::TruncatedHeader`], [`Error::UnsupportedDtype`],
/// [`Error::UnknownDtype`], [`Error::DimsOverflow`], [`Error::TooLarge`] (gzip header promising
/// more than the file can decompress to), [`Error::Truncated`] and [`Error::TrailingBytes`]
/// (stating expected and found payload sizes), [`Error::Gzip`] (damaged stream).
pub fn read_idx(path: &Path) -> Result<Idx> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::Missing {
            path: path.to_path_buf(),
            hint: None,
        },
        _ => Error::io(path, e),
    })?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    decode(path, file_len, file)
}

/// [`read_idx`] of a file held in memory (the MNIST embedded in the binary); `path` names it in
/// errors.
///
/// # Errors
/// As [`read_idx`] (but for [`Error::Missing`]).
pub fn read_idx_bytes(path: &Path, bytes: &[u8]) -> Result<Idx> {
    decode(path, bytes.len() as u64, io::Cursor::new(bytes))
}

/// Decodes the `file_len` bytes of `file`, raw or gzip (told by the magic).
fn decode(path: &Path, file_len: u64, mut file: impl Read + Seek) -> Result<Idx> {
    if file_len == 0 {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut magic = [0u8; 2];
    let got = read_full(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let file = BufReader::new(file);
    if got == 2 && magic == GZIP_MAGIC {
        let limit = file_len.saturating_mul(MAX_GZIP_RATIO);
        Decoder::new(path, Encoding::Gzip, limit).decode(MultiGzDecoder::new(file))
    } else {
        Decoder::new(path, Encoding::Raw, file_len).decode(file)
    }
}

/// How the IDX bytes are stored in the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Raw,
    Gzip,
}

/// Validating IDX decoder over a byte stream.
struct Decoder<'a> {
    path: &'a Path,
    encoding: Encoding,
    /// The most decoded bytes the file can hold: its length raw, 1032× its length gzipped.
    limit: u64,
}

impl<'a> Decoder<'a> {
    fn new(path: &'a Path, encoding: Encoding, limit: u64) -> Self {
        Decoder {
            path,
            encoding,
            limit,
        }
    }

    fn decode(&self, mut reader: impl Read) -> Result<Idx> {
        let path = || self.path.to_path_buf();
        let mut head = [0u8; 4];
        let got = read_full(&mut reader, &mut head).map_err(|e| self.read_error(e))?;
        if got == 0 {
            return Err(Error::Empty { path: path() });
        }
        if head[..got.min(2)].iter().any(|&b| b != 0) {
            return Err(Error::BadMagic {
                path: path(),
                expected: match self.encoding {
                    Encoding::Raw => "00 00 <dtype> <ndims> (IDX) or 1f 8b (gzip)".into(),
                    Encoding::Gzip => "00 00 <dtype> <ndims> (IDX, inside the gzip stream)".into(),
                },
                found: hex(&head[..got]),
            });
        }
        if got < 4 {
            return Err(Error::TruncatedHeader {
                path: path(),
                expected: 4,
                found: got as u64,
            });
        }
        let (code, ndims) = (head[2], usize::from(head[3]));
        match dtype_name(code) {
            Some(_) if code == DTYPE_U8 => {}
            Some(name) => {
                return Err(Error::UnsupportedDtype {
                    path: path(),
                    code,
                    name,
                })
            }
            None => return Err(Error::UnknownDtype { path: path(), code }),
        }

        let header_len = 4 + 4 * ndims as u64;
        let mut raw_dims = vec![0u8; 4 * ndims];
        let got = read_full(&mut reader, &mut raw_dims).map_err(|e| self.read_error(e))?;
        if got < raw_dims.len() {
            return Err(Error::TruncatedHeader {
                path: path(),
                expected: header_len,
                found: 4 + got as u64,
            });
        }
        let dims_u32: Vec<u32> = raw_dims.chunks_exact(4).map(BigEndian::read_u32).collect();
        let overflow = || Error::DimsOverflow {
            path: path(),
            dims: dims_u32.clone(),
        };
        let expected = dims_u32
            .iter()
            .try_fold(1u64, |acc, &n| acc.checked_mul(u64::from(n)))
            .ok_or_else(overflow)?;
        let dims = dims_u32
            .iter()
            .map(|&n| usize::try_from(n))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| overflow())?;
        let expected_len = usize::try_from(expected).map_err(|_| overflow())?;

        self.check_size(expected, header_len)?;
        // Raw: the size check proved the file holds exactly the payload, so reserve it at once.
        // Gzip: the payload grows as the stream yields it, never beyond what it really holds.
        let mut data = match self.encoding {
            Encoding::Raw => Vec::with_capacity(expected_len),
            Encoding::Gzip => Vec::new(),
        };
        (&mut reader)
            .take(expected)
            .read_to_end(&mut data)
            .map_err(|e| self.read_error(e))?;
        if data.len() < expected_len {
            return Err(Error::Truncated {
                path: path(),
                expected,
                found: data.len() as u64,
            });
        }
        // Driving the stream to its end also makes gzip verify its CRC and length trailer.
        let extra = io::copy(&mut reader, &mut io::sink()).map_err(|e| self.read_error(e))?;
        if extra > 0 {
            return Err(Error::TrailingBytes {
                path: path(),
                expected,
                found: expected + extra,
            });
        }
        Ok(Idx { dims, data })
    }

    /// Compares the promised payload with what the file can hold, before anything is read.
    fn check_size(&self, expected: u64, header_len: u64) -> Result<()> {
        let path = self.path.to_path_buf();
        let available = self.limit.saturating_sub(header_len);
        match self.encoding {
            Encoding::Raw if expected > available => Err(Error::Truncated {
                path,
                expected,
                found: available,
            }),
            Encoding::Raw if expected < available => Err(Error::TrailingBytes {
                path,
                expected,
                found: available,
            }),
            Encoding::Gzip if expected > available => Err(Error::TooLarge {
                path,
                expected,
                available,
            }),
            _ => Ok(()),
        }
    }

    /// A read failure: a damaged stream for gzip, an I/O error otherwise.
    fn read_error(&self, e: io::Error) -> Error {
        let damaged = matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
        );
        if self.encoding == Encoding::Gzip && damaged {
            Error::Gzip {
                path: self.path.to_path_buf(),
                reason: e.to_string(),
            }
        } else {
            Error::io(self.path, e)
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// `"1f 8b 08"`: bytes as spaced lowercase hex.
fn hex(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_big_endian_with_u8_dtype() {
        assert_eq!(header(&[2, 258]), [0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 1, 2]);
    }

    /// A read failure of a gzip stream that says the data is damaged is a gzip error; any other
    /// failure, and every failure of a raw file, is an I/O error.
    #[test]
    fn read_failures_are_gzip_errors_only_for_a_damaged_gzip_stream() {
        let path = Path::new("x");
        let fail = |encoding, kind| {
            Decoder::new(path, encoding, 0).read_error(io::Error::new(kind, "failed"))
        };
        for kind in [
            io::ErrorKind::InvalidData,
            io::ErrorKind::InvalidInput,
            io::ErrorKind::UnexpectedEof,
        ] {
            assert!(
                matches!(fail(Encoding::Gzip, kind), Error::Gzip { .. }),
                "{kind:?}"
            );
            assert!(
                matches!(fail(Encoding::Raw, kind), Error::Io { .. }),
                "{kind:?}"
            );
        }
        let other = io::ErrorKind::PermissionDenied;
        assert!(matches!(fail(Encoding::Gzip, other), Error::Io { .. }));
        assert!(matches!(fail(Encoding::Raw, other), Error::Io { .. }));
    }

    /// A reader that replays a script of results, then reports the end of its stream.
    struct Script(Vec<io::Result<Vec<u8>>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let bytes = self.0.remove(0)?;
            buf[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
        }
    }

    /// A read interrupted by a signal (`EINTR`) is tried again, as `Read::read_exact` does; any
    /// other failure ends the read with that error; the end of the stream ends it short.
    #[test]
    fn read_full_retries_an_interrupted_read_and_stops_at_the_end() {
        let interrupted = || Err(io::Error::from(io::ErrorKind::Interrupted));
        let mut buf = [0; 4];
        let mut reader = Script(vec![
            interrupted(),
            Ok(vec![1, 2]),
            interrupted(),
            Ok(vec![3]),
        ]);
        assert_eq!(read_full(&mut reader, &mut buf).unwrap(), 3);
        assert_eq!(buf, [1, 2, 3, 0]);
        let broken = io::Error::from(io::ErrorKind::BrokenPipe);
        let mut reader = Script(vec![Ok(vec![9]), Err(broken)]);
        let err = read_full(&mut reader, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn every_defined_dtype_has_a_name() {
        for code in [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E] {
            assert!(dtype_name(code).is_some(), "0x{code:02x}");
        }
        assert_eq!(dtype_name(0x0A), None);
    }
}
