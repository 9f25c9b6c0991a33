//! [`AuditWriter`]: the synchronous core. Appends records to the chain of one replica,
//! continuing from what is on disk, rotating files by size, syncing by policy. CI uses it
//! directly; the server wraps it in [`super::AuditLog`].

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use super::chain::{self, ChainHead, Content, Sealed};
use super::config::AuditConfig;
use super::crypto::AuditKey;
use super::fsync::FsyncSchedule;
use super::layout::{self, Tail};
use super::record::AuditRecord;
use super::AuditError;

/// Where records go.
#[derive(Debug, Clone)]
enum Target {
    /// Rotated files in a folder.
    Dir { dir: PathBuf, prefix: String },
    /// One file, never rotated.
    File(PathBuf),
}

/// A torn line found when the log was opened (a crash cut a write short).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The file that ends with it.
    pub path: PathBuf,
    /// Its length.
    pub bytes: u64,
}

/// Where one record went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash (the next record's `prev`).
    pub hash: String,
    /// The file it was written to.
    pub path: PathBuf,
}

/// Appends records to one replica's hash chain.
#[derive(Debug)]
pub struct AuditWriter {
    replica: String,
    target: Target,
    key: Option<AuditKey>,
    file: Option<File>,
    path: PathBuf,
    index: u32,
    size: u64,
    max_file_bytes: u64,
    head: ChainHead,
    schedule: FsyncSchedule,
    torn: Vec<TornTail>,
}

impl AuditWriter {
    /// Validates `config`, loads the key, and opens the log, continuing the chain from the last
    /// whole record on disk. A torn last line is noted ([`AuditWriter::torn_tails`]): in a
    /// folder the chain continues in a new file and the torn file is kept as it is; a single
    /// file is cut back to its last whole record.
    pub fn open(config: &AuditConfig) -> Result<Self, AuditError> {
        config.validate()?;
        let key = match &config.encryption {
            Some(enc) => {
                let key = enc.load_key()?;
                if let Some(age) = key.age_days(SystemTime::now()) {
                    if age > i64::from(enc.max_key_age_days) {
                        tracing::warn!(
                            key_id = key.id(),
                            age_days = age,
                            max_days = enc.max_key_age_days,
                            "audit encryption key is due for rotation (celgate audit rotate-key)"
                        );
                    }
                }
                Some(key)
            }
            None => None,
        };
        let target = match &config.file {
            Some(file) => Target::File(file.clone()),
            None => Target::Dir {
                dir: config.dir_or_default(),
                prefix: config.file_prefix.clone(),
            },
        };
        let mut writer = AuditWriter {
            replica: config.replica(),
            target,
            key,
            file: None,
            path: PathBuf::new(),
            index: 0,
            size: 0,
            max_file_bytes: config.max_file_bytes,
            head: ChainHead::genesis(),
            schedule: FsyncSchedule::new(config),
            torn: Vec::new(),
        };
        writer.reopen()?;
        Ok(writer)
    }

    /// Re-reads the end of the log from disk and reopens the file to append to (after a failed
    /// write, or to check that a failing disk is back).
    pub fn reopen(&mut self) -> Result<(), AuditError> {
        self.file = None;
        match self.target.clone() {
            Target::File(path) => self.open_single(&path),
            Target::Dir { dir, prefix } => self.open_dir(&dir, &prefix),
        }
    }

