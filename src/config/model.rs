//! The configuration's shape. Doc comments here are the reference for each key;
//! defaults are the named constants below.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::encode::Compression;
use crate::encode::parquet::{
    Column, DeserializerConfig, ParquetCompression, ParquetEncoder, WriterSettings, WriterVersion,
};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4573";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
pub const DEFAULT_SPOOL_DIR: &str = "./data/spool";
pub const DEFAULT_SPOOL_MAX_SIZE_MB: u64 = 1024;
/// Firehose's S3 defaults: 5 MiB or 300 s, whichever first.
pub const DEFAULT_BUFFER_SIZE_MB: u64 = 5;
pub const DEFAULT_BUFFER_INTERVAL_SECONDS: u64 = 300;
/// How long a stop may take to deliver what is buffered before it leaves the rest
/// in the spool for the next start.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 30;
/// The longest shutdown timeout accepted (a day).
pub const MAX_SHUTDOWN_TIMEOUT_SECONDS: u64 = 86_400;
/// A compressed request body may decode to this much by default: the body limit,
/// so a compressed request holds no more than a plain one could.
pub const DEFAULT_MAX_DECODED_BODY_MB: u64 = 16;
/// The largest decoded body accepted as a setting.
pub const MAX_DECODED_BODY_MB: u64 = 256;
/// Memory that requests in flight may hold at once, by default: four 16 MiB
/// bodies, or one body of the tiniest lines with its line offsets.
pub const DEFAULT_INGEST_MEMORY_MB: u64 = 64;
/// Seconds a client has to send a request's headers, counted from when the
/// connection opens or falls idle after an answer.
pub const DEFAULT_HEADER_TIMEOUT_SECONDS: u64 = 20;
/// Seconds a client has to send a request's body once its headers are in.
pub const DEFAULT_BODY_TIMEOUT_SECONDS: u64 = 60;
/// Connections served at once; past it, new ones get a 503 and are closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The range accepted for `server.ingest_memory_mb`.
pub const INGEST_MEMORY_MB_RANGE: std::ops::RangeInclusive<u64> = 16..=65_536;
/// The range accepted for `server.delivery_memory_mb`.
pub const DELIVERY_MEMORY_MB_RANGE: std::ops::RangeInclusive<u64> = 16..=65_536;
/// Memory, in MiB, for sealed batches being encoded and delivered, across all
/// streams: four default 5 MiB buffers of many streams, or one 128 MiB buffer
/// and a second being read back.
pub const DEFAULT_DELIVERY_MEMORY_MB: u64 = 256;
/// Objects encoded and delivered at once per stream (bounds memory and CPU).
pub const DEFAULT_MAX_IN_FLIGHT_OBJECTS: usize = 4;

pub use crate::processors::kinds::ProcessorConfig;
pub use crate::sinks::kinds::{DestinationConfig, ObjectDestination};
pub use crate::sinks::settings::ObjectLayout;
pub use crate::sources::kinds::SourceConfig;
pub use crate::transform::WasmProcessor;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
    /// The delivery streams; each runs independently of the others.
    pub delivery_streams: Vec<StreamConfig>,
    /// The whole configuration as the file (and environment) gave it, filled in
    /// by `load`: what a reload compares to tell what changed.
    #[serde(skip)]
    pub written: serde_json::Value,
}

