//! A compression and its level: how an object body is encoded. Resolved once
//! per stream from its settings, and written with each seal so that a batch
//! rebuilt after a restart is encoded as its key (sealed before) says, whatever
//! the config says now.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Compression, EncodeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    pub compression: Compression,
    pub level: u32,
}

impl Codec {
    /// `compression` at `level`, or at its default level.
    pub fn new(compression: Compression, level: Option<u32>) -> Self {
        Self {
            compression,
            level: level.unwrap_or(compression.default_level()),
        }
    }

    /// Encodes `raw` (`entry_name` names the entry of a zip archive).
    pub fn encode(self, raw: &[u8], entry_name: &str) -> Result<Vec<u8>, EncodeError> {
        self.compression.encode(raw, self.level, entry_name)
    }
}

/// On disk as Firehose's name and the level (`["GZIP", 5]`), as ledgers have
/// always held it.
impl Serialize for Codec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.compression.firehose_name(), self.level).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Codec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (name, level) = <(String, u32)>::deserialize(deserializer)?;
        let compression = Compression::try_from(name).map_err(serde::de::Error::custom)?;
        Ok(Self { compression, level })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codec_is_written_as_ledgers_hold_it() {
        let codec = Codec::new(Compression::Gzip, Some(5));
        let text = serde_json::to_string(&codec).unwrap();
        assert_eq!(text, r#"["GZIP",5]"#);
        assert_eq!(serde_json::from_str::<Codec>(&text).unwrap(), codec);
        assert!(serde_json::from_str::<Codec>(r#"["BROTLI",5]"#).is_err());
    }
}