    fn open_single(&mut self, path: &Path) -> Result<(), AuditError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| AuditError::io(parent, "create the folder", e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| AuditError::io(path, "open", e))?;
        let meta = file.metadata().map_err(|e| AuditError::io(path, "stat", e))?;
        if !meta.is_file() {
            return Err(AuditError::io(
                path,
                "use as a log (not a regular file)",
                std::io::Error::other("only a regular file can hold an audit chain"),
            ));
        }
        // Only the end of the file is read: its torn line, then backwards to this replica's last
        // record (usually the last line), never the whole file.
        let tail = layout::read_tail(&mut file, meta.len()).map_err(|e| AuditError::io(path, "read", e))?;
        if tail.torn_len > 0 {
            tracing::warn!(path = %path.display(), bytes = tail.torn_len, "audit log ends with a torn line (crash mid-write); cutting it off");
            self.torn.push(TornTail {
                path: path.to_owned(),
                bytes: tail.torn_len,
            });
            file.set_len(tail.whole_len)
                .map_err(|e| AuditError::io(path, "cut the torn line off", e))?;
        }
        let replica = self.replica.clone();
        let found = layout::find_line_backwards(&mut file, tail.whole_len, |line| {
            if line.is_empty() {
                return None;
            }
            match chain::decode_header(line) {
                Ok(header) if header.replica == replica => Some(Ok(ChainHead {
                    seq: header.seq,
                    hash: header.hash,
                })),
                Ok(_) => None,
                Err(source) => Some(Err(source)),
            }
        })
        .map_err(|e| AuditError::io(path, "read", e))?;
        self.head = match found {
            Some(Ok(head)) => head,
            Some(Err(source)) => {
                return Err(AuditError::DamagedTail {
                    path: path.to_owned(),
                    source,
                })
            }
            None => ChainHead::genesis(),
        };
        path.clone_into(&mut self.path);
        self.size = tail.whole_len;
        self.file = Some(file);
        Ok(())
    }

    fn open_dir(&mut self, dir: &Path, prefix: &str) -> Result<(), AuditError> {
        std::fs::create_dir_all(dir).map_err(|e| AuditError::io(dir, "create the folder", e))?;
        let indices = layout::indices(dir, prefix, &self.replica).map_err(|e| AuditError::io(dir, "list", e))?;
        self.head = ChainHead::genesis();
        let Some(&highest) = indices.last() else {
            return self.start_file(dir, prefix, 1);
        };
        let mut current = None;
        for &index in indices.iter().rev() {
            let path = dir.join(layout::rotated_name(prefix, &self.replica, index));
            let mut file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(|e| AuditError::io(&path, "open", e))?;
            let len = file.metadata().map_err(|e| AuditError::io(&path, "stat", e))?.len();
            let tail: Tail = layout::read_tail(&mut file, len).map_err(|e| AuditError::io(&path, "read", e))?;
            if index == highest {
                if tail.torn_len > 0 {
                    tracing::warn!(path = %path.display(), bytes = tail.torn_len,
                        "audit log ends with a torn line (crash mid-write); the chain continues in a new file");
                    self.torn.push(TornTail {
                        path: path.clone(),
                        bytes: tail.torn_len,
                    });
                } else {
                    current = Some((file, path.clone(), len));
                }
            }
            if let Some(line) = tail.last_line {
                let header = chain::decode_header(&line).map_err(|source| AuditError::DamagedTail { path, source })?;
                self.head = ChainHead {
                    seq: header.seq,
                    hash: header.hash,
                };
                break;
            }
        }
        match current {
            Some((file, path, len)) => {
                self.file = Some(file);
                self.path = path;
                self.size = len;
                self.index = highest;
                Ok(())
            }
            None => self.start_file(dir, prefix, highest + 1),
        }
    }

    fn start_file(&mut self, dir: &Path, prefix: &str, index: u32) -> Result<(), AuditError> {
        let path = dir.join(layout::rotated_name(prefix, &self.replica, index));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| AuditError::io(&path, "create", e))?;
        self.file = Some(file);
        self.path = path;
        self.size = 0;
        self.index = index;
        Ok(())
    }

    /// Appends one record as the next link of the chain; syncs when the policy says so.
    pub fn append(&mut self, record: &AuditRecord) -> Result<Appended, AuditError> {
        if self.file.is_none() {
            self.reopen()?;
        }
        let (mut line, head) = self.encode(record)?;
        line.push(b'\n');
        if let Target::Dir { dir, prefix } = self.target.clone() {
            if self.size > 0 && self.size + line.len() as u64 > self.max_file_bytes {
                self.sync()?;
                self.start_file(&dir, &prefix, self.index + 1)?;
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Err(AuditError::io(
                &self.path,
                "append to",
                std::io::ErrorKind::NotFound.into(),
            ));
        };
        if let Err(e) = file.write_all(&line) {
            // Cut a partial line off so the next record starts on a line of its own.
            if file.set_len(self.size).is_err() {
                self.file = None;
            }
            return Err(AuditError::io(&self.path, "append to", e));
        }
        self.size += line.len() as u64;
        self.head = head;
        if self.schedule.wrote(Instant::now()) {
            self.sync()?;
        }
        Ok(Appended {
            seq: self.head.seq,
            hash: self.head.hash.clone(),
            path: self.path.clone(),
        })
    }

    fn encode(&self, record: &AuditRecord) -> Result<(Vec<u8>, ChainHead), AuditError> {
        let content = match &self.key {
            None => Content::Plain(record),
            Some(key) => {
                let plaintext = serde_json::to_vec(record).map_err(AuditError::Serialize)?;
                let aad = chain::associated_data(&self.replica, self.head.seq + 1, &self.head.hash, key.id());
                let (nonce, ciphertext) = key.seal(&aad, &plaintext)?;
                Content::Sealed(Sealed {
                    time: record.time.clone(),
                    key_id: key.id().to_owned(),
                    nonce,
                    ciphertext,
                })
            }
        };
        chain::encode(&self.replica, &self.head, content).map_err(AuditError::Serialize)
    }

    /// Forces everything written to disk.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        if let Some(file) = &self.file {
            file.sync_data().map_err(|e| AuditError::io(&self.path, "fsync", e))?;
        }
        self.schedule.synced();
        Ok(())
    }

    /// Syncs when records have waited the policy's interval by `now`; true when it synced.
    pub fn sync_if_due(&mut self, now: Instant) -> Result<bool, AuditError> {
        if self.schedule.due(now) {
            self.sync()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The replica id written in every record.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The last record written (or found on disk at open).
    pub fn head(&self) -> &ChainHead {
        &self.head
    }

    /// The file the next record goes to (unless it rotates first).
    pub fn current_path(&self) -> &Path {
        &self.path
    }

    /// Torn lines found when the log was opened or reopened.
    pub fn torn_tails(&self) -> &[TornTail] {
        &self.torn
    }

    /// Id of the encryption key, when records are encrypted.
    pub fn key_id(&self) -> Option<&str> {
        self.key.as_ref().map(AuditKey::id)
    }
}
