//! The spool through its public calls: appends read back, limits, deletion, recovery.

use super::*;
use crate::config::SpoolConfig;

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_size_mb: 1,
        durability: Durability::Fsync,
    }
}

fn records(tag: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record::new(format!("{tag}{i}").into_bytes(), i as i64))
        .collect()
}

async fn read_all(reader: &mut Reader) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while !reader.caught_up() {
        for item in reader.read().await.unwrap() {
            match item {
                Item::Record { seq, record } => {
                    out.push((seq, String::from_utf8(record.data.to_vec()).unwrap()))
                }
                Item::Damaged(d) => panic!("damaged: {d:?}"),
            }
        }
    }
    out
}

/// Waits (a second at most) until the spool holds nothing but a segment header:
/// deletion and recycling happen behind `delivered`.
async fn wait_until_emptied(spool: &Spool) {
    for _ in 0..100 {
        if spool.shared.size.load(Ordering::Acquire) == segment::HEADER_LEN {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn appends_are_read_back_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
    // 64 KiB segments: 100 records of 1 KiB take two of them.
    let big: Vec<Record> = (0..100)
        .map(|i| Record::new(format!("{i:04}{}", "x".repeat(1020)).into_bytes(), 0))
        .collect();
    for chunk in big.chunks(10) {
        opened.spool.append(chunk.to_vec()).await.unwrap();
    }
    let got = read_all(&mut opened.reader).await;
    assert_eq!(got.len(), 100);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (seq, data))| *seq == i as u64 && data.starts_with(&format!("{i:04}")))
    );
    assert!(
        segment::list(&crate::disk::Os, &dir.path().join("s"))
            .unwrap()
            .len()
            >= 2
    );
    // Deliver everything: the older segments go, the current one is emptied.
    opened
        .spool
        .delivered(1, vec![(0, 100)].into(), Copy::Primary)
        .await
        .unwrap();
    wait_until_emptied(&opened.spool).await;
    let left = segment::list(&crate::disk::Os, &dir.path().join("s")).unwrap();
    assert_eq!(
        left.into_iter().collect::<Vec<_>>(),
        vec![(100, segment::HEADER_LEN)]
    );
}

