//! Request bodies sent with `Content-Encoding` (Vector's and Fluent Bit's HTTP
//! outputs compress with gzip; others use deflate or zstd): decoded as a stream,
//! up to a cap, before anything is parsed or stored. A body is decoded whole or
//! refused whole, so a bomb or a corrupt stream stores nothing.

use std::io::{self, Read};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;

/// What `Content-Encoding` values are decoded, for error messages.
pub const SUPPORTED: &str = "gzip, deflate, zstd (or identity)";

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("Content-Encoding `{0}` is not supported (supported: {SUPPORTED})")]
    Unsupported(String),
    #[error("the request body decodes to more than {cap} bytes (server.max_decoded_body_mb)")]
    TooLarge { cap: usize },
    #[error("the request body is not valid {encoding}: {message}")]
    Corrupt { encoding: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Zstd,
}

impl Coding {
    fn parse(name: &str) -> Result<Option<Self>, DecodeError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Self::Gzip)),
            "deflate" => Ok(Some(Self::Deflate)),
            "zstd" => Ok(Some(Self::Zstd)),
            other => Err(DecodeError::Unsupported(other.to_string())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Zstd => "zstd",
        }
    }
}

/// The codings of a request, in the order they were applied (`gzip, zstd` means
/// gzip first), every value of every `Content-Encoding` header.
fn codings(headers: &HeaderMap) -> Result<Vec<Coding>, DecodeError> {
    let mut out = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let text = value.to_str().map_err(|_| {
            DecodeError::Unsupported(String::from_utf8_lossy(value.as_bytes()).into())
        })?;
        for name in text.split(',') {
            out.extend(Coding::parse(name)?);
        }
    }
    Ok(out)
}

/// Whether the request says its body is encoded (then `decode` may take a while:
/// run it off the async threads).
pub fn is_encoded(headers: &HeaderMap) -> bool {
    codings(headers).map_or(true, |c| !c.is_empty())
}

/// The body with every coding undone, at most `cap` bytes of it.
pub fn decode(headers: &HeaderMap, body: Bytes, cap: usize) -> Result<Bytes, DecodeError> {
    let mut body = body;
    for coding in codings(headers)?.into_iter().rev() {
        body = Bytes::from(decode_one(coding, &body, cap)?);
    }
    Ok(body)
}

fn decode_one(coding: Coding, body: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    let read = |reader: &mut dyn Read| read_capped(reader, coding, cap);
    match coding {
        // Every member of a multi-member (concatenated) gzip stream.
        Coding::Gzip => read(&mut flate2::read::MultiGzDecoder::new(body)),
        // HTTP's `deflate` is zlib-wrapped; some clients send raw deflate instead.
        Coding::Deflate => match read(&mut flate2::read::ZlibDecoder::new(body)) {
            Err(DecodeError::Corrupt { .. }) => read(&mut flate2::read::DeflateDecoder::new(body)),
            decoded => decoded,
        },
        // Every frame of a multi-frame stream.
        Coding::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::new(body).map_err(|e| corrupt(coding, &e))?;
            read(&mut decoder)
        }
    }
}

fn corrupt(coding: Coding, e: &io::Error) -> DecodeError {
    DecodeError::Corrupt {
        encoding: coding.name().to_string(),
        message: e.to_string(),
    }
}

/// Reads `reader` to its end, but never more than `cap` bytes (plus one, to
/// tell): memory follows the cap, not what the stream claims.
fn read_capped(reader: &mut dyn Read, coding: Coding, cap: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(coding, &e))?;
    if out.len() > cap {
        return Err(DecodeError::TooLarge { cap });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::HeaderValue;

    use super::*;

    fn headers(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_str(encoding).unwrap());
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const BODY: &[u8] = b"{\"a\":1}\n{\"a\":2}\n";

    #[test]
    fn each_coding_decodes_to_the_plain_body() {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(BODY).unwrap();
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(BODY).unwrap();
        let cases = [
            ("gzip", gzip(BODY)),
            ("x-gzip", gzip(BODY)),
            ("deflate", zlib.finish().unwrap()),
            ("deflate", raw.finish().unwrap()),
            ("zstd", zstd::stream::encode_all(BODY, 3).unwrap()),
            ("identity", BODY.to_vec()),
            (
                "gzip, zstd",
                zstd::stream::encode_all(&gzip(BODY)[..], 3).unwrap(),
            ),
        ];
        for (encoding, body) in cases {
            let got = decode(&headers(encoding), Bytes::from(body), 1 << 20).unwrap();
            assert_eq!(&got[..], BODY, "{encoding}");
        }
    }

    #[test]
    fn concatenated_gzip_members_decode_fully() {
        let body = [gzip(b"one\n"), gzip(b"two\n")].concat();
        let got = decode(&headers("gzip"), Bytes::from(body), 1 << 20).unwrap();
        assert_eq!(&got[..], b"one\ntwo\n");
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![b'a'; 64 << 20]);
        assert!(bomb.len() < 100 * 1024, "{} bytes", bomb.len());
        let err = decode(&headers("gzip"), Bytes::from(bomb), 16 << 20).unwrap_err();
        assert_eq!(err, DecodeError::TooLarge { cap: 16 << 20 });
        assert!(err.to_string().contains("server.max_decoded_body_mb"));
    }

    #[test]
    fn unknown_and_corrupt_encodings_are_refused() {
        let err = decode(&headers("br"), Bytes::from_static(b"x"), 10).unwrap_err();
        assert_eq!(err, DecodeError::Unsupported("br".into()));
        assert!(err.to_string().contains("gzip, deflate, zstd"));
        let err = decode(&headers("gzip"), Bytes::from_static(b"not gzip"), 10).unwrap_err();
        assert!(matches!(err, DecodeError::Corrupt { .. }), "{err:?}");
    }
}
