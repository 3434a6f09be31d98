//! IDX reader: round trips, and one distinct error per kind of corruption.

mod idx_builder;

use std::fs;
use std::path::{Path, PathBuf};

use distill::data::idx::{header, read_idx};
use distill::Error;
use idx_builder::{gzip, idx_bytes, noise, pixels, u8_idx};

/// Writes `bytes` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn raw_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let payload = pixels(3 * 4 * 5);
    let path = write(dir.path(), "x-idx3-ubyte", &u8_idx(&[3, 4, 5], &payload));
    let idx = read_idx(&path).unwrap();
    assert_eq!(idx.dims(), &[3, 4, 5]);
    assert_eq!(idx.data(), payload.as_slice());
}

#[test]
fn gzip_round_trip_is_detected_by_magic_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let payload = pixels(7 * 2);
    let bytes = u8_idx(&[7, 2], &payload);
    // gzip content under a raw name, raw content under a .gz name: both read by their bytes.
    let gz = write(dir.path(), "no-extension", &gzip(&bytes));
    let raw = write(dir.path(), "looks-compressed.gz", &bytes);
    for path in [gz, raw] {
        let idx = read_idx(&path).unwrap();
        assert_eq!(idx.dims(), &[7, 2]);
        assert_eq!(idx.data(), payload.as_slice());
    }
}

#[test]
fn header_helper_matches_hand_built_header() {
    assert_eq!(header(&[3, 4, 5]), u8_idx(&[3, 4, 5], &[]));
}

#[test]
fn concatenated_gzip_members_read_as_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = u8_idx(&[10], &pixels(10));
    let (a, b) = bytes.split_at(9);
    let mut two = gzip(a);
    two.extend(gzip(b));
    let idx = read_idx(&write(dir.path(), "two.gz", &two)).unwrap();
    assert_eq!(idx.data(), &bytes[8..]);
}

#[test]
fn bad_magic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "zip", b"PK\x03\x04rest of a zip file");
    match read_idx(&path) {
        Err(Error::BadMagic { path: p, found, .. }) => {
            assert_eq!(p, path);
            assert_eq!(found, "50 4b 03 04");
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
}

#[test]
fn unsupported_dtypes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (code, name) in [
        (0x09, "i8"),
        (0x0B, "i16"),
        (0x0C, "i32"),
        (0x0D, "f32"),
        (0x0E, "f64"),
    ] {
        let path = write(dir.path(), "x", &idx_bytes(code, &[2], &[0; 16]));
        match read_idx(&path) {
            Err(e @ Error::UnsupportedDtype { code: c, .. }) => {
                assert_eq!(c, code);
                assert!(e.to_string().contains(name), "{e}");
            }
            other => panic!("0x{code:02x}: expected UnsupportedDtype, got {other:?}"),
        }
    }
}

#[test]
fn unknown_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "x", &idx_bytes(0x0A, &[2], &[0; 2]));
    assert!(matches!(
        read_idx(&path),
        Err(Error::UnknownDtype { code: 0x0A, .. })
    ));
}

#[test]
fn truncated_header() {
    let dir = tempfile::tempdir().unwrap();
    let cut = &u8_idx(&[3, 4, 5], &[])[..10]; // 4 + 4·3 = 16 header bytes promised
    for path in [
        write(dir.path(), "raw", cut),
        write(dir.path(), "gz", &gzip(cut)),
    ] {
        match read_idx(&path) {
            Err(Error::TruncatedHeader {
                expected, found, ..
            }) => assert_eq!((expected, found), (16, 10)),
            other => panic!(
                "{}: expected TruncatedHeader, got {other:?}",
                path.display()
            ),
        }
    }
    // cut inside the 4 bytes of magic, dtype and rank
    let whole = u8_idx(&[3], &[1, 2, 3]);
    for n in 1..4 {
        for path in [
            write(dir.path(), &format!("raw{n}"), &whole[..n]),
            write(dir.path(), &format!("gz{n}"), &gzip(&whole[..n])),
        ] {
            match read_idx(&path) {
                Err(Error::TruncatedHeader {
                    expected, found, ..
                }) => assert_eq!((expected, found), (4, n as u64)),
                other => panic!(
                    "{}: expected TruncatedHeader, got {other:?}",
                    path.display()
                ),
            }
        }
    }
}

