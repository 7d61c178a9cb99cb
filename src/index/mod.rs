//! The on-disk profile index: a tantivy index (default directory `index/`) holding every
//! profile, with upserts by id that are all-or-nothing per call, deletes, lookups and immutable
//! [`Snapshot`]s for ranking.
//!
//! Writers take tantivy's writer lock, so a second process writing at the same time gets
//! [`Error::Locked`] instead of corrupting the index; a commit is atomic (tantivy swaps
//! `meta.json`), so a crash mid-write leaves the previous state.

pub mod cache;
pub mod infer;
pub mod merge;
pub mod schema;
pub mod snapshot;
pub mod stem;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tantivy::directory::error::LockError;
use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::error::{nearest, Error, Result};
use crate::profile::Profile;
use crate::taxonomy::taxonomy;
pub use cache::Warmed;
pub use infer::InferParams;
pub use schema::Fields;
pub use snapshot::Snapshot;

/// Memory budget of the index writer.
const WRITER_MEMORY: usize = 100_000_000;

/// Whether a tantivy error comes from a full disk (ENOSPC or a quota), wherever tantivy wrapped
/// the I/O error.
fn is_disk_full(e: &TantivyError) -> bool {
    use std::io::ErrorKind;
    let full = |io: &std::io::Error| {
        matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
            || io.raw_os_error() == Some(28)
    };
    match e {
        TantivyError::IoError(io) => full(io),
        // Some paths only keep the message of the I/O error.
        other => {
            let text = other.to_string();
            text.contains("os error 28") || text.contains("No space left on device")
        }
    }
}

/// Indexes up to this many documents are merged into one segment after each write.
const FORCE_MERGE_MAX_DOCS: u64 = 50_000;

/// What a write does once committed.
enum Publish {
    /// Load and publish a snapshot of the new state.
    Snapshot,
    /// Nothing: the process ends.
    Nothing,
}

/// Profiles turned into documents at a time by [`ProfileIndex::write_stream`].
const SINK_BATCH: usize = 2048;

/// Receives the profiles of a [`ProfileIndex::write_stream`] and adds them to the writer in
/// batches (documents built in parallel). Nothing is visible until the whole stream is committed.
pub struct ProfileSink<'a> {
    index: &'a ProfileIndex,
    writer: &'a IndexWriter<TantivyDocument>,
    before: &'a Snapshot,
    seen: std::collections::HashSet<String>,
    /// Ids deleted by this write and not added again (so far).
    deleted: std::collections::HashSet<&'a str>,
    batch: Vec<Profile>,
    summary: WriteSummary,
}

impl ProfileSink<'_> {
    /// Adds one profile (replacing a stored one with the same id).
    pub fn add(&mut self, profile: Profile) -> Result<()> {
        self.batch.push(profile);
        if self.batch.len() >= SINK_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Adds a slice of profiles.
    pub fn add_all(&mut self, profiles: &[Profile]) -> Result<()> {
        self.flush()?;
        for chunk in profiles.chunks(SINK_BATCH) {
            self.add_chunk(chunk)?;
        }
        Ok(())
    }

    /// Profiles added so far.
    pub fn added(&self) -> usize {
        self.summary.added + self.summary.replaced + self.batch.len()
    }

    fn flush(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.add_chunk(&batch)?;
        self.batch = batch;
        self.batch.clear();
        Ok(())
    }

    fn add_chunk(&mut self, profiles: &[Profile]) -> Result<()> {
        use rayon::prelude::*;
        let index = self.index;
        let docs: Vec<TantivyDocument> = profiles.par_iter().map(|p| index.document(p)).collect();
        for (p, doc) in profiles.iter().zip(docs) {
            let existed = self.before.contains_id(&p.id) || !self.seen.insert(p.id.clone());
            if existed {
                if !self.deleted.is_empty() {
                    self.deleted.remove(p.id.as_str());
                }
                self.summary.replaced += 1;
                self.writer
                    .delete_term(Term::from_field_text(index.fields.id, &p.id));
            } else {
                // A new id has nothing to replace: no delete operation to keep until the commit.
                self.summary.added += 1;
            }
            self.writer.add_document(doc).map_err(|e| index.wrap(e))?;
        }
        Ok(())
    }
}

/// The indexing threads (one per core, at most 4) and the memory budget shared by them with
/// which every write opens tantivy's writer.
pub fn writer_settings() -> (usize, usize) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    (threads, WRITER_MEMORY.max(threads * 20_000_000))
}