/// After a machine crash in buffered mode, the ledger may know records the spool
/// lost: new records must not take their numbers, or a stale seal would claim them.
#[tokio::test]
async fn new_records_never_reuse_numbers_the_ledger_knows() {
    let dir = tempfile::tempdir().unwrap();
    {
        let opened = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
        opened.spool.append(records("a", 5)).await.unwrap();
        let seal = Seal {
            batch: opened.spool.next_batch_id(),
            key: "k".into(),
            seqs: vec![(0, 5)].into(),
            output: crate::output::Output::Data,
            codec: None,
        };
        opened.spool.seal(seal).await.unwrap();
        opened.spool.close();
    }
    tokio::task::yield_now().await;
    // The records vanish, as unsynced writes do in a power loss.
    let seg = segment::path(&dir.path().join("s"), 0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(segment::HEADER_LEN)
        .unwrap();
    let mut opened = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
    assert_eq!(opened.recovery.pending.len(), 1);
    opened.spool.append(records("b", 2)).await.unwrap();
    let got = read_all(&mut opened.reader).await;
    assert_eq!(got, vec![(5, "b0".to_string()), (6, "b1".to_string())]);
}

/// Regression: deliveries that finish at once each deleted the same segments and
/// uncounted them twice, so the spool's size wrapped around and it refused every
/// put as full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_uncount_each_segment_once() {
    let dir = tempfile::tempdir().unwrap();
    let opened = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
    let kib: Vec<Record> = (0..10).map(|_| Record::new(vec![b'x'; 1024], 0)).collect();
    for round in 0..10u64 {
        for _ in 0..40 {
            opened.spool.append(kib.clone()).await.unwrap();
        }
        assert!(
            segment::list(&crate::disk::Os, &dir.path().join("s"))
                .unwrap()
                .len()
                > 4
        );
        // 40 batches of 10 records, delivered in reverse order, all at once.
        let deliveries: Vec<_> = (0..40u64)
            .rev()
            .map(|b| {
                let (spool, first) = (opened.spool.clone(), round * 400 + b * 10);
                tokio::spawn(async move {
                    let batch = round * 40 + b + 1;
                    spool
                        .delivered(batch, vec![(first, first + 10)].into(), Copy::Primary)
                        .await
                })
            })
            .collect();
        for d in deliveries {
            d.await.unwrap().unwrap();
        }
        let mut size = 0;
        for _ in 0..100 {
            size = opened.spool.shared.size.load(Ordering::Acquire);
            if size == segment::HEADER_LEN {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            size,
            segment::HEADER_LEN,
            "round {round}: everything is delivered"
        );
    }
}

#[tokio::test]
async fn the_limit_refuses_appends_until_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let opened = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
    let mib = vec![Record::new(vec![b'x'; 600 * 1024], 0)];
    // An empty spool takes even a batch over the limit.
    opened.spool.append(mib.clone()).await.unwrap();
    assert_eq!(
        opened.spool.append(mib.clone()).await,
        Err(AppendError::Full)
    );
    opened
        .spool
        .delivered(1, vec![(0, 1)].into(), Copy::Primary)
        .await
        .unwrap();
    // Emptying the segment happens on the writer task.
    for _ in 0..100 {
        if opened.spool.append(mib.clone()).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the spool never took records again");
}

/// Found by the Kinesis source: a reader that had read a segment to its end kept
/// its file handle; once the segment was emptied for reuse and new records made
/// it longer than before, the reader read them through the old handle, from the
/// middle of a frame, and reported damage.
#[tokio::test]
async fn a_reader_does_not_read_a_recycled_segment_through_its_old_handle() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
    opened.spool.append(records("a", 10)).await.unwrap();
    assert_eq!(read_all(&mut opened.reader).await.len(), 10);
    opened
        .spool
        .delivered(1, vec![(0, 10)].into(), Copy::Primary)
        .await
        .unwrap();
    wait_until_emptied(&opened.spool).await;
    // More bytes than the segment held before it was emptied.
    let bigger: Vec<Record> = (0..10)
        .map(|i| Record::new(format!("b{i}-{}", "y".repeat(40)).into_bytes(), 0))
        .collect();
    opened.spool.append(bigger).await.unwrap();
    let got = read_all(&mut opened.reader).await;
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (10..20).collect::<Vec<_>>());
    assert!(got.iter().all(|(_, d)| d.starts_with('b')));
}

#[tokio::test]
async fn a_retired_spool_lets_its_folder_be_opened_again_and_writes_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let opened = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
    opened.spool.append(records("a", 3)).await.unwrap();
    // The folder is locked while the spool is open.
    assert!(Spool::open("s", &config(dir.path()), false, crate::disk::os()).is_err());
    opened.spool.retire().await;
    // Still referenced (a request in flight holds it), yet refusing and unlocked.
    assert_eq!(
        opened.spool.append(records("b", 1)).await,
        Err(AppendError::ShuttingDown)
    );
    let seal = Seal {
        batch: 1,
        key: "k".into(),
        seqs: RangeSet::from(vec![(0, 3)]),
        output: crate::output::Output::Data,
        codec: None,
    };
    assert!(opened.spool.seal(seal).await.is_err());
    let mut again = Spool::open("s", &config(dir.path()), false, crate::disk::os()).unwrap();
    // What was appended before is there, and no batch was sealed after the retire.
    assert!(again.recovery.pending.is_empty());
    assert_eq!(
        read_all(&mut again.reader).await,
        [(0, "a0".into()), (1, "a1".into()), (2, "a2".into())]
    );
}
