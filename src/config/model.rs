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

pub use crate::sinks::http::{
    DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS, DEFAULT_HTTP_RETRY_DURATION_SECONDS, HttpBackupMode,
    HttpContentEncoding, HttpDestination, MAX_HTTP_RETRY_DURATION_SECONDS,
};
pub use crate::sinks::local::LocalDestination;
pub use crate::sinks::s3::S3Destination;

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

    /// The metadata extraction query, if the stream has one.
    /// The prefix of data keys: the destination's; for an Iceberg table
    /// `<namespace>/<table>/`, either one taken from the records' routing
    /// metadata (see `sinks::iceberg::routing`), so that records bound for
    /// different tables are buffered apart and each batch's key names its table.
    pub fn data_prefix(&self) -> String {
        match &self.destination {
            DestinationConfig::Iceberg(i) => self.table_routing(i).prefix,
            d => d.layout().prefix.to_string(),
        }
    }

    /// The partition keys a record may lack, and the value it then takes (an
    /// Iceberg table's configured names, for records without routing metadata).
    pub fn partition_defaults(&self) -> std::collections::BTreeMap<String, String> {
        match &self.destination {
            DestinationConfig::Iceberg(i) => self.table_routing(i).defaults,
            _ => std::collections::BTreeMap::new(),
        }
    }

    fn table_routing(
        &self,
        iceberg: &crate::sinks::iceberg::IcebergDestination,
    ) -> crate::sinks::iceberg::TableRouting {
        let query_keys = self
            .metadata_query()
            .and_then(crate::processors::metadata_extraction::MetadataExtraction::key_names);
        iceberg.routing(query_keys.as_deref(), self.plugins().next().is_some())
    }

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

/// One step of record processing.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProcessorConfig {
    /// Firehose's `Decompression`: gzip records are inflated as they enter the
    /// stream (CloudWatch Logs subscription payloads are gzip).
    Decompression(DecompressionProcessor),
    /// Firehose's `CloudWatchLogProcessing`: a CloudWatch Logs subscription
    /// message becomes one record per log event; control messages are dropped.
    CloudwatchLogs(CloudWatchLogsProcessor),
    /// Firehose's `RecordDeAggregation`: concatenated JSON objects (or JSON
    /// lines), or delimited sub-records, become one record each.
    Deaggregation(DeaggregationProcessor),
    /// A WebAssembly component of the `sluice:transform` world (`transforms/wit/`).
    Wasm(WasmProcessor),
    /// Firehose's `MetadataExtraction`: a jq object expression whose values fill
    /// `!{partitionKeyFromQuery:...}`.
    MetadataExtraction(MetadataExtractionProcessor),
    /// Firehose's `AppendDelimiterToRecord`: a delimiter after each record in
    /// delivered objects.
    AppendDelimiter(AppendDelimiterProcessor),
}