/// The Firehose API listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the direct-PUT endpoint (Firehose API, NDJSON, `/health`).
    pub listen: SocketAddr,
    /// Region used in ARNs returned by `DescribeDeliveryStream`.
    pub region: String,
    /// Account id used in ARNs and in Firehose's error messages.
    pub account_id: String,
    /// On SIGTERM, how long to spend delivering buffered records; what is not
    /// delivered by then stays in the spool and is delivered after the next start.
    pub shutdown_timeout_seconds: u64,
    /// How large a request body sent with `Content-Encoding` (gzip, deflate, zstd)
    /// may become once decoded; past it the request is refused (413).
    pub max_decoded_body_mb: u64,
    /// Memory, in MiB, that all requests in flight may hold at once (bodies being
    /// read and decoded, records on their way into the spools). A request that
    /// would exceed it waits up to a second, then is answered
    /// `ServiceUnavailableException` ("Slow down.", HTTP 503), which SDKs retry.
    pub ingest_memory_mb: u64,
    /// Memory, in MiB, that sealed batches being encoded and delivered may hold
    /// at once, across all streams: a batch is read back from disk into memory
    /// only once its share is free, and meanwhile its stream waits (its backlog
    /// grows in the spool, and puts get `Slow down.` when that is full). A batch
    /// larger than the whole budget goes alone. Encoded output comes on top (a
    /// third of the batch or less for gzip on log records).
    pub delivery_memory_mb: u64,
    /// Who may write: `[server.auth]`.
    pub auth: super::AuthConfig,
    /// Seconds to receive a request's headers, from when the connection opens or
    /// falls idle after an answer (so also the keep-alive idle timeout); a client
    /// that trickles its headers is cut off.
    pub header_timeout_seconds: u64,
    /// Seconds to receive a request's body once its headers are in.
    pub body_timeout_seconds: u64,
    /// Connections served at once; one more is answered 503 `Slow down.` and closed.
    pub max_connections: usize,
    /// Serve HTTPS instead of HTTP: `[server.tls]`.
    pub tls: Option<TlsConfig>,
}

/// The listener's certificate and key, PEM files read at start and on SIGHUP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| unreachable!()),
            region: DEFAULT_REGION.into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            shutdown_timeout_seconds: DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
            max_decoded_body_mb: DEFAULT_MAX_DECODED_BODY_MB,
            ingest_memory_mb: DEFAULT_INGEST_MEMORY_MB,
            delivery_memory_mb: DEFAULT_DELIVERY_MEMORY_MB,
            auth: super::AuthConfig::default(),
            header_timeout_seconds: DEFAULT_HEADER_TIMEOUT_SECONDS,
            body_timeout_seconds: DEFAULT_BODY_TIMEOUT_SECONDS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls: None,
        }
    }
}

impl ServerConfig {
    /// `max_decoded_body_mb` in bytes.
    pub fn max_decoded_body_bytes(&self) -> usize {
        usize::try_from(self.max_decoded_body_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }

    /// `ingest_memory_mb` in bytes.
    pub fn ingest_memory_bytes(&self) -> usize {
        usize::try_from(self.ingest_memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }

    /// A delivery stream's ARN, as Firehose names it (`DescribeDeliveryStream`,
    /// `X-Amz-Firehose-Source-Arn`).
    pub fn stream_arn(&self, stream: &str) -> String {
        format!(
            "arn:aws:firehose:{}:{}:deliverystream/{stream}",
            self.region, self.account_id
        )
    }
}

/// Where accepted records wait, on disk, until they are delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Each stream keeps its spool in a folder of its name below this one.
    pub dir: PathBuf,
    /// Disk space per delivery stream, in MiB. Past it, puts are refused with
    /// `ServiceUnavailableException` (HTTP 503) so SDKs back off and retry; nothing
    /// accepted is dropped.
    pub max_size_mb: u64,
    /// When a put is acknowledged: `fsync` (default) once its records are on disk;
    /// `buffered` once they are in the OS page cache, which survives a crash of the
    /// daemon but not of the machine.
    pub durability: Durability,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: DEFAULT_SPOOL_DIR.into(),
            max_size_mb: DEFAULT_SPOOL_MAX_SIZE_MB,
            durability: Durability::Fsync,
        }
    }
}

impl SpoolConfig {
    /// Segment files are a sixteenth of the spool's limit, between 64 KiB and 32 MiB:
    /// small enough that delivered data is deleted soon, large enough to keep the
    /// file count low.
    pub fn segment_bytes(&self) -> u64 {
        (self.max_size_mb.saturating_mul(1024 * 1024) / 16).clamp(64 * 1024, 32 * 1024 * 1024)
    }
}

