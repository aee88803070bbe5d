//! What makes an object key writable. S3 itself takes almost any UTF-8, but the
//! stores Sluice writes through do not: `object_store` refuses empty path segments
//! (`a//b`), `.` and `..` segments and ASCII control characters, and file systems
//! (a local folder, MinIO's and SeaweedFS's filer back ends) refuse a segment over
//! 255 bytes. A key broken in one of these ways fails on every attempt, so it is
//! found before anything is written: at `sluice check` for a prefix's literal text,
//! and per record for partition key values.

/// The longest segment (the text between two `/`) of a key: `NAME_MAX` of Linux
/// file systems, which MinIO and SeaweedFS inherit.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Why a key cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("it starts with `/` (object stores drop or refuse the empty first segment)")]
    Absolute,
    #[error("it has an empty path segment (`//`) at character {0}")]
    EmptySegment(usize),
    #[error("it has a `{0}` path segment")]
    Relative(&'static str),
    #[error("it has a control character (U+{0:04X})")]
    Control(u32),
    #[error(
        "path segment `{0}…` is {1} bytes, over the {MAX_SEGMENT_BYTES} that file systems and MinIO take"
    )]
    SegmentTooLong(String, usize),
}

/// Checks a whole key: `<prefix><stream>-1-<time>-<uuid><ext>`.
pub fn check_key(key: &str) -> Result<(), KeyError> {
    if key.starts_with('/') {
        return Err(KeyError::Absolute);
    }
    if let Some(c) = key.chars().find(char::is_ascii_control) {
        return Err(KeyError::Control(u32::from(c)));
    }
    let mut at = 0;
    for segment in key.split('/') {
        match segment {
            "" => return Err(KeyError::EmptySegment(at)),
            "." => return Err(KeyError::Relative(".")),
            ".." => return Err(KeyError::Relative("..")),
            s if s.len() > MAX_SEGMENT_BYTES => {
                let head: String = s.chars().take(20).collect();
                return Err(KeyError::SegmentTooLong(head, s.len()));
            }
            _ => {}
        }
        at += segment.chars().count() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every key this check passes, `object_store` (which S3 and local
        /// destinations write through) takes too, unchanged.
        #[test]
        fn keys_that_pass_are_keys_object_store_takes(
            key in "[a-z./\\t\u{7f}é=%#-]{1,40}",
        ) {
            if check_key(&key).is_ok() {
                let path = object_store::path::Path::parse(&key);
                prop_assert!(path.is_ok(), "{key:?}: {path:?}");
                let parsed = path.map(|p| p.as_ref().to_string()).unwrap_or_default();
                prop_assert_eq!(parsed, key);
            }
        }
    }

    #[test]
    fn keys_a_store_takes_pass() {
        for key in [
            "logs/2026/01/01/00/s-1-2026-01-01-00-00-00-x.gz",
            "customer=a/b/file",
            "..a/.b/c..",
            "ünïcödé/日本/file",
        ] {
            assert_eq!(check_key(key), Ok(()), "{key}");
        }
    }

    #[test]
    fn keys_a_store_refuses_fail_with_the_reason() {
        assert_eq!(check_key("logs//raw/f"), Err(KeyError::EmptySegment(5)));
        assert_eq!(check_key("/logs/f"), Err(KeyError::Absolute));
        assert_eq!(check_key("a/./f"), Err(KeyError::Relative(".")));
        assert_eq!(check_key("a/../f"), Err(KeyError::Relative("..")));
        assert_eq!(check_key("a\tb/f"), Err(KeyError::Control(9)));
        assert_eq!(check_key("a/\u{7f}/f"), Err(KeyError::Control(0x7f)));
        let long = "x".repeat(256);
        assert!(matches!(
            check_key(&format!("a/{long}/f")),
            Err(KeyError::SegmentTooLong(_, 256))
        ));
        assert_eq!(check_key(&format!("a/{}/f", "x".repeat(255))), Ok(()));
    }
}
