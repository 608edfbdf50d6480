//! The contract suite of messages, streams, sessions and pages (`docs/API.md`): every case
//! runs against the memory broker, a real Redis and a Redis Cluster (see `contract!`).

mod edges;
mod errors;
mod messages;
mod pages;
mod resume;
mod server_fns;
mod sessions;
mod streams;