/// How durable an acknowledged record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Synced to disk (`fdatasync`) before the put is answered.
    Fsync,
    /// Written to the OS, not synced: faster, but a power loss or kernel crash can
    /// lose acknowledged records.
    Buffered,
}

/// One delivery stream: a source, buffering, encoding and a destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// 1–64 characters of `[a-zA-Z0-9_.-]`, as Firehose's `DeliveryStreamName`.
    pub name: String,
    #[serde(default)]
    pub source: SourceConfig,
    #[serde(default)]
    pub buffering: BufferingConfig,
    /// `none` (default, as Firehose), `gzip`, `zip`, `snappy`, `hadoop_snappy`.
    #[serde(default)]
    pub compression: Compression,
    /// Deflate level 0–9 for `gzip` and `zip` (default: what makes zlib-6-sized
    /// objects, see [`Compression::default_level`]). Level 1 is 2 to 3× faster
    /// for about 11% larger objects.
    pub compression_level: Option<u32>,
    /// Replaces the compression's extension, as Firehose's `FileExtension`
    /// (must start with `.`).
    pub file_extension: Option<String>,
    /// What objects hold: the records as received (`raw`, default), or Parquet
    /// converted from JSON records.
    #[serde(default)]
    pub format: FormatConfig,
    /// Firehose's record processors (`ProcessingConfiguration`), run on records
    /// read from the spool in Firehose's order whatever the listing order: the
    /// WASM plugins (in listed order among themselves), metadata extraction, then
    /// the delimiter as records enter the destination's buffer.
    #[serde(default)]
    pub processors: Vec<ProcessorConfig>,
    /// How many threads process a batch's records at once, each on a share of
    /// them with plugin instances of its own (a plugin's memory counts once per
    /// thread). Default: the machine's cores, at most 4.
    pub processing_threads: Option<usize>,
    /// Objects encoded and delivered concurrently; each is read back into memory
    /// only with its share of `server.delivery_memory_mb` (open buffers wait on
    /// disk).
    #[serde(default = "default_in_flight")]
    pub max_in_flight_objects: usize,
    pub destination: DestinationConfig,
    /// The stream's settings as the file (and environment) gave them, filled in
    /// by `load`: what a reload compares to tell a changed stream.
    #[serde(skip)]
    pub written: serde_json::Value,
}

impl StreamConfig {
    /// A digest of the settings Firehose's `UpdateDestination` covers: all but
    /// the name and the source. When it changes, the version number in object
    /// names goes up.
    pub fn delivery_digest(&self) -> String {
        use sha2::Digest as _;
        let mut settings = self.written.clone();
        if let Some(map) = settings.as_object_mut() {
            map.remove("name");
            map.remove("source");
        }
        // serde_json's maps are sorted, so equal settings give equal text.
        hex::encode(sha2::Sha256::digest(settings.to_string().as_bytes()))
    }

    /// The compression of its objects, at its level: resolved here once.
    pub fn codec(&self) -> crate::encode::Codec {
        crate::encode::Codec::new(self.compression, self.compression_level)
    }

    /// [`Self::processing_threads`], or its default.
    pub fn processing_threads(&self) -> usize {
        self.processing_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
    }

    /// The WASM plugins, in listed order.
    pub fn plugins(&self) -> impl Iterator<Item = &WasmProcessor> {
        self.processors.iter().filter_map(|p| match p {
            ProcessorConfig::Wasm(w) => Some(w),
            _ => None,
        })
    }

    /// How the destination keys and buffers records apart (see
    /// [`crate::sinks::settings::DestinationKind::routing`]).
    pub fn routing(&self) -> crate::sinks::settings::KeyRouting {
        self.destination.kind().routing(self)
    }

    /// The prefix of data keys: the destination's; for an Iceberg table
    /// `<namespace>/<table>/`, so that records bound for different tables are
    /// buffered apart and each batch's key names its table.
    pub fn data_prefix(&self) -> String {
        self.routing().prefix
    }

