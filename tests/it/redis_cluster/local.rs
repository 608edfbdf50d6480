//! A Redis Cluster of a test's own (`scripts/redis-cluster`), which the test may break.

use super::two_nodes;
use crate::helpers::{TestApp, unique_prefix};
use std::path::PathBuf;

/// A cluster of its own (three masters, three replicas), for a test that breaks it.
pub(super) struct LocalCluster {
    dir: PathBuf,
    pub(super) urls: Vec<String>,
}

impl LocalCluster {
    pub(super) fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("tiny-chat-cluster-{}", unique_prefix()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis-cluster");
        let output = std::process::Command::new(script)
            .arg("start")
            .arg(&dir)
            .env("CLUSTER_PORT", "free")
            .output()
            .expect("running scripts/redis-cluster");
        assert!(
            output.status.success(),
            "starting a cluster: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let urls = String::from_utf8(output.stdout).unwrap();
        Self {
            dir,
            urls: urls.trim().split(',').map(str::to_owned).collect(),
        }
    }

    /// Kills a node as `kill -9` would.
    pub(super) fn kill(&self, port: u16) {
        let pid = std::fs::read_to_string(self.dir.join(format!("{port}.pid"))).unwrap();
        let status = std::process::Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis-cluster");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// A cluster of the test's own, two nodes on it and their key prefix.
pub(super) async fn a_cluster_to_break() -> (LocalCluster, TestApp, TestApp, String) {
    let cluster = LocalCluster::start();
    let (a, b) = two_nodes(&cluster.urls).await;
    let prefix = a.config.redis_prefix.clone();
    (cluster, a, b, prefix)
}
