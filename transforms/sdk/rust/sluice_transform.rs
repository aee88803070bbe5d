//! Helpers for Sluice transform plugins written in Rust, with no crates: a module to
//! put beside your plugin (`mod sluice_transform;`) that implements the world's
//! canonical ABI by hand, so that it builds offline with any rustc that has the
//! `wasm32-unknown-unknown` target (Debian's `rustc` with `libstd-rust-dev-wasm32`,
//! 1.63, does) and needs no WASI adapter.
//!
//! ```ignore
//! mod sluice_transform;
//! use sluice_transform::{Answer, Params, Plugin, Record};
//!
//! struct Upper;
//!
//! impl Plugin for Upper {
//!     fn setup(_params: Params) -> Result<Self, String> {
//!         Ok(Upper)
//!     }
//!     fn record(&mut self, record: &Record) -> Answer {
//!         Answer::ok(record.data.to_ascii_uppercase())
//!     }
//! }
//!
//! sluice_transform::export_plugin!(Upper);
//! ```
//!
//! Build: `rustc --edition 2021 --target wasm32-unknown-unknown --crate-type cdylib -O
//! plugin.rs -o plugin.core.wasm`, then `wasm-tools component embed WIT --world
//! transformer plugin.core.wasm -o plugin.embedded.wasm` and `wasm-tools component new
//! plugin.embedded.wasm -o plugin.wasm`.
//!
//! A panic fails the call (the world has no unwinding): its message is logged at
//! level 0 first, which puts it in the failed records' `errorMessage`.

#![allow(dead_code)]

use std::alloc::{alloc, dealloc, realloc, Layout};

/// The processor's params, in the order configured.
pub type Params = Vec<(String, String)>;

/// Log levels of the world's `log` import.
pub const ERROR: u8 = 0;
pub const WARN: u8 = 1;
pub const INFO: u8 = 2;
pub const DEBUG: u8 = 3;
pub const TRACE: u8 = 4;

/// Writes to the daemon's log, tagged with the plugin and the stream.
pub fn log(level: u8, message: &str) {
    // SAFETY: the import reads `len` bytes at `ptr`, which `message` holds.
    unsafe { host_log(i32::from(level), message.as_ptr(), message.len()) }
}

#[link(wasm_import_module = "$root")]
extern "C" {
    #[link_name = "log"]
    fn host_log(level: i32, ptr: *const u8, len: usize);
}

/// Where a record read from a Kinesis stream came from.
pub struct Kinesis {
    pub shard_id: String,
    pub partition_key: String,
    pub sequence_number: String,
    pub sub_sequence_number: u64,
    pub approximate_arrival_ms: u64,
}

/// One record of a batch.
pub struct Record {
    pub id: u64,
    /// The record's bytes, as received (or as the plugin before left them).
    pub data: Vec<u8>,
    /// When Sluice accepted the record, in epoch milliseconds: use it rather than
    /// the clock, so that a replay after a crash gives the same output.
    pub arrival_ms: u64,
    pub kinesis: Option<Kinesis>,
}

impl Record {
    /// The record as UTF-8 text.
    pub fn text(&self) -> Result<&str, String> {
        std::str::from_utf8(&self.data).map_err(|e| format!("not UTF-8: {e}"))
    }
}

/// What becomes of one record.
pub enum Answer {
    /// Delivered as `data`, with partition keys for `!{partitionKeyFromLambda:name}`.
    Ok {
        data: Vec<u8>,
        partition_keys: Vec<(String, String)>,
    },
    /// Leaves no trace.
    Dropped,
    /// Goes to the error output with its data as received and this reason.
    Failed(String),
}

impl Answer {
    pub fn ok(data: impl Into<Vec<u8>>) -> Self {
        Answer::Ok {
            data: data.into(),
            partition_keys: Vec::new(),
        }
    }

