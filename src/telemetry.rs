//! Prometheus metrics, named after Firehose's CloudWatch metrics (contract §11) so
//! dashboards translate: `IncomingRecords` is `sluice_incoming_records_total`, and so on.
//! Each is labelled by `stream`. Call sites use these functions, so names live here once.

use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide recorder. Returns `None` (metrics off, logged) if one is
/// already installed.
pub fn install() -> Option<PrometheusHandle> {
    match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "metrics are off: cannot install the prometheus recorder");
            None
        }
    }
}

/// Records accepted (acknowledged) by a stream: `IncomingRecords`, `IncomingBytes`.
pub fn ingested(stream: &str, records: usize, bytes: u64) {
    let labels = [("stream", stream.to_string())];
    counter!("sluice_incoming_records_total", &labels).increment(records as u64);
    counter!("sluice_incoming_bytes_total", &labels).increment(bytes);
}

/// A successful put request (`IncomingPutRequests`), by operation.
pub fn put_request(stream: &str, operation: &'static str) {
    counter!("sluice_incoming_put_requests_total", "stream" => stream.to_string(), "operation" => operation)
        .increment(1);
}

/// Records refused with `ServiceUnavailableException` (`ThrottledRecords`).
pub fn throttled(stream: &str, records: usize) {
    counter!("sluice_throttled_records_total", "stream" => stream.to_string())
        .increment(records as u64);
}

/// A request answered "Slow down." before it was read: the memory requests in
/// flight may hold (`server.ingest_memory_mb`) was taken for longer than it waits.
pub fn ingest_throttled(reason: &'static str) {
    counter!("sluice_ingest_throttled_requests_total", "reason" => reason).increment(1);
}

/// An object stored (`DeliveryToS3.ObjectCount`, `.Records`, `.Bytes`; bytes as stored).
pub fn delivered(stream: &str, records: usize, stored_bytes: usize) {
    let labels = [("stream", stream.to_string())];
    counter!("sluice_delivered_objects_total", &labels).increment(1);
    counter!("sluice_delivered_records_total", &labels).increment(records as u64);
    counter!("sluice_delivered_bytes_total", &labels).increment(stored_bytes as u64);
}

/// Records converted to the stream's format and records that did not, with their
/// bytes (Firehose's `SucceedConversion.*` and `FailedConversion.*`).
pub fn converted(stream: &str, succeeded: (usize, usize), failed: (usize, usize)) {
    for (result, (records, bytes)) in [("succeeded", succeeded), ("failed", failed)] {
        let labels = [
            ("stream", stream.to_string()),
            ("result", result.to_string()),
        ];
        counter!("sluice_conversion_records_total", &labels).increment(records as u64);
        counter!("sluice_conversion_bytes_total", &labels).increment(bytes as u64);
    }
}

/// What the transform plugins made of a batch's records (Firehose's
/// `SucceedProcessing.Records` and friends), and how long the plugins took
/// (`ExecuteProcessing.Duration`).
pub fn processed(
    stream: &str,
    ok: usize,
    dropped: usize,
    failed: usize,
    took: std::time::Duration,
) {
    for (result, records) in [("ok", ok), ("dropped", dropped), ("failed", failed)] {
        let labels = [
            ("stream", stream.to_string()),
            ("result", result.to_string()),
        ];
        counter!("sluice_processing_records_total", &labels).increment(records as u64);
    }
    counter!("sluice_processing_microseconds_total", "stream" => stream.to_string())
        .increment(took.as_micros() as u64);
}

/// Time one processor spent on a batch (Firehose's `JQProcessing.Duration` for
/// `MetadataExtraction`).
pub fn processor_time(stream: &str, processor: &'static str, took: std::time::Duration) {
    counter!("sluice_processor_microseconds_total", "stream" => stream.to_string(), "processor" => processor)
        .increment(took.as_micros() as u64);
}

/// The stream's active partitions (Firehose's `PartitionCount`).
pub fn partition_count(stream: &str, partitions: usize) {
    gauge!("sluice_partition_count", "stream" => stream.to_string()).set(partitions as f64);
}

/// A record refused for the active-partition limit (Firehose's
/// `PartitionCountExceeded`, counted).
pub fn partition_count_exceeded(stream: &str) {
    counter!("sluice_partition_count_exceeded_total", "stream" => stream.to_string()).increment(1);
}

/// An open buffer sealed before its size or interval because the spool was
/// nearly full and it held the spool's oldest record.
pub fn early_seal(stream: &str) {
    counter!("sluice_early_seals_total", "stream" => stream.to_string()).increment(1);
}

/// Bytes of a stream's open buffers waiting in staging files (on disk, in the
/// page cache: not the daemon's own memory).
pub fn staged_bytes(stream: &str, bytes: u64) {
    gauge!("sluice_staged_bytes", "stream" => stream.to_string()).set(bytes as f64);
}

/// Bytes of `server.delivery_memory_mb` that loaded batches hold now (data,
/// marks), and the budget: with the ingest memory, what the daemon's memory is.
pub fn delivery_memory(held: u64, budget: u64) {
    gauge!("sluice_delivery_memory_bytes").set(held as f64);
    gauge!("sluice_delivery_memory_budget_bytes").set(budget as f64);
}

/// How far a Kinesis shard's reader is behind the stream's tip (Firehose's
/// `DataReadFromKinesisStream` lag, the KCL's `MillisBehindLatest`).
pub fn kinesis_behind(stream: &str, shard: &str, millis: u64) {
    gauge!("sluice_kinesis_millis_behind_latest", "stream" => stream.to_string(), "shard" => shard.to_string())
        .set(millis as f64);
}

/// Messages a Kafka source read from a partition.
pub fn kafka_read(stream: &str, partition: i32, messages: u64) {
    counter!("sluice_kafka_records_read_total", "stream" => stream.to_string(), "partition" => partition.to_string())
        .increment(messages);
}

/// The offset a Kafka source last committed for a partition.
pub fn kafka_committed(stream: &str, partition: i32, offset: i64) {
    gauge!("sluice_kafka_committed_offset", "stream" => stream.to_string(), "partition" => partition.to_string())
        .set(offset as f64);
}

/// How far a Kafka source's group is behind a partition's end, in messages
/// (librdkafka's statistics).
pub fn kafka_lag(stream: &str, partition: i32, messages: i64) {
    gauge!("sluice_kafka_consumer_lag", "stream" => stream.to_string(), "partition" => partition.to_string())
        .set(messages as f64);
}

/// A failed delivery attempt, by error code (it will be retried).
pub fn delivery_failed(stream: &str, code: &str) {
    counter!("sluice_delivery_failures_total", "stream" => stream.to_string(), "code" => code.to_string())
        .increment(1);
}

/// Bytes a stream's spool holds on disk: records not yet delivered, and delivered
/// ones that share a segment with them (the measure `spool.max_size_mb` limits).
pub fn spool_bytes(stream: &str, bytes: u64) {
    gauge!("sluice_spool_bytes", "stream" => stream.to_string()).set(bytes as f64);
}

/// Records accepted by a stream and not yet delivered (or written to the error output).
pub fn backlog_records(stream: &str, records: u64) {
    gauge!("sluice_backlog_records", "stream" => stream.to_string()).set(records as f64);
}

/// Records written to the error output, by error output type.
pub fn error_output(stream: &str, kind: &str, records: usize) {
    counter!("sluice_error_output_records_total", "stream" => stream.to_string(), "type" => kind.to_string())
        .increment(records as u64);
}
