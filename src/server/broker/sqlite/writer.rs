//! The one thread that writes: requests in, one transaction per batch, the entries to
//! the hub after the commit, then the answers (the module's doc says why in this order).

use super::{
    apply::{State, change_message, post, release},
    purge,
    rows::run,
};
use crate::{
    message::{MessageId, RoomName},
    server::broker::{
        BrokerError, BrokerResult, Change, Changed, NewMessage, Published, log::Entry,
        memory::MemoryBroker,
    },
};
use rusqlite::{Connection, TransactionBehavior, params};
use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// The most requests one transaction takes.
pub const MAX_BATCH: usize = 256;

/// How often the writer removes what retention and expiry let go.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What the writer reads back at start.
pub struct Kept {
    rooms: HashSet<RoomName>,
    last_id: MessageId,
}

impl Kept {
    pub fn read(conn: &Connection) -> rusqlite::Result<Self> {
        let mut rooms = HashSet::new();
        let mut last_id = MessageId::new(0, 0);
        let mut rows = conn.prepare("SELECT name, entry_ms, entry_seq FROM rooms")?;
        let mut rows = rows.query([])?;
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let id = MessageId::new(row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64);
            last_id = last_id.max(id);
            if let Ok(room) = RoomName::parse(&name) {
                rooms.insert(room);
            }
        }
        Ok(Self { rooms, last_id })
    }
}

enum Request {
    Post(NewMessage),
    Change(Change),
    Hold {
        key: String,
        released: Option<String>,
        session_id: String,
        expires_ms: u64,
    },
    Release {
        key: String,
        session_id: String,
    },
    /// A write of no consequence, to learn whether writes work again.
    Probe,
}

enum Reply {
    Post(oneshot::Sender<BrokerResult<Published>>),
    Change(oneshot::Sender<BrokerResult<Changed>>),
    Done(Option<oneshot::Sender<BrokerResult<()>>>),
}

enum Answer {
    Post(BrokerResult<Published>),
    Change(BrokerResult<Changed>),
    Done,
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

    fn fail(self, error: &rusqlite::Error) {
        let unavailable = || BrokerError::Unavailable(anyhow::anyhow!("the database: {error}"));
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
    /// Set when a transaction failed, cleared when one commits.
    failing: Arc<AtomicBool>,
    /// The ms of the last id given.
    last_ms: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread; with `retention`, messages older than that are removed at start
    /// and every [`PURGE_EVERY`] after (expired holds too, either way).
    pub fn start(
        conn: Connection,
        kept: Kept,
        live: Arc<MemoryBroker>,
        retention: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let (queue, requests) = mpsc::channel();
        let failing = Arc::new(AtomicBool::new(false));
        let last_ms = Arc::new(AtomicU64::new(kept.last_id.ms));
        let mut thread = Thread {
            publisher: publisher(&live),
            conn,
            rooms: kept.rooms,
            last_id: kept.last_id,
            live,
            failing: Arc::clone(&failing),
            last_ms: Arc::clone(&last_ms),
            retention,
        };
        // Before the node serves, so that nothing past retention is ever read.
        thread.purge_logged();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || thread.run(requests))?;
        Ok(Self {
            queue,
            failing,
            last_ms,
        })
    }

    fn send(&self, request: Request, reply: Reply) -> BrokerResult<()> {
        self.queue
            .send((request, reply))
            .map_err(|_| BrokerError::Unavailable(anyhow::anyhow!("the database writer stopped")))
    }

    async fn wait<T>(&self, answer: oneshot::Receiver<BrokerResult<T>>) -> BrokerResult<T> {
        answer.await.unwrap_or_else(|_| {
            Err(BrokerError::Unavailable(anyhow::anyhow!(
                "the database writer stopped"
            )))
        })
    }

    pub async fn post(&self, new: NewMessage) -> BrokerResult<Published> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Post(new), Reply::Post(tx))?;
        self.wait(rx).await
    }

    pub async fn change(&self, change: Change) -> BrokerResult<Changed> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Change(change), Reply::Change(tx))?;
        self.wait(rx).await
    }

    /// Writes that `session_id` holds the name of `key` until `expires_ms`, and no longer
    /// the name of `released`, and waits for the commit.
    pub async fn hold(
        &self,
        key: String,
        released: Option<String>,
        session_id: String,
        expires_ms: u64,
    ) -> BrokerResult<()> {
        let (tx, rx) = oneshot::channel();
        let request = Request::Hold {
            key,
            released,
            session_id,
            expires_ms,
        };
        self.send(request, Reply::Done(Some(tx)))?;
        self.wait(rx).await
    }

    /// The same for a hold extended by use, without waiting.
    pub fn hold_later(&self, key: String, session_id: String, expires_ms: u64) {
        let request = Request::Hold {
            key,
            released: None,
            session_id,
            expires_ms,
        };
        let _ = self.send(request, Reply::Done(None));
    }

    pub async fn release(&self, key: String, session_id: String) -> BrokerResult<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Release { key, session_id }, Reply::Done(Some(tx)))?;
        self.wait(rx).await
    }

    /// Whether writes work: known when the last one committed, else tried.
    pub async fn ready(&self) -> bool {
        if !self.failing.load(Ordering::Acquire) {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        self.send(Request::Probe, Reply::Done(Some(tx))).is_ok() && self.wait(rx).await.is_ok()
    }

    pub fn last_ms(&self) -> u64 {
        self.last_ms.load(Ordering::Acquire)
    }
}