#[test]
fn truncated_payload_states_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = u8_idx(&[10, 3, 3], &pixels(90));
    let cut = &bytes[..bytes.len() - 13];
    for path in [
        write(dir.path(), "raw", cut),
        write(dir.path(), "gz", &gzip(cut)),
    ] {
        match read_idx(&path) {
            Err(Error::Truncated {
                expected, found, ..
            }) => assert_eq!((expected, found), (90, 77), "{}", path.display()),
            other => panic!("{}: expected Truncated, got {other:?}", path.display()),
        }
    }
}

#[test]
fn truncated_message_names_file_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = u8_idx(&[10, 3, 3], &pixels(90));
    let path = write(dir.path(), "images.gz", &gzip(&bytes[..bytes.len() - 13]));
    let message = read_idx(&path).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}: truncated: header promises 90 payload bytes, found 77",
            path.display()
        )
    );
}

#[test]
fn trailing_bytes_state_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = u8_idx(&[4, 2], &pixels(8));
    bytes.extend_from_slice(&[1, 2, 3]);
    for path in [
        write(dir.path(), "raw", &bytes),
        write(dir.path(), "gz", &gzip(&bytes)),
    ] {
        match read_idx(&path) {
            Err(Error::TrailingBytes {
                expected, found, ..
            }) => assert_eq!((expected, found), (8, 11), "{}", path.display()),
            other => panic!("{}: expected TrailingBytes, got {other:?}", path.display()),
        }
    }
}

/// Bytes the calling thread read from files while running `f` (`rchar` of
/// /proc/thread-self/io, Linux): the work a reader did, whatever the machine's speed.
fn bytes_read_by<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let rchar = || {
        let io = fs::read_to_string("/proc/thread-self/io").expect("Linux /proc/thread-self/io");
        io.lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("an rchar line")
    };
    let before = rchar();
    let out = f();
    (out, rchar() - before)
}

/// What a reader may read before deciding from the header: its buffers (BufReader 8 KiB, the
/// gzip decoder's input), far less than the files below.
const HEADER_WORK: u64 = 64 * 1024;

#[test]
fn count_larger_than_the_file_fails_from_the_header() {
    // A gzip claiming 2^31 images of 28×28: 1.7 TB promised, far beyond 1032 × its size.
    // Noise does not compress, so reading the file through would read all of its 500 KB.
    let dir = tempfile::tempdir().unwrap();
    let bytes = u8_idx(&[1 << 31, 28, 28], &noise(500_000));
    let gz = gzip(&bytes);
    assert!(gz.len() as u64 > 4 * HEADER_WORK);
    let path = write(dir.path(), "huge.gz", &gz);
    let (result, read) = bytes_read_by(|| read_idx(&path));
    match result {
        Err(Error::TooLarge {
            expected,
            available,
            ..
        }) => {
            assert_eq!(expected, (1u64 << 31) * 28 * 28);
            assert_eq!(available, gz.len() as u64 * 1032 - 16);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(read <= HEADER_WORK, "read {read} of {} bytes", gz.len());
}

#[test]
fn raw_count_larger_than_the_file_is_found_from_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "huge",
        &u8_idx(&[1 << 31, 28, 28], &pixels(500_000)),
    );
    let (result, read) = bytes_read_by(|| read_idx(&path));
    match result {
        Err(Error::Truncated {
            expected, found, ..
        }) => assert_eq!((expected, found), ((1u64 << 31) * 28 * 28, 500_000)),
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert!(read <= HEADER_WORK, "read {read} of 500,016 bytes");
}

#[test]
fn raw_trailing_bytes_are_found_from_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = u8_idx(&[4, 2], &pixels(8));
    bytes.extend_from_slice(&noise(500_000));
    let path = write(dir.path(), "long", &bytes);
    let (result, read) = bytes_read_by(|| read_idx(&path));
    match result {
        Err(Error::TrailingBytes {
            expected, found, ..
        }) => assert_eq!((expected, found), (8, 500_008)),
        other => panic!("expected TrailingBytes, got {other:?}"),
    }
    assert!(read <= HEADER_WORK, "read {read} of 500,020 bytes");
}

