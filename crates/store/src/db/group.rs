//! The writes every login and refresh makes (the person upsert, the audit event, the
//! refresh-token family, the rotation of a refresh token) and their group commit.
//!
//! On a SQLite file each commit waits for the disk (`synchronous = FULL`), and SQLite takes one
//! writer at a time, so committing every login on its own caps logins at what the disk can
//! sync. Here those writes go to one writer thread instead: it takes every write waiting in its
//! queue (up to [`MAX_BATCH`]), runs each in a savepoint of one transaction, commits once, and
//! only then answers each caller. A write that fails rolls back to its savepoint and fails
//! alone; the others commit. Nobody is answered before their write is durable, so a login's
//! response is still sent only after its audit event is on disk. While one batch syncs, the
//! next one gathers: under load a commit carries many logins, and a lone login waits for no
//! timer.
//!
//! On Postgres (and an in-memory SQLite database) each write is its own transaction on the
//! caller's task: Postgres already flushes the WAL of concurrent commits together, and each
//! commit returns only once it is durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::audit::append_audit_in;
use super::people::upsert_in;
use super::refresh::{create_family_in, rotate_in, Rotation};
use super::{
    lost_a_race, AuditEvent, Database, LoginUpsert, NewRefreshFamily, PersonRecord, Pool,
    RotateOutcome, Tx,
};
use crate::StoreError;

/// The most writes one group commit carries.
const MAX_BATCH: usize = 128;
/// Writes that may wait for the writer; past it callers wait to queue (back-pressure).
const QUEUE: usize = 4096;
/// How many times a write is tried when a concurrent write won a race (a unique constraint
/// fired, an identity appeared between our steps, or Postgres aborted us for a deadlock or a
/// serialization failure).
const ATTEMPTS: usize = 8;

/// A write the group writer (or the caller's own transaction) performs.
pub(super) enum Work {
    /// [`Database::upsert_person_on_login`].
    Person(Box<LoginUpsert>),
    /// [`Database::record_login`]: the upsert and its audit event, which gets the person's id.
    Login(Box<LoginUpsert>, Box<AuditEvent>),
    /// [`Database::append_audit`].
    Audit(Box<AuditEvent>),
    /// [`Database::create_refresh_family`]: the family and the hash of its first token.
    RefreshFamily(Box<NewRefreshFamily>, String),
    /// [`Database::rotate_refresh_token`].
    Rotate(Box<Rotation>),
}

/// What a [`Work`] produced.
pub(super) enum Done {
    Person(PersonRecord),
    Login(PersonRecord, i64),
    Audit(i64),
    RefreshFamily,
    Rotated(Box<RotateOutcome>),
}

/// The error of a write answered with another kind of [`Done`] than its [`Work`] makes (a bug).
pub(super) fn mismatched_answer() -> StoreError {
    StoreError::Other("the database writer answered another kind of write".into())
}

/// One try of `work` in `tx`. `None`: a concurrent write won a race; roll back and try again.
async fn apply(tx: &mut Tx, work: &Work) -> Result<Option<Done>, StoreError> {
    Ok(match work {
        Work::Person(login) => upsert_in(tx, login).await?.map(Done::Person),
        Work::Login(login, event) => {
            let Some(person) = upsert_in(tx, login).await? else {
                return Ok(None);
            };
            let event = AuditEvent {
                person_id: Some(person.id.clone()),
                ..(**event).clone()
            };
            let id = append_audit_in(tx, &event).await?;
            Some(Done::Login(person, id))
        }
        Work::Audit(event) => Some(Done::Audit(append_audit_in(tx, event).await?)),
        Work::RefreshFamily(family, first_token_hash) => {
            create_family_in(tx, family, first_token_hash).await?;
            Some(Done::RefreshFamily)
        }
        Work::Rotate(rotation) => Some(Done::Rotated(Box::new(rotate_in(tx, rotation).await?))),
    })
}

/// Counts of the group writer, for tests, benchmarks and metrics.
#[derive(Debug, Default)]
pub struct GroupCommitStats {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl GroupCommitStats {
    /// Transactions committed so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Writes those transactions carried (successful or rolled back to their savepoint).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The handle of a SQLite file's writer thread. The thread ends when every handle is dropped.
#[derive(Clone)]
pub(super) struct GroupWriter {
    jobs: mpsc::Sender<Job>,
    stats: Arc<GroupCommitStats>,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl GroupWriter {
    /// Starts the writer thread (with its own small runtime, so that it outlives no caller's
    /// runtime and no caller's runtime waits for it) on `pool`.
    pub(super) fn start(pool: SqlitePool) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let stats = Arc::new(GroupCommitStats::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let counts = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("sqlite-group-commit".into())
            .spawn(move || runtime.block_on(run(Pool::Sqlite(pool), queue, counts)))
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        Ok(Self { jobs, stats })
    }

    async fn submit(&self, work: Work) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { work, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the database writer stopped before committing".into())
        })?
    }
}

impl Database {
    /// Performs `work` durably: through the group writer on a SQLite file, else in a
    /// transaction of its own, retried when a concurrent write won a race.
    pub(super) async fn write(&self, work: Work) -> Result<Done, StoreError> {
        match &self.group {
            Some(writer) => writer.submit(work).await,
            None => write_alone(&self.pool, &work).await,
        }
    }