/// The threads of background warm-ups: half the cores (at least one), so that queries and
/// batches — on their own threads and rayon's global pool — keep the other half while a
/// snapshot warms. Warm-ups queue here one after another; a stale one stops early. `None` (and
/// a warning) if its threads cannot be started.
fn warm_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads((cores / 2).max(1))
            .thread_name(|i| format!("index-warm-{i}"))
            .build()
            .map_err(|e| tracing::warn!("cannot start the index warm-up threads: {e}"))
            .ok()
    })
    .as_ref()
}

/// A handle on a profile index. `Send + Sync`: share it across threads behind an `Arc`.
pub struct ProfileIndex {
    path: Option<PathBuf>,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    snapshot: RwLock<Arc<Snapshot>>,
    write: Mutex<()>,
    /// Serialises reloads, so that snapshots are published in commit order.
    reloading: Mutex<()>,
    infer: InferParams,
    /// Postings to warm each published snapshot with ([`ProfileIndex::keep_warm`]; 0: none).
    warm_budget: AtomicUsize,
    /// Number of snapshots published: a background warm-up stops once its snapshot is replaced.
    published: Arc<AtomicU64>,
}

/// What an upsert or delete changed.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteSummary {
    /// Profiles that were new.
    pub added: usize,
    /// Profiles that replaced one with the same id.
    pub replaced: usize,
    /// Profiles removed.
    pub deleted: usize,
    /// Live profiles after the write.
    pub total: usize,
}

impl ProfileIndex {
    /// Whether a directory holds an index.
    pub fn exists(path: &Path) -> bool {
        path.join("meta.json").is_file()
    }