    /// The metadata extraction query, if the stream has one.
    pub fn metadata_query(&self) -> Option<&str> {
        self.processors.iter().find_map(|p| match p {
            ProcessorConfig::MetadataExtraction(m) => Some(m.query.as_str()),
            _ => None,
        })
    }

    /// What follows each record in delivered objects, if anything.
    pub fn delimiter(&self) -> Option<&[u8]> {
        self.processors.iter().find_map(|p| match p {
            ProcessorConfig::AppendDelimiter(d) => Some(d.delimiter.as_bytes()),
            _ => None,
        })
    }
}

fn default_in_flight() -> usize {
    DEFAULT_MAX_IN_FLIGHT_OBJECTS
}

/// Firehose's `ParquetSerDe.BlockSizeBytes` default: 256 MiB row groups.
pub const DEFAULT_PARQUET_BLOCK_SIZE_MB: u64 = 256;
/// Firehose's `ParquetSerDe.PageSizeBytes` default: 1 MiB pages.
pub const DEFAULT_PARQUET_PAGE_SIZE_KB: u64 = 1024;

/// The objects' format (Firehose's `DataFormatConversionConfiguration`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FormatConfig {
    /// The records' bytes, concatenated, then compressed per `compression`.
    #[default]
    Raw,
    /// JSON records converted to Parquet; `compression` must be `none`.
    Parquet(ParquetFormat),
}

/// JSON to Parquet: the columns (a Glue table's, declared here) and the writer's
/// settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetFormat {
    /// Page compression: `snappy` (default), `gzip`, `zstd`, `uncompressed`.
    #[serde(default)]
    pub compression: ParquetCompression,
    /// Row-group target in MiB, as `BlockSizeBytes` (default 256; 1 to 1024).
    #[serde(default = "default_block_size")]
    pub block_size_mb: u64,
    /// Page size in KiB, as `PageSizeBytes` (default 1024; 64 to 65536).
    #[serde(default = "default_page_size")]
    pub page_size_kb: u64,
    /// Dictionary encoding (default true).
    #[serde(default = "default_true")]
    pub enable_dictionary: bool,
    /// `V1` (default) or `V2` data pages.
    #[serde(default)]
    pub writer_version: WriterVersion,
    /// How JSON is read: `{ type = "openx", ... }` (default) or `{ type = "hive", ... }`.
    #[serde(default)]
    pub deserializer: DeserializerConfig,
    /// The columns, in file order, each `{ name, type }` with a Glue/Hive type.
    pub columns: Vec<Column>,
}

fn default_block_size() -> u64 {
    DEFAULT_PARQUET_BLOCK_SIZE_MB
}

fn default_page_size() -> u64 {
    DEFAULT_PARQUET_PAGE_SIZE_KB
}

fn default_true() -> bool {
    true
}

impl ParquetFormat {
    /// The encoder of this format; fails on what `sluice check` reports.
    pub fn encoder(&self) -> Result<ParquetEncoder, String> {
        ParquetEncoder::new(
            &self.columns,
            &self.deserializer,
            WriterSettings {
                compression: self.compression,
                block_size_mb: self.block_size_mb,
                page_size_kb: self.page_size_kb,
                enable_dictionary: self.enable_dictionary,
                writer_version: self.writer_version,
            },
        )
    }
}

/// When a buffer is delivered: at `size_mb` of records (before compression) or
/// `interval_seconds` after its first record, whichever comes first.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferingConfig {
    /// 1–128 MiB.
    pub size_mb: u64,
    /// 0–900 s; 0 delivers as soon as possible.
    pub interval_seconds: u64,
}

impl Default for BufferingConfig {
    fn default() -> Self {
        Self {
            size_mb: DEFAULT_BUFFER_SIZE_MB,
            interval_seconds: DEFAULT_BUFFER_INTERVAL_SECONDS,
        }
    }
}

impl BufferingConfig {
    pub fn size_bytes(&self) -> usize {
        usize::try_from(self.size_mb).unwrap_or(usize::MAX / 2) * 1024 * 1024
    }
}

/// A credential: kept out of logs and `Debug` output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}