    /// The group writer's counts; `None` when this database commits each write on its own
    /// (Postgres, in-memory SQLite).
    pub fn group_commit_stats(&self) -> Option<Arc<GroupCommitStats>> {
        self.group.as_ref().map(|g| Arc::clone(&g.stats))
    }
}

async fn write_alone(pool: &Pool, work: &Work) -> Result<Done, StoreError> {
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        let mut tx = Tx::begin(pool).await?;
        match apply(&mut tx, work).await {
            Ok(Some(done)) => {
                tx.commit().await?;
                return Ok(done);
            }
            Ok(None) => last_err = None,
            Err(e) if lost_a_race(&e) => {
                tracing::debug!(error = %e, "a write lost a race; retrying");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
        tx.rollback().await?;
    }
    Err(lost_every_race(last_err))
}

fn lost_every_race(last_err: Option<StoreError>) -> StoreError {
    last_err.unwrap_or_else(|| {
        StoreError::Other("a write kept losing races with concurrent writes".into())
    })
}

/// The writer thread: one transaction per batch of waiting writes.
async fn run(pool: Pool, mut queue: mpsc::Receiver<Job>, stats: Arc<GroupCommitStats>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcome = commit_batch(&pool, &batch).await;
        match outcome {
            Ok(results) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats
                    .writes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                for (job, result) in batch.drain(..).zip(results) {
                    // A caller that stopped waiting (its client went away) needs no answer.
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = batch.len(), "a group commit failed");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(batch_failed(&e)));
                }
            }
        }
    }
}

/// Commits `batch` in one transaction. The outer error fails the whole batch (nothing was
/// committed); an inner one fails its write alone.
///
/// Writes almost never fail, so the batch is first tried plainly, every write straight in the
/// transaction (a lone write is exactly [`write_alone`]). Only when one of them fails or loses a
/// race is it all rolled back and done again with a savepoint around each write, so that the
/// failing one fails alone: two statements more per write, paid only then.
async fn commit_batch(
    pool: &Pool,
    batch: &[Job],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    if let [job] = batch {
        return Ok(vec![write_alone(pool, &job.work).await]);
    }
    let mut tx = Tx::begin(pool).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        match apply(&mut tx, &job.work).await {
            Ok(Some(done)) => results.push(Ok(done)),
            // The database itself is failing: so would the second pass.
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Ok(None) | Err(_) => break,
        }
    }
    if results.len() == batch.len() {
        tx.commit().await?;
        return Ok(results);
    }
    tx.rollback().await?;
    commit_in_savepoints(pool, batch).await
}

/// Runs every write of `batch` in its own savepoint of one transaction and commits.
async fn commit_in_savepoints(
    pool: &Pool,
    batch: &[Job],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let mut tx = Tx::begin(pool).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        results.push(in_savepoint(&mut tx, &job.work).await?);
    }
    tx.commit().await?;
    Ok(results)
}

async fn in_savepoint(tx: &mut Tx, work: &Work) -> Result<Result<Done, StoreError>, StoreError> {
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        execute(tx, "SAVEPOINT grouped_write").await?;
        let result = apply(tx, work).await;
        if let Ok(Some(done)) = result {
            execute(tx, "RELEASE grouped_write").await?;
            return Ok(Ok(done));
        }
        execute(tx, "ROLLBACK TO grouped_write").await?;
        execute(tx, "RELEASE grouped_write").await?;
        match result {
            Ok(_) => last_err = None,
            Err(e) if lost_a_race(&e) => last_err = Some(e),
            // The database itself is failing (locked past the busy timeout, disk full): the
            // next writes would wait and fail the same way, so the whole batch fails now.
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Err(lost_every_race(last_err)))
}

async fn execute(tx: &mut Tx, sql: &'static str) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query(sql).execute(c).await?;
    });
    Ok(())
}

/// The error each write of a failed batch gets: of the same kind as the batch's.
fn batch_failed(e: &StoreError) -> StoreError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    match e {
        StoreError::Unavailable(_) => StoreError::Unavailable(message.into()),
        _ => StoreError::Other(format!("the group commit failed: {message}").into()),
    }
}
