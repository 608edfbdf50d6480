//! The node's one writer: requests in, one transaction per batch (group commit), the
//! entries published after the commit, then the answers (the module's doc says why).

use super::{
    apply::{self, Answer, Request},
    now_ms,
    store::Store,
};
use crate::server::broker::{
    BrokerError, BrokerResult, Change, Changed, NewMessage, Published, redis::RedisBroker,
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};

/// The most requests one transaction takes.
const MAX_BATCH: usize = 256;
/// Requests waiting for the writer at most; past it, a write waits for room.
const QUEUE: usize = 4096;
/// A batch that takes longer than this (the database is gone, or stuck) is given up,
/// and its requests answer `503`. Its transaction is rolled back by the database when
/// the connection drops: nothing half-written remains.
const BATCH_TIMEOUT: Duration = Duration::from_secs(5);

pub enum Reply {
    Post(oneshot::Sender<BrokerResult<Published>>),
    Change(oneshot::Sender<BrokerResult<Changed>>),
    Done(Option<oneshot::Sender<BrokerResult<()>>>),
}

impl Reply {
    fn send(self, answer: Answer) {
        // A request whose caller went away (its client hung up) is answered to nobody.
        match (self, answer) {
            (Reply::Post(tx), Answer::Post(answer)) => drop(tx.send(answer)),
            (Reply::Change(tx), Answer::Change(answer)) => drop(tx.send(answer)),
            (Reply::Done(Some(tx)), Answer::Done) => drop(tx.send(Ok(()))),
            (Reply::Done(None), Answer::Done) => {}
            _ => unreachable!("every request is answered in its own kind"),
        }
    }

    fn fail(self, error: &anyhow::Error) {
        let unavailable = || BrokerError::Unavailable(anyhow::anyhow!("the database: {error:#}"));
        match self {
            Reply::Post(tx) => drop(tx.send(Err(unavailable()))),
            Reply::Change(tx) => drop(tx.send(Err(unavailable()))),
            Reply::Done(Some(tx)) => drop(tx.send(Err(unavailable()))),
            Reply::Done(None) => {}
        }
    }
}

/// The handle the broker writes through.
pub struct Writer {
    queue: mpsc::Sender<(Request, Reply)>,
    /// Set when a batch failed, cleared when one commits.
    pub failing: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the writer's task, which ends when every handle is gone.
    pub fn start(store: Arc<Store>, live: Arc<RedisBroker>) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        let failing = Arc::new(AtomicBool::new(false));
        tokio::spawn(run(store, live, requests, Arc::clone(&failing)));
        Self { queue, failing }
    }

    async fn ask<T>(
        &self,
        request: Request,
        reply: impl FnOnce(oneshot::Sender<BrokerResult<T>>) -> Reply,
    ) -> BrokerResult<T> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((request, reply(tx)))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    pub async fn post(&self, new: NewMessage) -> BrokerResult<Published> {
        self.ask(Request::Post(new), Reply::Post).await
    }

    pub async fn change(&self, change: Change) -> BrokerResult<Changed> {
        self.ask(Request::Change(change), Reply::Change).await
    }

    pub async fn hold(
        &self,
        key: String,
        released: Option<String>,
        session_id: String,
        expires_ms: u64,
    ) -> BrokerResult<()> {
        let request = Request::Hold {
            key,
            released,
            session_id,
            expires_ms,
        };
        self.ask(request, |tx| Reply::Done(Some(tx))).await
    }

    pub async fn release(&self, key: String, session_id: String) -> BrokerResult<()> {
        self.ask(Request::Release { key, session_id }, |tx| {
            Reply::Done(Some(tx))
        })
        .await
    }

    /// Writes a hold's new expiry, without waiting (dropped when the queue is full).
    pub fn touch(&self, key: String, session_id: String, expires_ms: u64) {
        let request = Request::Touch {
            key,
            session_id,
            expires_ms,
        };
        let _ = self.queue.try_send((request, Reply::Done(None)));
    }
}

fn stopped() -> BrokerError {
    BrokerError::Unavailable(anyhow::anyhow!("the database writer stopped"))
}

async fn run(
    store: Arc<Store>,
    live: Arc<RedisBroker>,
    mut requests: mpsc::Receiver<(Request, Reply)>,
    failing: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (asked, replies): (Vec<Request>, Vec<Reply>) = batch.drain(..).unzip();
        let written = tokio::time::timeout(BATCH_TIMEOUT, write(&store, &asked)).await;
        match written
            .unwrap_or_else(|_| Err(anyhow::anyhow!("a write took over {BATCH_TIMEOUT:?}")))
        {
            Ok(applied) => {
                failing.store(false, Ordering::Release);
                // Published before the answers: a client sees its own message live no
                // later than its `201`.
                if !applied.entries.is_empty() {
                    live.publish_kept(&applied.entries).await;
                }
                for (reply, answer) in replies.into_iter().zip(applied.answers) {
                    reply.send(answer);
                }
            }
            Err(error) => {
                if !failing.swap(true, Ordering::AcqRel) {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "cannot write to the database; writes answer 503 until it can"
                    );
                }
                metrics::counter!("chat_broker_errors_total").increment(1);
                for reply in replies {
                    reply.fail(&error);
                }
            }
        }
    }
}

/// One batch: its transaction, committed.
async fn write(store: &Store, requests: &[Request]) -> anyhow::Result<apply::Applied> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let applied = apply::batch(&tx, requests, now_ms()).await?;
    tx.commit().await?;
    Ok(applied)
}