    pub fn ok_with_keys(data: impl Into<Vec<u8>>, keys: &[(&str, &str)]) -> Self {
        Answer::Ok {
            data: data.into(),
            partition_keys: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn failed(reason: impl Into<String>) -> Self {
        Answer::Failed(reason.into())
    }
}

/// A plugin: made once per instance from its params, then asked about each record.
pub trait Plugin: Sized {
    /// Called once per instance; an `Err` refuses the configuration.
    fn setup(params: Params) -> Result<Self, String>;
    /// Answers one record.
    fn record(&mut self, record: &Record) -> Answer;
}

/// Defines the world's exports for `$plugin`, a type implementing [`Plugin`].
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        static mut SLUICE_PLUGIN: Option<$plugin> = None;

        #[export_name = "init"]
        pub unsafe extern "C" fn sluice_export_init(ptr: *mut u8, len: usize) -> *mut u8 {
            $crate::sluice_transform::abi::init::<$plugin>(&mut SLUICE_PLUGIN, ptr, len)
        }

        #[export_name = "transform"]
        pub unsafe extern "C" fn sluice_export_transform(ptr: *mut u8, len: usize) -> *mut u8 {
            $crate::sluice_transform::abi::transform::<$plugin>(&mut SLUICE_PLUGIN, ptr, len)
        }
    };
}
pub use export_plugin;

/// The canonical ABI of the `sluice:transform` world on wasm32, by hand. Layouts
/// are those of the world's types (see `wit-bindgen c`'s `transformer.c`).
pub mod abi {
    use super::*;

    #[repr(C)]
    struct RawList {
        ptr: *mut u8,
        len: usize,
    }

    #[repr(C)]
    struct RawKinesis {
        shard_id: RawList,
        partition_key: RawList,
        sequence_number: RawList,
        sub_sequence_number: u64,
        approximate_arrival_ms: u64,
    }

    /// record-in: 72 bytes, 8-aligned.
    #[repr(C)]
    struct RawRecordIn {
        record_id: u64,
        data: RawList,
        approximate_arrival_ms: u64,
        kinesis_is_some: u8,
        kinesis: RawKinesis,
    }

    /// tuple<string, string>.
    #[repr(C)]
    struct RawPair {
        a: RawList,
        b: RawList,
    }

    /// record-out: 32 bytes, 8-aligned; the outcome's tag at 8, its payload at 12.
    #[repr(C)]
    struct RawRecordOut {
        record_id: u64,
        tag: u8,
        first: RawList,
        second: RawList,
    }

    const OK: u8 = 0;
    const DROPPED: u8 = 1;
    const FAILED: u8 = 2;

    /// Where results of more than one value are returned (3 words).
    #[repr(C, align(4))]
    struct RetArea([u8; 12]);
    static mut RET_AREA: RetArea = RetArea([0; 12]);

    /// Takes a list the host allocated with `cabi_realloc` (the guest owns it).
    unsafe fn take_bytes(list: &RawList) -> Vec<u8> {
        if list.len == 0 {
            return Vec::new();
        }
        Vec::from_raw_parts(list.ptr, list.len, list.len)
    }

    unsafe fn take_string(list: &RawList) -> String {
        String::from_utf8_lossy(&take_bytes(list)).into_owned()
    }

    /// Frees a list of `n` items of `size` bytes aligned to `align`.
    unsafe fn free_list(ptr: *mut u8, n: usize, size: usize, align: usize) {
        if n > 0 {
            dealloc(ptr, Layout::from_size_align_unchecked(n * size, align));
        }
    }

    /// Gives bytes to the host: freed in `cabi_post_*`.
    fn give(bytes: Vec<u8>) -> RawList {
        let boxed = bytes.into_boxed_slice();
        let len = boxed.len();
        RawList {
            ptr: Box::into_raw(boxed) as *mut u8,
            len,
        }
    }