struct Thread {
    conn: Connection,
    /// Every room with messages (the room limit counts them).
    rooms: HashSet<RoomName>,
    last_id: MessageId,
    live: Arc<MemoryBroker>,
    failing: Arc<AtomicBool>,
    last_ms: Arc<AtomicU64>,
    retention: Option<Duration>,
    /// Where committed batches go to be published, in order.
    publisher: Option<tokio::sync::mpsc::UnboundedSender<Committed>>,
}

/// A committed batch: its entries to hand to the hub, in id order, then its answers.
struct Committed {
    replies: Vec<Reply>,
    answers: Vec<(Answer, Option<Entry>)>,
}

impl Committed {
    fn publish(self, live: &MemoryBroker) {
        let hub = live.hub();
        for (_, entry) in &self.answers {
            if let Some(entry) = entry {
                hub.dispatch(entry);
            }
        }
        for (reply, (answer, _)) in self.replies.into_iter().zip(self.answers) {
            reply.send(answer);
        }
    }
}

/// Hands committed batches to a task of the runtime, one after the other, which
/// publishes them: a dispatch wakes every stream of the room, and woken from a thread
/// outside the runtime each wake-up is a cross-thread one (CPU per delivery 2.2× in
/// `fanout` when the writer dispatched itself). Without a runtime (a tool), `None`: the
/// writer publishes itself.
fn publisher(live: &Arc<MemoryBroker>) -> Option<tokio::sync::mpsc::UnboundedSender<Committed>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Committed>();
    let live = Arc::clone(live);
    runtime.spawn(async move {
        while let Some(committed) = rx.recv().await {
            committed.publish(&live);
        }
    });
    Some(tx)
}

/// What a batch did, to hand on once it is committed.
struct Applied {
    answers: Vec<(Answer, Option<Entry>)>,
    new_rooms: Vec<RoomName>,
}

impl Thread {
    fn run(mut self, requests: mpsc::Receiver<(Request, Reply)>) {
        let mut purge_at = Instant::now() + PURGE_EVERY;
        loop {
            if Instant::now() >= purge_at {
                self.purge_logged();
                purge_at = Instant::now() + PURGE_EVERY;
            }
            let first = match requests.recv_timeout(purge_at - Instant::now()) {
                Ok(first) => first,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<(Request, Reply)>) {
        let (requests, replies): (Vec<Request>, Vec<Reply>) = batch.into_iter().unzip();
        let mut applied = Applied {
            answers: Vec::with_capacity(requests.len()),
            new_rooms: Vec::new(),
        };
        match self.apply_all(requests, &mut applied) {
            Ok(()) => {
                self.failing.store(false, Ordering::Release);
                self.last_ms.store(self.last_id.ms, Ordering::Release);
                let committed = Committed {
                    replies,
                    answers: applied.answers,
                };
                match &self.publisher {
                    Some(publisher) => {
                        if let Err(unsent) = publisher.send(committed) {
                            unsent.0.publish(&self.live);
                        }
                    }
                    None => committed.publish(&self.live),
                }
            }
            Err(error) => {
                tracing::error!(%error, "a write to the database failed; answering 503");
                self.failing.store(true, Ordering::Release);
                for room in &applied.new_rooms {
                    self.rooms.remove(room);
                }
                for reply in replies {
                    reply.fail(&error);
                }
            }
        }
    }

    fn purge_logged(&mut self) {
        if let Err(error) = self.purge() {
            tracing::error!(%error, "removing old messages and expired names failed");
        }
    }

    fn purge(&mut self) -> rusqlite::Result<()> {
        let now = self.live.clock().now_ms();
        purge::purge(&mut self.conn, &self.rooms, self.retention, now)
    }

    fn apply_all(&mut self, requests: Vec<Request>, applied: &mut Applied) -> rusqlite::Result<()> {
        let Thread {
            conn,
            rooms,
            last_id,
            live,
            ..
        } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let answers = &mut applied.answers;
        let mut state = State {
            rooms,
            new_rooms: &mut applied.new_rooms,
            last_id,
            live,
        };
        for request in requests {
            let done = match request {
                Request::Post(new) => {
                    let (answer, entry) = post(&tx, new, &mut state)?;
                    (Answer::Post(answer), entry)
                }
                Request::Change(change) => {
                    let (answer, entry) = change_message(&tx, change, &mut state)?;
                    (Answer::Change(answer), entry)
                }
                Request::Hold {
                    key,
                    released,
                    session_id,
                    expires_ms,
                } => {
                    run(
                        &tx,
                        "INSERT INTO holds (key, session_id, expires_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET session_id = ?2, expires_ms = ?3",
                        params![key, session_id, expires_ms as i64],
                    )?;
                    if let Some(released) = released {
                        release(&tx, &released, &session_id)?;
                    }
                    (Answer::Done, None)
                }
                Request::Release { key, session_id } => {
                    release(&tx, &key, &session_id)?;
                    (Answer::Done, None)
                }
                Request::Probe => {
                    run(
                        &tx,
                        "INSERT INTO meta (key, value) VALUES ('probe', 1)
                         ON CONFLICT (key) DO UPDATE SET value = value + 1",
                        [],
                    )?;
                    (Answer::Done, None)
                }
            };
            answers.push(done);
        }
        tx.commit()
    }
}
