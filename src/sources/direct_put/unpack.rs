//! A request's records through the stream's unpacking processors (decompression,
//! CloudWatch Logs, de-aggregation) before they are spooled, within the memory
//! budget: what a request's records become is bounded by the unpacking cap
//! (`server.max_decoded_body_mb`), which the request claims before it unpacks.
//! Records past the cap are not taken: `PutRecordBatch` answers them as
//! throttled, one by one, and the producer sends them again.

use super::NotTaken;
use super::budget::Claim;
use crate::pipeline::StreamHandle;
use crate::record::Record;
use crate::records::Records;

/// What a request's records became.
pub struct Unpacked {
    /// The records to spool.
    pub records: Records,
    /// How many of the request's records (the first ones) they come from.
    pub taken: usize,
}

/// Unpacks `records` for `stream` (one at a time: lines become records only as
/// they are unpacked, so a body of millions of tiny lines never exists as
/// records all at once); they pass unchanged when the stream has no unpacking
/// processor.
pub async fn unpack(
    stream: &StreamHandle,
    records: Records,
    claim: &mut Claim<'_>,
) -> Result<Unpacked, NotTaken> {
    let Some(cap) = stream.unpacking().map(|u| u.cap()) else {
        let taken = records.len();
        return Ok(Unpacked { records, taken });
    };
    claim.grow(cap).await?;
    let stream = stream.clone();
    // Inflating is CPU work: off the threads that serve requests.
    tokio::task::spawn_blocking(move || {
        let (mut out, mut total, mut taken) = (Vec::new(), 0, 0);
        let input: Box<dyn Iterator<Item = Record>> = match records {
            Records::List(list) => Box::new(list.into_iter()),
            Records::Lines(lines) => Box::new(lines.into_records()),
        };
        for record in input {
            let before = out.len();
            let size = stream.unpack(record, &mut out);
            if taken > 0 && total + size > cap {
                out.truncate(before);
                break;
            }
            total += size;
            taken += 1;
        }
        Unpacked {
            records: Records::List(out),
            taken,
        }
    })
    .await
    .map_err(|e| NotTaken(format!("Slow down. Unpacking the records failed: {e}")))
}