    unsafe fn free_given(list: &RawList) {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            list.ptr, list.len,
        )));
    }

    fn panics_to_the_log() {
        std::panic::set_hook(Box::new(|info| log(ERROR, &info.to_string())));
    }

    pub unsafe fn init<P: Plugin>(slot: &mut Option<P>, ptr: *mut u8, len: usize) -> *mut u8 {
        panics_to_the_log();
        let pairs = ptr as *mut RawPair;
        let params = (0..len)
            .map(|i| {
                let pair = &*pairs.add(i);
                (take_string(&pair.a), take_string(&pair.b))
            })
            .collect();
        free_list(ptr, len, std::mem::size_of::<RawPair>(), 4);
        let ret = std::ptr::addr_of_mut!(RET_AREA) as *mut u8;
        match P::setup(params) {
            Ok(plugin) => {
                *slot = Some(plugin);
                *ret = 0;
            }
            Err(reason) => {
                let reason = give(reason.into_bytes());
                *ret = 1;
                *(ret.add(4) as *mut *mut u8) = reason.ptr;
                *(ret.add(8) as *mut usize) = reason.len;
            }
        }
        ret
    }

    pub unsafe fn transform<P: Plugin>(slot: &mut Option<P>, ptr: *mut u8, len: usize) -> *mut u8 {
        let batch = ptr as *mut RawRecordIn;
        let plugin = match slot.as_mut() {
            Some(plugin) => plugin,
            None => panic!("transform called before init"),
        };
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let raw = &*batch.add(i);
            let kinesis = (raw.kinesis_is_some != 0).then(|| Kinesis {
                shard_id: take_string(&raw.kinesis.shard_id),
                partition_key: take_string(&raw.kinesis.partition_key),
                sequence_number: take_string(&raw.kinesis.sequence_number),
                sub_sequence_number: raw.kinesis.sub_sequence_number,
                approximate_arrival_ms: raw.kinesis.approximate_arrival_ms,
            });
            let record = Record {
                id: raw.record_id,
                data: take_bytes(&raw.data),
                arrival_ms: raw.approximate_arrival_ms,
                kinesis,
            };
            let empty = || RawList {
                ptr: std::ptr::null_mut(),
                len: 0,
            };
            let (tag, first, second) = match plugin.record(&record) {
                Answer::Ok {
                    data,
                    partition_keys,
                } => {
                    let pairs: Vec<RawPair> = partition_keys
                        .into_iter()
                        .map(|(k, v)| RawPair {
                            a: give(k.into_bytes()),
                            b: give(v.into_bytes()),
                        })
                        .collect();
                    let pairs = pairs.into_boxed_slice();
                    let keys = RawList {
                        len: pairs.len(),
                        ptr: Box::into_raw(pairs) as *mut u8,
                    };
                    (OK, give(data), keys)
                }
                Answer::Dropped => (DROPPED, empty(), empty()),
                Answer::Failed(reason) => (FAILED, give(reason.into_bytes()), empty()),
            };
            out.push(RawRecordOut {
                record_id: record.id,
                tag,
                first,
                second,
            });
        }
        free_list(ptr, len, std::mem::size_of::<RawRecordIn>(), 8);
        let out = out.into_boxed_slice();
        let ret = std::ptr::addr_of_mut!(RET_AREA) as *mut u8;
        *(ret.add(4) as *mut usize) = out.len();
        *(ret as *mut *mut RawRecordOut) = Box::into_raw(out) as *mut RawRecordOut;
        ret
    }

    #[export_name = "cabi_post_init"]
    unsafe extern "C" fn post_init(ret: *mut u8) {
        if *ret == 1 {
            free_given(&RawList {
                ptr: *(ret.add(4) as *mut *mut u8),
                len: *(ret.add(8) as *mut usize),
            });
        }
    }

    #[export_name = "cabi_post_transform"]
    unsafe extern "C" fn post_transform(ret: *mut u8) {
        let ptr = *(ret as *mut *mut RawRecordOut);
        let len = *(ret.add(4) as *mut usize);
        let outs = Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len));
        for out in outs.iter() {
            match out.tag {
                OK => {
                    free_given(&out.first);
                    let pairs = Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                        out.second.ptr as *mut RawPair,
                        out.second.len,
                    ));
                    for pair in pairs.iter() {
                        free_given(&pair.a);
                        free_given(&pair.b);
                    }
                }
                FAILED => free_given(&out.first),
                _ => {}
            }
        }
    }

    /// The host allocates the lists it passes in through this.
    #[export_name = "cabi_realloc"]
    unsafe extern "C" fn cabi_realloc(
        old: *mut u8,
        old_size: usize,
        align: usize,
        new_size: usize,
    ) -> *mut u8 {
        if new_size == 0 {
            return align as *mut u8;
        }
        let ptr = if old.is_null() || old_size == 0 {
            alloc(Layout::from_size_align_unchecked(new_size, align))
        } else {
            realloc(
                old,
                Layout::from_size_align_unchecked(old_size, align),
                new_size,
            )
        };
        if ptr.is_null() {
            std::process::abort();
        }
        ptr
    }
}