impl ProcessorConfig {
    /// Firehose's `ProcessorType` for it.
    pub fn firehose_type(&self) -> &'static str {
        match self {
            Self::Decompression(_) => "Decompression",
            Self::CloudwatchLogs(_) => "CloudWatchLogProcessing",
            Self::Deaggregation(_) => "RecordDeAggregation",
            Self::Wasm(_) => "Lambda",
            Self::MetadataExtraction(_) => "MetadataExtraction",
            Self::AppendDelimiter(_) => "AppendDelimiterToRecord",
        }
    }

    /// Its `type` in the config file.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Decompression(_) => "decompression",
            Self::CloudwatchLogs(_) => "cloudwatch_logs",
            Self::Deaggregation(_) => "deaggregation",
            Self::Wasm(_) => "wasm",
            Self::MetadataExtraction(_) => "metadata_extraction",
            Self::AppendDelimiter(_) => "append_delimiter",
        }
    }

    /// Its place in Firehose's processing order (contract §6.5).
    pub fn stage(&self) -> u8 {
        match self {
            Self::Decompression(_) => 0,
            Self::CloudwatchLogs(_) => 1,
            Self::Deaggregation(_) => 2,
            Self::Wasm(_) => 3,
            Self::MetadataExtraction(_) => 4,
            Self::AppendDelimiter(_) => 6,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecompressionProcessor {
    /// Firehose's `CompressionFormat`; `gzip` is the only one (as in Firehose).
    #[serde(default)]
    pub format: DecompressionFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecompressionFormat {
    #[default]
    Gzip,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchLogsProcessor {
    /// Firehose's `DataMessageExtraction`: each log event's message becomes a
    /// record. Must be true, as in Firehose (without it, decompression alone
    /// delivers the subscription messages whole).
    pub data_message_extraction: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeaggregationProcessor {
    /// Firehose's `SubRecordType`.
    pub sub_record_type: SubRecordType,
    /// For `delimited`: what separates sub-records (Firehose's `Delimiter`, given
    /// here as text, not base64).
    pub delimiter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubRecordType {
    /// Concatenated JSON values, on one line or as JSON lines.
    Json,
    /// Sub-records separated by `delimiter`.
    Delimited,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataExtractionProcessor {
    /// One jq object expression, up to 50 keys: `{customer: .customer_id}`.
    pub query: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendDelimiterProcessor {
    /// What follows each record; Firehose's is a newline.
    #[serde(default = "default_record_delimiter")]
    pub delimiter: String,
}

fn default_record_delimiter() -> String {
    "\n".to_string()
}

/// A WASM transform plugin and the limits it runs under. Defaults follow Firehose's
/// Lambda processor: 3 retries, 1 MB batches; 5 s is Sluice's (a Lambda may run 5 min).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmProcessor {
    /// The component (`.wasm`), relative to the working directory.
    pub module: std::path::PathBuf,
    /// Passed to the plugin's `init` (Lambda's environment, in effect).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// Longest a call may run before it is stopped (an epoch deadline).
    #[serde(default = "default_plugin_timeout")]
    pub timeout_ms: u64,
    /// Largest size of each of the plugin's linear memories.
    #[serde(default = "default_plugin_memory")]
    pub memory_mb: u64,
    /// Most records in one call.
    #[serde(default = "default_plugin_batch_records")]
    pub batch_records: usize,
    /// Most record bytes in one call (Lambda's `BufferSizeInMBs`).
    #[serde(default = "default_plugin_batch_mb")]
    pub batch_mb: u64,
    /// Calls after a failed one (trap, timeout, memory cap), each on a fresh
    /// instance, before the batch goes to the error output (`NumberOfRetries`).
    #[serde(default = "default_plugin_retries")]
    pub retries: u32,
    /// Environment variables passed through to the plugin by name (none by default).
    #[serde(default)]
    pub env: Vec<String>,
    /// Host directories the plugin may read: guest path → host path (none by default).
    #[serde(default)]
    pub read_dirs: std::collections::BTreeMap<String, std::path::PathBuf>,
    /// Lets the plugin open network connections (off by default).
    #[serde(default)]
    pub network: bool,
    /// With `network`, the hosts (`name` or `name:port`) the plugin may send
    /// `wasi:http` requests to; every other request is refused.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Sends the plugin's stdout/stderr to the daemon's own instead of its log.
    #[serde(default)]
    pub inherit_stdio: bool,
}

fn default_plugin_timeout() -> u64 {
    5_000
}

fn default_plugin_memory() -> u64 {
    128
}

fn default_plugin_batch_records() -> usize {
    500
}

fn default_plugin_batch_mb() -> u64 {
    1
}

fn default_plugin_retries() -> u32 {
    3
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

/// Where a stream's records come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Firehose's `PutRecord` / `PutRecordBatch` and the NDJSON endpoint.
    #[default]
    DirectPut,
    /// Log files tailed as a sidecar: one record per line.
    File(FileSource),
    /// The daemon's standard input, one record per line; the daemon stops (after
    /// delivering everything) at the end of the input.
    Stdin(StdinSource),
    /// A Kinesis data stream (AWS or a compatible server), every shard read.
    Kinesis(KinesisSource),
}

impl SourceConfig {
    /// The name logs and `sluice check` use.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DirectPut => "direct_put",
            Self::File(_) => "file",
            Self::Stdin(_) => "stdin",
            Self::Kinesis(_) => "kinesis",
        }
    }
}

/// Where tailing starts in a file found at start-up with no checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Only lines written from now on (as `tail -f`).
    #[default]
    End,
    /// The whole file.
    Beginning,
}

/// Tailing files matched by glob patterns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// Glob patterns (`/var/log/app/*.log`); files that start matching later are
    /// picked up, from their beginning.
    pub paths: Vec<String>,
    /// For files present at the first start: `end` (default) or `beginning`.
    #[serde(default)]
    pub start_at: StartAt,
    /// What ends a record; it is kept at the end of the record (default `"\n"`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Joins continuation lines to the line they continue.
    pub multiline: Option<MultilineConfig>,
    /// How often files are checked for new data, rotation and new matches.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
}

/// Reading standard input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSource {
    /// What ends a record; it is kept at the end of the record (default `"\n"`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Joins continuation lines to the line they continue.
    pub multiline: Option<MultilineConfig>,
}

/// Multi-line records (stack traces): a line matching `pattern` starts a record and
/// the lines that do not match are joined to it; `negate = false` inverts this: a
/// matching line continues the record before it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A regular expression (Rust `regex` syntax).
    pub pattern: String,
    #[serde(default)]
    pub negate: bool,
    /// A record waiting for continuation lines is sent after this long without one.
    #[serde(default = "default_multiline_timeout")]
    pub timeout_ms: u64,
}

/// Where reading starts in a shard with no checkpoint (Firehose's default: LATEST).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum StartingPosition {
    #[serde(rename = "TRIM_HORIZON", alias = "trim_horizon")]
    TrimHorizon,
    #[default]
    #[serde(rename = "LATEST", alias = "latest")]
    Latest,
    /// From `timestamp` on.
    #[serde(rename = "AT_TIMESTAMP", alias = "at_timestamp")]
    AtTimestamp,
}

