//! Counting the records a run landed: in a local folder, or in an S3 bucket read
//! back through `object_store` (with the objects and requests that took).

use std::io::Read;
use std::path::Path;

use anyhow::bail;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};

/// Records in one object body: newline-terminated lines, or a Parquet file's rows
/// (`compression` "parquet").
fn count_records(raw: &[u8], compression: &str) -> anyhow::Result<u64> {
    use parquet::file::reader::FileReader;
    let data = match compression {
        "parquet" => {
            let file = parquet::file::serialized_reader::SerializedFileReader::new(
                bytes::Bytes::copy_from_slice(raw),
            )?;
            return Ok(u64::try_from(file.metadata().file_metadata().num_rows())?);
        }
        "gzip" | "GZIP" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw).read_to_end(&mut out)?;
            out
        }
        "none" | "UNCOMPRESSED" => raw.to_vec(),
        other => bail!("counting landed records supports gzip and none, not {other}"),
    };
    Ok(data.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// Records in every object under `root` (for Parquet, in every `.parquet` file).
pub fn count_local(root: &Path, compression: &str) -> anyhow::Result<u64> {
    let mut count = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if compression == "parquet" && path.extension().is_none_or(|e| e != "parquet") {
                // An Iceberg warehouse's metadata beside its data files.
                continue;
            } else {
                count += count_records(&std::fs::read(&path)?, compression)?;
            }
        }
    }
    Ok(count)
}

/// An Iceberg warehouse's data files, and its tables' commits (each commit
/// writes a new `*.metadata.json`; the table's creation wrote the first).
pub fn iceberg_files(root: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut data, mut metadata) = (0u64, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet") {
                data += 1;
            } else if name.ends_with(".metadata.json") {
                metadata += 1;
            }
        }
    }
    Ok((data, metadata.saturating_sub(1)))
}

/// What a run left in a bucket.
pub struct S3Landed {
    pub records: u64,
    pub objects: u64,
    pub bytes: u64,
    pub multipart: u64,
    /// PUTs for single-part objects; create + parts + complete for multipart ones.
    pub requests: u64,
}

pub async fn count_s3(endpoint: &str, bucket: &str, compression: &str) -> anyhow::Result<S3Landed> {
    let store = AmazonS3Builder::from_env()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .build()?;
    let metas: Vec<_> = store.list(None).try_collect().await?;
    let mut landed = S3Landed {
        records: 0,
        objects: 0,
        bytes: 0,
        multipart: 0,
        requests: 0,
    };
    for meta in metas {
        let body = store.get(&meta.location).await?.bytes().await?;
        landed.records += count_records(&body, compression)?;
        landed.objects += 1;
        landed.bytes += meta.size;
        // A multipart ETag is "<md5>-<parts>".
        match meta
            .e_tag
            .as_deref()
            .and_then(|t| t.trim_matches('"').split_once('-'))
            .and_then(|(_, parts)| parts.parse::<u64>().ok())
        {
            Some(parts) => {
                landed.multipart += 1;
                landed.requests += parts + 2;
            }
            None => landed.requests += 1,
        }
    }
    Ok(landed)
}