/// A gzip may promise up to exactly 1032 times its own size (less its header): at the limit the
/// payload is read (and here found missing), one byte beyond it is refused from the header.
#[test]
fn the_gzip_size_limit_is_inclusive() {
    let dir = tempfile::tempdir().unwrap();
    // The gzip of a 1-d header promising n bytes, with n chosen so that n = 1032·len − 8; its
    // length hardly depends on n, so a few rounds find the fixed point.
    let promising = |n: u64| gzip(&u8_idx(&[u32::try_from(n).unwrap()], &[]));
    let mut n = 1032 * promising(0).len() as u64 - 8;
    for round in 0.. {
        let next = 1032 * promising(n).len() as u64 - 8;
        if next == n {
            break;
        }
        assert!(
            round < 16,
            "no fixed point: the gzip length keeps changing with n"
        );
        n = next;
    }
    let path = write(dir.path(), "at.gz", &promising(n));
    match read_idx(&path) {
        Err(Error::Truncated {
            expected, found, ..
        }) => assert_eq!((expected, found), (n, 0)),
        other => panic!("at the limit: expected Truncated, got {other:?}"),
    }
    let beyond = promising(n + 1);
    assert_eq!(
        beyond.len(),
        promising(n).len(),
        "the same size, one byte more promised"
    );
    let path = write(dir.path(), "beyond.gz", &beyond);
    match read_idx(&path) {
        Err(Error::TooLarge {
            expected,
            available,
            ..
        }) => assert_eq!((expected, available), (n + 1, n)),
        other => panic!("beyond the limit: expected TooLarge, got {other:?}"),
    }
}

#[test]
fn dims_product_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let dims = [u32::MAX, u32::MAX, u32::MAX];
    let path = write(dir.path(), "x", &u8_idx(&dims, &[]));
    match read_idx(&path) {
        Err(Error::DimsOverflow { dims: d, .. }) => assert_eq!(d, dims),
        other => panic!("expected DimsOverflow, got {other:?}"),
    }
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    for path in [
        write(dir.path(), "raw", &[]),
        write(dir.path(), "gz", &gzip(&[])),
    ] {
        assert!(
            matches!(read_idx(&path), Err(Error::Empty { .. })),
            "{}",
            path.display()
        );
    }
}

#[test]
fn damaged_gzip_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(&u8_idx(&[50, 10], &pixels(500)));
    let n = gz.len();

    let mut bad_crc = gz.clone();
    bad_crc[n - 8] ^= 0xff; // CRC-32 of the trailer
    let mut bad_body = gz.clone();
    for b in &mut bad_body[12..n - 8] {
        *b = 0xff; // every deflate byte: block type 3 is reserved, invalid
    }
    let cut = &gz[..n / 2]; // compressed stream ends mid-block

    for (name, bytes) in [("crc", &bad_crc[..]), ("body", &bad_body[..]), ("cut", cut)] {
        let path = write(dir.path(), name, bytes);
        match read_idx(&path) {
            Err(Error::Gzip { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{name}: expected Gzip, got {other:?}"),
        }
    }
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent-idx1-ubyte");
    match read_idx(&path) {
        Err(Error::Missing { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Missing, got {other:?}"),
    }
}