    /// Opens the index in a directory, or creates an empty one there (creating the directory).
    pub fn open_or_create(path: &Path) -> Result<ProfileIndex> {
        std::fs::create_dir_all(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let wrap = |source| Error::Index {
            path: path.to_path_buf(),
            source,
        };
        let dir = MmapDirectory::open(path).map_err(|e| wrap(e.into()))?;
        let index = if Index::exists(&dir).map_err(|e| wrap(e.into()))? {
            Index::open(dir).map_err(wrap)?
        } else {
            Index::create(dir, Fields::schema().0, Default::default()).map_err(wrap)?
        };
        Self::from_index(index, Some(path.to_path_buf()))
    }

    /// Opens an existing index; [`Error::NoIndex`] when there is none.
    pub fn open(path: &Path) -> Result<ProfileIndex> {
        if !Self::exists(path) {
            return Err(Error::NoIndex {
                path: path.to_path_buf(),
            });
        }
        Self::open_or_create(path)
    }

    /// A new, empty index in memory (for events and tests).
    pub fn in_memory() -> Result<ProfileIndex> {
        let index = Index::create_in_ram(Fields::schema().0);
        Self::from_index(index, None)
    }

    fn from_index(index: Index, path: Option<PathBuf>) -> Result<ProfileIndex> {
        let label = path.clone().unwrap_or_else(|| PathBuf::from("(memory)"));
        let wrap = |source| Error::Index {
            path: label.clone(),
            source,
        };
        schema::register(&index);
        let fields = Fields::of(&index.schema()).map_err(wrap)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(wrap)?;
        let snapshot = Snapshot::load(reader.searcher(), &fields).map_err(wrap)?;
        Ok(ProfileIndex {
            path,
            index,
            reader,
            fields,
            snapshot: RwLock::new(Arc::new(snapshot)),
            write: Mutex::new(()),
            reloading: Mutex::new(()),
            infer: InferParams::default(),
            warm_budget: AtomicUsize::new(0),
            published: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The directory, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn label(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from("(memory)"))
    }

    fn wrap(&self, source: TantivyError) -> Error {
        match source {
            TantivyError::LockFailure(LockError::LockBusy, _) => {
                Error::Locked { path: self.label() }
            }
            source if is_disk_full(&source) => Error::DiskFull { path: self.label() },
            source => Error::Index {
                path: self.label(),
                source,
            },
        }
    }

    /// Whether the index's disk has no room for 1 MiB more (probed by writing it).
    fn disk_is_full(&self) -> bool {
        use std::io::Write;
        let Some(dir) = &self.path else {
            return false;
        };
        let probe = dir.join(".clustermatch-space-probe");
        let full = std::fs::File::create(&probe)
            .and_then(|mut f| {
                f.write_all(&vec![0u8; 1 << 20])?;
                f.sync_all()
            })
            .is_err_and(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                ) || e.raw_os_error() == Some(28)
            });
        let _ = std::fs::remove_file(&probe);
        full
    }

    /// The fields of the schema.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The tantivy index.
    pub fn tantivy(&self) -> &Index {
        &self.index
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Number of live profiles.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// Whether the index holds no profile.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-reads the index from disk (after another process wrote) and publishes a new snapshot.
    pub fn reload(&self) -> Result<()> {
        let _guard = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        self.reader.reload().map_err(|e| self.wrap(e))?;
        // The segments the current snapshot holds keep their columns: only new ones are read.
        let snap =
            Snapshot::load_after(self.reader.searcher(), &self.fields, Some(&self.snapshot()));
        let snap = Arc::new(snap.map_err(|e| self.wrap(e))?);
        self.published.fetch_add(1, Ordering::SeqCst);
        match self.snapshot.write() {
            Ok(mut s) => *s = snap.clone(),
            Err(poisoned) => *poisoned.into_inner() = snap.clone(),
        }
        self.warm_in_background(snap);
        Ok(())
    }

    /// Decodes the current snapshot's longest posting lists now, within `budget` postings
    /// (about 3 bytes each), so that the queries after it find them ready: see
    /// [`Snapshot::warm`]. Rankings are the same warm or cold.
    pub fn warm(&self, budget: usize) -> Result<Warmed> {
        self.snapshot()
            .warm(&self.fields, budget, || true)
            .map_err(|e| self.wrap(e))
    }

    /// Warms the current snapshot and every one published after it (after each write or
    /// reload) in a background thread, within `budget` postings each, as a long-running server
    /// wants; 0 stops. Queries are served meanwhile (cold lists are decoded on demand, as
    /// without warming), and a warm-up stops when its snapshot is replaced.
    pub fn keep_warm(&self, budget: usize) {
        self.warm_budget.store(budget, Ordering::SeqCst);
        self.warm_in_background(self.snapshot());
    }

    fn warm_in_background(&self, snap: Arc<Snapshot>) {
        let budget = self.warm_budget.load(Ordering::SeqCst);
        if budget == 0 {
            return;
        }
        let Some(pool) = warm_pool() else {
            return;
        };
        let published = self.published.clone();
        let mine = published.load(Ordering::SeqCst);
        let fields = self.fields;
        pool.spawn(move || {
            let started = std::time::Instant::now();
            match snap.warm(&fields, budget, || published.load(Ordering::SeqCst) == mine) {
                Ok(w) => tracing::info!(
                    terms = w.terms,
                    carried = w.carried,
                    lists = w.lists,
                    postings = w.postings,
                    ms = started.elapsed().as_millis() as u64,
                    "warmed the index snapshot"
                ),
                Err(e) => tracing::warn!("warming the index snapshot: {e}"),
            }
        });
    }

    /// Whether the committed state on disk differs from the current snapshot: one read of the
    /// small `meta.json`, no segment is opened. Always `false` in memory.
    pub fn changed_on_disk(&self) -> Result<bool> {
        if self.path.is_none() {
            return Ok(false);
        }
        let metas = self
            .index
            .searchable_segment_metas()
            .map_err(|e| self.wrap(e))?;
        let snap = self.snapshot();
        let current = snap.searcher.generation().segments();
        Ok(metas.len() != current.len()
            || metas
                .iter()
                .any(|m| current.get(&m.id()) != Some(&m.delete_opstamp())))
    }

    /// Picks up commits made by another process: when [`Self::changed_on_disk`], reloads and
    /// publishes a new snapshot atomically (readers holding the old one keep it). Returns whether
    /// it reloaded. Does nothing while a write of this handle is running: that write publishes
    /// its own snapshot once it has committed and merged.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clustermatch::{Profile, ProfileIndex};
    /// let dir = tempfile::tempdir()?;
    /// let server = ProfileIndex::open_or_create(dir.path())?;
    /// let cron = ProfileIndex::open(dir.path())?;
    /// cron.upsert(&[Profile { id: "a".into(), name: "A".into(), country: "FR".into(), ..Profile::default() }])?;
    /// assert_eq!(server.len(), 0);
    /// assert!(server.refresh()?);
    /// assert_eq!(server.len(), 1);
    /// assert!(!server.refresh()?);
    /// # Ok(()) }
    /// ```
    pub fn refresh(&self) -> Result<bool> {
        let _writing = match self.write.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(false),
        };
        self.refresh_unlocked()
    }

    fn refresh_unlocked(&self) -> Result<bool> {
        if !self.changed_on_disk()? {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    fn writer(&self) -> Result<IndexWriter<TantivyDocument>> {
        let (threads, memory) = writer_settings();
        let writer: IndexWriter<TantivyDocument> = self
            .index
            .writer_with_num_threads(threads, memory)
            .map_err(|e| self.wrap(e))?;
        writer.set_merge_policy(Box::new(merge::Tiered));
        Ok(writer)
    }

    /// Inserts or replaces profiles by id, all in one commit: either all are stored or none.
    ///
    /// Profiles without sectors get sectors inferred from their text (flagged as inferred).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clustermatch::{Profile, ProfileIndex};
    /// let index = ProfileIndex::in_memory()?;
    /// let p = Profile { id: "a".into(), name: "A".into(), country: "FR".into(), ..Profile::default() };
    /// let summary = index.upsert(&[p])?;
    /// assert_eq!(summary.added, 1);
    /// assert_eq!(index.get("a")?.name, "A");
    /// # Ok(()) }
    /// ```
    pub fn upsert(&self, profiles: &[Profile]) -> Result<WriteSummary> {
        self.write(profiles, &[])
    }

    /// Upserts profiles and deletes ids in one commit, all or nothing: an unknown id to delete
    /// is an error and nothing changes.
    pub fn write(&self, profiles: &[Profile], delete: &[String]) -> Result<WriteSummary> {
        self.write_stream(delete, |sink| sink.add_all(profiles))
    }

    /// Upserts a stream of profiles and deletes ids in ONE commit, with memory bounded by a
    /// batch of profiles (plus the ids seen): `feed` hands profiles to the [`ProfileSink`] one
    /// at a time, they are turned into documents in batches and given to the writer. If `feed`
    /// (or the writer) fails, nothing is committed and the index keeps its previous state.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clustermatch::{Profile, ProfileIndex};
    /// let index = ProfileIndex::in_memory()?;
    /// let summary = index.write_stream(&[], |sink| {
    ///     for i in 0..3 {
    ///         let id = format!("p{i}");
    ///         sink.add(Profile { id: id.clone(), name: id, country: "FR".into(), ..Profile::default() })?;
    ///     }
    ///     Ok(())
    /// })?;
    /// assert_eq!(summary.added, 3);
    /// let failed = index.write_stream(&[], |sink| {
    ///     sink.add(Profile { id: "x".into(), name: "X".into(), country: "FR".into(), ..Profile::default() })?;
    ///     Err(clustermatch::Error::Usage("stop".into()))
    /// });
    /// assert!(failed.is_err());
    /// assert_eq!(index.len(), 3);
    /// # Ok(()) }
    /// ```
    pub fn write_stream<F>(&self, delete: &[String], feed: F) -> Result<WriteSummary>
    where
        F: FnOnce(&mut ProfileSink<'_>) -> Result<()>,
    {
        self.write_stream_then(delete, feed, Publish::Snapshot)
    }

    /// [`write_stream`](Self::write_stream) for a process that ends after the write (the
    /// `index` command): the same commit and merges, but no new snapshot is loaded — reading
    /// every id back costs a serial tenth of a second at 100k profiles — and the handle keeps
    /// showing the state before the write. The total is counted from the write itself.
    pub fn write_stream_last<F>(&self, delete: &[String], feed: F) -> Result<WriteSummary>
    where
        F: FnOnce(&mut ProfileSink<'_>) -> Result<()>,
    {
        self.write_stream_then(delete, feed, Publish::Nothing)
    }

    fn write_stream_then<F>(
        &self,
        delete: &[String],
        feed: F,
        publish: Publish,
    ) -> Result<WriteSummary>
    where
        F: FnOnce(&mut ProfileSink<'_>) -> Result<()>,
    {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut writer = self.writer()?;
        // With the lock held, catch up with commits another process made since the last
        // snapshot: ids it added must be replaced, not duplicated, and ids it removed are gone.
        self.refresh_unlocked()?;
        let before = self.snapshot();
        for id in delete {
            if !before.contains_id(id) {
                return Err(self.unknown_id(&before, id));
            }
        }
        // Files left by a run that was killed or failed (a full disk) go first.
        let _ = writer.garbage_collect_files().wait();
        let mut sink = ProfileSink {
            index: self,
            writer: &writer,
            before: &before,
            seen: std::collections::HashSet::new(),
            deleted: delete.iter().map(String::as_str).collect(),
            batch: Vec::with_capacity(SINK_BATCH),
            summary: WriteSummary {
                deleted: delete.len(),
                ..Default::default()
            },
        };
        for id in delete {
            writer.delete_term(Term::from_field_text(self.fields.id, id));
        }
        let fed = feed(&mut sink).and_then(|()| sink.flush());
        let mut summary = std::mem::take(&mut sink.summary);
        // Deleted ids that this write did not add again.
        let gone = sink.deleted.len();
        drop(sink);
        let committed = fed.and_then(|()| writer.commit().map_err(|e| self.wrap(e)));
        if let Err(e) = committed {
            // A worker thread that hit a full disk only reports "index writer was killed".
            let e = match e {
                Error::Index { .. } if self.disk_is_full() => {
                    Error::DiskFull { path: self.label() }
                }
                e => e,
            };
            // Nothing was committed: drop what was written and remove its files.
            let _ = writer.rollback();
            let _ = writer.garbage_collect_files().wait();
            return Err(e);
        }
        self.merge(writer)?;
        match publish {
            Publish::Snapshot => {
                self.reload()?;
                summary.total = self.len();
            }
            // Under the writer lock, after catching up with other processes: the ids before,
            // plus the new ones, minus the deleted ones not added again (replacements change no
            // count).
            Publish::Nothing => summary.total = (before.len() + summary.added).saturating_sub(gone),
        }
        Ok(summary)
    }

    fn document(&self, p: &Profile) -> TantivyDocument {
        let t = taxonomy();
        let own = t.set_of(&p.sectors);
        if own.is_empty() {
            let text = format!("{} {} {}", schema::about_text(p), p.offering, p.seeking);
            let inferred = infer::infer(&text, &self.infer);
            self.fields.document(p, inferred, !inferred.is_empty())
        } else {
            self.fields.document(p, own, false)
        }
    }

    /// Merges the segments into as few as possible of at most [`merge::PACKED_DOCS`]
    /// documents each and purges deleted documents, as search engines' force merge does:
    /// fewer posting lists per term for queries to walk, none of them longer than ranking's
    /// cache-sized slices. For an index read far more than it is written (an event catalogue,
    /// a directory rebuilt at night); later writes start new segments beside these. Takes the
    /// writer lock like a write; the committed index stays valid if it fails halfway. Returns
    /// the number of segments before and after.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clustermatch::{Profile, ProfileIndex};
    /// let index = ProfileIndex::in_memory()?;
    /// let p = |id: &str| Profile { id: id.into(), name: id.into(), country: "FR".into(), ..Profile::default() };
    /// index.upsert(&[p("a"), p("b")])?;
    /// index.delete(&["a".to_string()])?;
    /// let (_, after) = index.optimize()?;
    /// assert_eq!(after, 1);
    /// assert_eq!(index.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn optimize(&self) -> Result<(usize, usize)> {
        self.optimize_to(merge::PACKED_DOCS)
    }

    /// [`optimize`](Self::optimize) into segments of at most `cap` documents.
    fn optimize_to(&self, cap: u32) -> Result<(usize, usize)> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut writer = self.packing_writer()?;
        let packed = self.pack(&mut writer, cap);
        // Merges that ended before a failure are committed too: serve them, then remove the
        // merged-away segments' files.
        let reloaded = self.reload();
        let _ = writer.garbage_collect_files().wait();
        let before = packed?;
        reloaded?;
        writer.wait_merging_threads().map_err(|e| self.wrap(e))?;
        Ok((before, self.snapshot().searcher.segment_readers().len()))
    }

    /// [`optimize`](Self::optimize) for a process that ends after it (the `optimize`
    /// command): the same merges, but no snapshot of the packed index is loaded — at a million
    /// profiles a second snapshot beside the first, about 0.3 GB and a second. The handle is
    /// consumed: its snapshot would show segments that are gone.
    pub fn optimize_last(self) -> Result<(usize, usize)> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut writer = self.packing_writer()?;
        let packed = self.pack(&mut writer, merge::PACKED_DOCS);
        let _ = writer.garbage_collect_files().wait();
        let before = packed?;
        writer.wait_merging_threads().map_err(|e| self.wrap(e))?;
        let after = self.index.searchable_segment_metas();
        Ok((before, after.map_err(|e| self.wrap(e))?.len()))
    }

    /// A writer for [`pack`](Self::pack): the packing decides every merge, so the policy must
    /// not start one of its own on a segment of a group when a merge ends. Old debris goes first.
    fn packing_writer(&self) -> Result<IndexWriter<TantivyDocument>> {
        let writer = self.writer()?;
        writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
        let _ = writer.garbage_collect_files().wait();
        Ok(writer)
    }

    /// Merges the segments as [`merge::packing`] groups them (each merge is committed when it
    /// ends) and returns the number of segments before.
    fn pack(&self, writer: &mut IndexWriter<TantivyDocument>, cap: u32) -> Result<usize> {
        // Ids and sizes only: a segment's metadata held in memory keeps its files from the
        // garbage collection that follows.
        let segments: Vec<_> = self
            .index
            .searchable_segment_metas()
            .map_err(|e| self.wrap(e))?
            .iter()
            .map(|m| (m.id(), m.num_docs(), m.has_deletes()))
            .collect();
        for group in merge::packing(&segments, cap) {
            writer.merge(&group).wait().map_err(|e| {
                if self.disk_is_full() {
                    Error::DiskFull { path: self.label() }
                } else {
                    self.wrap(e)
                }
            })?;
        }
        Ok(segments.len())
    }

    /// Removes profiles by id, all or nothing: an unknown id is an error and removes nothing.
    pub fn delete(&self, ids: &[String]) -> Result<WriteSummary> {
        self.write(&[], ids)
    }

    fn merge(&self, mut writer: IndexWriter<TantivyDocument>) -> Result<()> {
        // The commit is the all-or-nothing point. Merging the segments afterwards only speeds up
        // reads: if it fails (a full disk, say), the committed index stays valid with more
        // segments and the merge debris is collected.
        // Small indexes are merged into one segment (cheap, compact); large ones are left to
        // the merge policy (`merge::Tiered`), which keeps segments small enough to rank fast.
        let merged = self.index.searchable_segment_metas().and_then(|metas| {
            let docs: u64 = metas.iter().map(|m| u64::from(m.max_doc())).sum();
            let segments: Vec<_> = metas.iter().map(|m| m.id()).collect();
            if segments.len() > 1 && docs <= FORCE_MERGE_MAX_DOCS {
                writer.merge(&segments).wait().map(|_| ())
            } else {
                Ok(())
            }
        });
        if let Err(e) = &merged {
            tracing::warn!(
                "index {}: merging segments failed after the commit: {e}",
                self.label().display()
            );
        }
        // The files of merged-away segments (or of a failed merge) go now, not at the next write.
        let _ = writer.garbage_collect_files().wait();
        if let Err(e) = writer.wait_merging_threads() {
            tracing::warn!("index {}: {e}", self.label().display());
        }
        Ok(())
    }

    pub(crate) fn unknown_id(&self, snap: &Snapshot, id: &str) -> Error {
        let suggestion = if snap.len() <= 100_000 {
            nearest(id, snap.live_ids())
        } else {
            None
        };
        Error::UnknownId {
            id: id.to_string(),
            suggestion,
        }
    }

    /// The stored profile with an id.
    pub fn get(&self, id: &str) -> Result<Profile> {
        let snap = self.snapshot();
        let Some(row) = snap.row_of_id(id) else {
            return Err(self.unknown_id(&snap, id));
        };
        self.profile_at(&snap, row)
    }

    /// The stored profile of a row of a snapshot.
    pub fn profile_at(&self, snap: &Snapshot, row: u32) -> Result<Profile> {
        use tantivy::schema::Value;
        let doc: TantivyDocument = snap
            .searcher
            .doc(snap.address_of(row))
            .map_err(|e| self.wrap(e))?;
        let json = doc
            .get_first(self.fields.profile)
            .and_then(|v| v.as_str())
            .unwrap_or("{}");
        serde_json::from_str(json).map_err(|e| Error::Index {
            path: self.label(),
            source: TantivyError::InternalError(format!("stored profile is not valid: {e}")),
        })
    }

    /// Every live profile id, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.snapshot().live_ids().map(str::to_string).collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, name: &str) -> Profile {
        Profile {
            id: id.into(),
            name: name.into(),
            country: "FR".into(),
            description: "wastewater treatment and membranes for drinking water".into(),
            ..Profile::default()
        }
    }

    #[test]
    fn a_last_write_counts_the_total_a_snapshot_would_show() {
        let idx = ProfileIndex::in_memory().unwrap();
        idx.upsert(&[p("a", "A"), p("b", "B"), p("c", "C")])
            .unwrap();
        let cases: [(&[&str], &[&str]); 4] = [
            // Deleted twice and added again; deleted and gone; new.
            (&["a", "d"], &["a", "a", "b"]),
            (&[], &["c"]),
            (&["b", "b2", "d"], &[]),
            (&["e"], &["d", "e2"]),
        ];
        for (add, delete) in cases {
            let profiles: Vec<Profile> = add.iter().map(|id| p(id, id)).collect();
            let delete: Vec<String> = delete.iter().map(|id| id.to_string()).collect();
            let before = idx.snapshot();
            let known: Vec<&String> = delete
                .iter()
                .filter(|id| before.contains_id(id.as_str()))
                .collect();
            if known.len() < delete.len() {
                assert!(idx
                    .write_stream_last(&delete, |s| s.add_all(&profiles))
                    .is_err());
                continue;
            }
            let s = idx
                .write_stream_last(&delete, |sink| sink.add_all(&profiles))
                .unwrap();
            idx.reload().unwrap();
            assert_eq!(s.total, idx.len(), "{add:?} {delete:?}");
        }
        assert_eq!(idx.ids(), vec!["a", "b", "b2", "d"]);
    }

    /// Sixty profiles on disk in eleven or more segments, two of them deleted: the index, the
    /// live profiles and the number of segments.
    fn scattered_index(dir: &Path) -> Result<(ProfileIndex, Vec<Profile>, usize)> {
        let profiles: Vec<Profile> = (0..60)
            .map(|i| Profile {
                description: format!(
                    "{} membranes {}",
                    ["hydrogen", "textile", "robotics"][i % 3],
                    "cluster ".repeat(i % 4)
                ),
                country: ["FR", "DE", "CN"][i % 3].into(),
                ..p(&format!("p{i:02}"), &format!("P{i}"))
            })
            .collect();
        let idx = ProfileIndex::open_or_create(dir)?;
        idx.upsert(&profiles[..40])?;
        let gone = ["p03".to_string(), "p17".to_string()];
        idx.delete(&gone)?;
        // Ten more segments beside the first (the index's own small writes end merged): enough
        // for the writers' merge policy to want merges of its own while optimize merges.
        let mut writer: IndexWriter<TantivyDocument> = idx
            .tantivy()
            .writer_with_num_threads(1, 15_000_000)
            .map_err(|e| idx.wrap(e))?;
        writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
        for batch in profiles[40..].chunks(2) {
            for p in batch {
                writer
                    .add_document(idx.document(p))
                    .map_err(|e| idx.wrap(e))?;
            }
            writer.commit().map_err(|e| idx.wrap(e))?;
        }
        drop(writer);
        idx.reload()?;
        assert_eq!(idx.snapshot().dead.len(), 2);
        let segments = idx.snapshot().searcher.segment_readers().len();
        assert!(segments >= 9);
        let live = profiles
            .into_iter()
            .filter(|p| !gone.contains(&p.id))
            .collect();
        Ok((idx, live, segments))
    }

    /// The segments whose files are in an index directory.
    fn segment_files(dir: &Path) -> Vec<String> {
        let mut segments: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|f| f.extension().is_some_and(|e| e != "json" && e != "lock"))
            .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        segments.sort();
        segments.dedup();
        segments
    }

    /// Asserts that an index ranks exactly as a fresh build of `live`.
    fn assert_ranks_as_fresh(idx: ProfileIndex, live: &[Profile]) -> Result<()> {
        assert!(idx.snapshot().dead.is_empty());
        assert_eq!(idx.len(), live.len());
        let fresh = ProfileIndex::in_memory()?;
        fresh.upsert(live)?;
        let (merged, fresh) = (crate::Engine::new(idx), crate::Engine::new(fresh));
        let opts = crate::rank::MatchOptions::default();
        for id in ["p00", "p05", "p41", "p59"] {
            let scores = |e: &crate::Engine| -> Result<Vec<(String, f32)>> {
                let r = e.match_id(id, &opts)?;
                Ok(r.matches.into_iter().map(|m| (m.id, m.score)).collect())
            };
            assert_eq!(scores(&merged)?, scores(&fresh)?, "{id}");
        }
        Ok(())
    }

    fn temp_dir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::Io {
            path: PathBuf::from("(temp)"),
            source: e,
        })
    }

    #[test]
    fn optimize_leaves_one_segment_that_ranks_as_a_fresh_build() -> Result<()> {
        let dir = temp_dir()?;
        let (idx, live, segments) = scattered_index(dir.path())?;
        // Packed into groups of at most 10 documents first: several merges in a row, with
        // segments the writers' policy would merge in between.
        let (before, after) = idx.optimize_to(10)?;
        assert_eq!(before, segments);
        assert!(after > 1 && after < segments, "{after} of {segments}");
        assert_eq!(idx.optimize()?, (after, 1));
        // The merged-away segments' files are gone: one segment's files are left.
        let files = segment_files(dir.path());
        assert_eq!(files.len(), 1, "{files:?}");
        assert_ranks_as_fresh(idx, &live)
    }

    #[test]
    fn optimize_last_packs_without_a_snapshot_and_leaves_no_debris() -> Result<()> {
        let dir = temp_dir()?;
        let (idx, live, segments) = scattered_index(dir.path())?;
        assert_eq!(idx.optimize_last()?, (segments, 1));
        let files = segment_files(dir.path());
        assert_eq!(files.len(), 1, "{files:?}");
        let idx = ProfileIndex::open(dir.path())?;
        assert_eq!(idx.snapshot().searcher.segment_readers().len(), 1);
        assert_ranks_as_fresh(idx, &live)
    }

    /// A flag and its condition: jobs wait until the flag is set.
    type Gate = Arc<(Mutex<bool>, std::sync::Condvar)>;

    fn wait_for(gate: &Gate) {
        let (open, opened) = &**gate;
        let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
        while !*open {
            open = opened.wait(open).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Opens a gate when dropped (also when a test fails), so that the jobs waiting on it end.
    struct Opener(Gate);

    impl Drop for Opener {
        fn drop(&mut self) {
            let (open, opened) = &*self.0;
            *open.lock().unwrap_or_else(|p| p.into_inner()) = true;
            opened.notify_all();
        }
    }

    #[test]
    fn background_warm_ups_do_not_wait_for_the_global_pool() -> Result<()> {
        let idx = ProfileIndex::in_memory()?;
        let profiles: Vec<Profile> = (0..40)
            .map(|i| Profile {
                description: format!("hydrogen membranes for ports {i}"),
                ..p(&format!("p{i:02}"), &format!("P{i}"))
            })
            .collect();
        idx.upsert(&profiles)?;
        // Every thread of rayon's global pool busy (as under a long batch) until the gate opens.
        let opener = Opener(Arc::new((Mutex::new(false), std::sync::Condvar::new())));
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..rayon::current_num_threads() {
            let (gate, started) = (opener.0.clone(), started.clone());
            rayon::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                wait_for(&gate);
            });
        }
        while started.load(Ordering::SeqCst) < rayon::current_num_threads() {
            std::thread::yield_now();
        }
        idx.keep_warm(usize::MAX);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while idx.snapshot().cache.postings_held() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the warm-up waited for the global pool"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(opener);
        Ok(())
    }

    #[test]
    fn upsert_replaces_by_id_and_delete_removes() {
        let dir = tempfile::tempdir().unwrap();
        let idx = ProfileIndex::open_or_create(dir.path()).unwrap();
        let s = idx.upsert(&[p("a", "A"), p("b", "B")]).unwrap();
        assert_eq!((s.added, s.replaced, s.total), (2, 0, 2));
        let s = idx.upsert(&[p("a", "A2")]).unwrap();
        assert_eq!((s.added, s.replaced, s.total), (0, 1, 2));
        assert_eq!(idx.get("a").unwrap().name, "A2");
        drop(idx);
        let idx = ProfileIndex::open(dir.path()).unwrap();
        assert_eq!(idx.ids(), vec!["a", "b"]);
        assert!(matches!(
            idx.delete(&["zz".into()]),
            Err(Error::UnknownId { .. })
        ));
        assert_eq!(idx.len(), 2);
        idx.delete(&["b".into()]).unwrap();
        assert_eq!(idx.ids(), vec!["a"]);
    }

    #[test]
    fn profiles_without_sectors_get_inferred_ones() {
        let idx = ProfileIndex::in_memory().unwrap();
        idx.upsert(&[p("a", "A")]).unwrap();
        let snap = idx.snapshot();
        let row = snap.rows[snap.row_of_id("a").unwrap() as usize];
        assert!(row.inferred);
        assert!(!row.sectors.is_empty());
    }

    #[test]
    fn a_second_writer_gets_a_clear_lock_error() {
        let dir = tempfile::tempdir().unwrap();
        let idx = ProfileIndex::open_or_create(dir.path()).unwrap();
        let other = ProfileIndex::open(dir.path()).unwrap_or_else(|_| {
            idx.upsert(&[p("a", "A")]).unwrap();
            ProfileIndex::open(dir.path()).unwrap()
        });
        let _held = idx.writer().unwrap();
        let err = other.upsert(&[p("x", "X")]).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains("locked by another writer"));
    }

    #[test]
    fn unknown_ids_get_a_suggestion() {
        let idx = ProfileIndex::in_memory().unwrap();
        idx.upsert(&[p("lyonbiopole", "L")]).unwrap();
        let e = idx.get("lyonbiopol").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown profile id \"lyonbiopol\"; did you mean \"lyonbiopole\"?"
        );
    }
}
