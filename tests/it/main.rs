//! The integration tests, in one binary (as zero-to-production's `tests/api/main.rs`):
//! each module was a test binary of its own. They spawn the real server on port 0, on the
//! memory broker, a real Redis (`TEST_REDIS_URL`, else the machine's on 127.0.0.1:6379) or
//! a real Redis Cluster.
//!
//! A case that cannot run on a plain `cargo test` (it needs a Redis Cluster) is
//! `#[ignore]`d with its reason, so that it is reported as ignored, never as passed;
//! `scripts/test` starts a cluster and runs them all with `--include-ignored`. Run
//! without what it needs, such a case fails.
#![cfg(feature = "ssr")]

#[macro_use]
mod helpers;

mod api;
mod assets;
mod awareness;
mod bench_smoke;
mod changes;
mod cluster;
mod cluster_awareness;
mod hostile;
mod identity;
mod kept;
mod kept_nodes;
mod redis_cluster;
mod redis_outage;
