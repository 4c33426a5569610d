//! File checks (`{type: file, path}`): a weight, `up` or `down` read from a
//! file, re-read when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{FailureReason, Outcome, ProbeError, ProbeErrorKind, Target};

/// The most bytes read from the file.
pub const MAX_FILE: u64 = 4096;

/// Read `path` (with `%h`, `%p` and `%%` replaced as in
/// [`Exec`](super::Exec), so one probe can read a file per real server).
/// Its content, trimmed, decides:
///
/// | content | outcome |
/// | --- | --- |
/// | `up` (any case) | [`Outcome::Up`] |
/// | `down` (any case) | down, `marked_down` |
/// | a number `n` (0..=4294967295) | [`Outcome::UpWithWeight`]`(n)` |
/// | anything else, a missing or unreadable file | down, `file` |
///
/// The file is read again only when its length, modification time or inode
/// changed since the last read (the last outcome is kept per path).
///
/// ```
/// use ipvs::health::probe::{File, Probe};
/// let probe: Probe = serde_json::from_str(r#"{"type": "file", "path": "/run/lb/%h_%p"}"#).unwrap();
/// assert_eq!(probe, Probe::File(File::new("/run/lb/%h_%p")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The file read.
    pub path: PathBuf,
    #[serde(skip)]
    cache: FileCache,
}

impl File {
    /// Read this file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        File {
            path: path.into(),
            cache: FileCache::default(),
        }
    }

    /// The path for `target`, `%h`, `%p` and `%%` replaced.
    pub fn path_for(&self, target: &Target) -> PathBuf {
        let path = self.path.to_string_lossy();
        if !path.contains('%') {
            return self.path.clone();
        }
        let host = target.addr.ip().to_string();
        let port = target.addr.port().to_string();
        PathBuf::from(super::exec::substitute(&path, &host, &port))
    }

    pub(crate) fn validate(&self) -> Result<(), ProbeError> {
        if self.path.as_os_str().is_empty() {
            return Err(ProbeError::new(
                "file",
                "path",
                ProbeErrorKind::Empty,
                "is empty",
            ));
        }
        Ok(())
    }

    pub(crate) async fn run(&self, target: &Target, timeout: Duration) -> Outcome {
        let path = self.path_for(target);
        match tokio::time::timeout(timeout, self.read(&path)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::down(
                FailureReason::Timeout,
                format!("{}: not read within {timeout:?}", path.display()),
            ),
        }
    }

    async fn read(&self, path: &Path) -> Outcome {
        let shown = path.display();
        let meta = match tokio::fs::metadata(path).await {
            Ok(meta) => meta,
            Err(e) => return Outcome::down(FailureReason::File, format!("{shown}: {e}")),
        };
        let stamp = Stamp::of(&meta);
        if let Some(outcome) = self.cache.get(path, &stamp) {
            return outcome;
        }
        let mut content = Vec::new();
        let read = async {
            let file = tokio::fs::File::open(path).await?;
            file.take(MAX_FILE).read_to_end(&mut content).await
        };
        let outcome = match read.await {
            Ok(_) => parse(&shown.to_string(), &content),
            Err(e) => Outcome::down(FailureReason::File, format!("{shown}: {e}")),
        };
        self.cache.put(path, stamp, outcome.clone());
        outcome
    }
}

fn parse(path: &str, content: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(content);
    let word = text.trim();
    if word.eq_ignore_ascii_case("up") {
        Outcome::Up
    } else if word.eq_ignore_ascii_case("down") {
        Outcome::down(FailureReason::MarkedDown, format!("{path} says down"))
    } else if let Ok(weight) = word.parse::<u32>() {
        Outcome::UpWithWeight(weight)
    } else {
        let shown: String = word.chars().take(40).collect();
        Outcome::down(
            FailureReason::File,
            format!("{path}: holds neither up, down nor a weight: {shown:?}"),
        )
    }
}

/// What tells that a file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: (u64, u64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: (meta.dev(), meta.ino()),
        }
    }
}

/// The last outcome per path read, with the stamp it was read at. Equal to
/// every other cache (probes compare by their parameters).
#[derive(Debug, Default, Clone)]
struct FileCache(Arc<Mutex<HashMap<PathBuf, (Stamp, Outcome)>>>);

impl FileCache {
    fn get(&self, path: &Path, stamp: &Stamp) -> Option<Outcome> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(path)
            .filter(|(cached, _)| cached == stamp)
            .map(|(_, outcome)| outcome.clone())
    }

    fn put(&self, path: &Path, stamp: Stamp, outcome: Outcome) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(path.to_owned(), (stamp, outcome));
    }
}

impl PartialEq for FileCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FileCache {}

impl std::hash::Hash for FileCache {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