/// Reading a Kinesis data stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisSource {
    pub stream_name: String,
    /// A Kinesis-compatible endpoint (`http://127.0.0.1:4568`); default AWS's for
    /// the region.
    pub endpoint: Option<String>,
    /// Default `AWS_REGION`, `AWS_DEFAULT_REGION`, or `us-east-1`.
    pub region: Option<String>,
    /// For shards with no checkpoint: `TRIM_HORIZON`, `LATEST` (default) or
    /// `AT_TIMESTAMP` (with `timestamp`). Shards created by a reshard are read
    /// from their start.
    #[serde(default)]
    pub starting_position: StartingPosition,
    /// RFC 3339 time for `AT_TIMESTAMP`.
    pub timestamp: Option<String>,
    /// Credentials; without them, the `profile`, then the AWS environment variables.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub profile: Option<String>,
    /// How long a shard with no new records waits before asking again.
    #[serde(default = "default_idle_poll_ms")]
    pub idle_poll_ms: u64,
}

fn default_idle_poll_ms() -> u64 {
    1000
}

fn default_poll_ms() -> u64 {
    250
}

fn default_delimiter() -> String {
    "\n".into()
}

fn default_multiline_timeout() -> u64 {
    1000
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

/// Where a stream's objects go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DestinationConfig {
    /// A folder on local disk; object keys become relative paths.
    Local(LocalDestination),
    /// An S3-compatible object store: AWS S3, MinIO, SeaweedFS, ...
    S3(S3Destination),
    /// An HTTP endpoint that speaks Firehose's HTTP delivery protocol.
    Http(HttpDestination),
    /// An Apache Iceberg table (its settings live with its sink).
    Iceberg(crate::sinks::iceberg::IcebergDestination),
}

/// Where an HTTP destination's failed records (and, with `AllData`, all records)
/// are written: Firehose requires an S3 backup for HTTP endpoints, and so does Sluice.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObjectDestination {
    Local(LocalDestination),
    S3(S3Destination),
}

/// Firehose's S3 retry duration: failed deliveries are retried for a day.
pub const DEFAULT_RETRY_DURATION_SECONDS: u64 = 86_400;
/// The longest retry duration accepted: a week of records waiting on disk.
pub const MAX_RETRY_DURATION_SECONDS: u64 = 7 * 86_400;

/// The default `retry_duration_seconds` of object destinations (local, S3).
pub fn default_retry_duration() -> u64 {
    DEFAULT_RETRY_DURATION_SECONDS
}

/// Firehose's `S3BackupMode` for S3 destinations: a copy of the source records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum BackupMode {
    #[default]
    Disabled,
    Enabled,
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

/// What every object destination has: where keys go and how failures are handled.
pub struct ObjectLayout<'a> {
    pub prefix: &'a str,
    /// Firehose's `CustomTimeZone`: the IANA zone of the time in keys (UTC if unset).
    pub time_zone: Option<&'a str>,
    pub error_output_prefix: &'a str,
    pub retry_duration_seconds: u64,
    pub backup_prefix: Option<&'a str>,
}

impl ObjectDestination {
    pub fn layout(&self) -> ObjectLayout<'_> {
        match self {
            Self::Local(l) => l.layout(),
            Self::S3(s) => s.layout(),
        }
    }
}

impl DestinationConfig {
    /// Keys and failure handling. For an HTTP endpoint: its retry duration, and the
    /// error destination's prefixes (`AllData` backs up under its `prefix`).
    pub fn layout(&self) -> ObjectLayout<'_> {
        match self {
            Self::Local(l) => l.layout(),
            Self::S3(s) => s.layout(),
            Self::Http(h) => {
                let errors = h.error_destination.layout();
                ObjectLayout {
                    prefix: errors.prefix,
                    time_zone: errors.time_zone,
                    error_output_prefix: errors.error_output_prefix,
                    retry_duration_seconds: h.retry_duration_seconds,
                    backup_prefix: (h.s3_backup_mode == HttpBackupMode::AllData)
                        .then_some(errors.prefix),
                }
            }
            Self::Iceberg(i) => i.layout(),
        }
    }

    pub fn error_output_prefix(&self) -> &str {
        self.layout().error_output_prefix
    }

    /// A short description for logs (`local:/data/out`, `s3://bucket`, the URL).
    pub fn describe(&self) -> String {
        match self {
            Self::Local(l) => format!("local:{}", l.path.display()),
            Self::S3(s) => format!("s3://{}", s.bucket),
            Self::Http(h) => h.url.clone(),
            Self::Iceberg(i) => i.describe(),
        }
    }
}
