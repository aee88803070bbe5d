//! Sluice: a self-hosted delivery daemon that speaks the Amazon Data Firehose API.
//!
//! Data flow: source → ingest → spool (durable; the acknowledgement point) →
//! processors → buffer per destination and partition (staged on disk) → encoder →
//! sink, with failed records going to the error output. The README's Layout
//! section maps the modules.

pub mod api;
pub mod aws;
pub mod config;
pub mod daemon;
pub mod descriptors;
pub mod disk;
pub mod encode;
pub mod error_output;
pub mod keys;
pub mod listener;
pub mod log_filter;
pub mod output;
pub mod pipeline;
pub mod processors;
pub mod record;
pub mod records;
pub mod sinks;
pub mod sources;
pub mod spool;
pub mod swap;
pub mod systemd;
pub mod telemetry;
pub mod tls;
pub mod transform;
