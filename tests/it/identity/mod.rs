//! The contract of names, cross-site protection and limits: every case runs against the
//! memory broker, a real Redis and a Redis Cluster (see `contract!`).

mod fixation;
mod holding;
mod limits;
mod names;
mod security;
