//! Test harness: starts the real `sluice` binary on loopback, talks to it over HTTP,
//! drives real AWS clients (boto3, the AWS CLI) and reads objects back with real
//! decoders. Tools are installed by `tests/setup/install.sh`; if that fails, the test
//! fails and says why. One concept a file, all re-exported here (each test binary
//! uses some of them, hence the allows).
#![allow(dead_code)]

mod certificates;
mod client;
mod config;
mod daemon;
mod kafka;
mod kinesis_local;
mod outputs;
pub mod receiver;
mod seaweed;
mod tools;
mod wait;

#[allow(unused_imports)]
pub use certificates::*;
#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use config::*;
#[allow(unused_imports)]
pub use daemon::*;
#[allow(unused_imports)]
pub use kafka::*;
#[allow(unused_imports)]
pub use kinesis_local::*;
#[allow(unused_imports)]
pub use outputs::*;
#[allow(unused_imports)]
pub use seaweed::*;
#[allow(unused_imports)]
pub use tools::*;
#[allow(unused_imports)]
pub use wait::*;
