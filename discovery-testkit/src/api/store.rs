//! The API server's storage: every slice with its resourceVersion, and a bounded history
//! of changes that watches replay from, as etcd's watch window does.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

use super::render::{Key, Rendered};

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Added,
    Modified,
    Deleted,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "ADDED",
            Kind::Modified => "MODIFIED",
            Kind::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch sends it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) rv: u64,
    pub(crate) kind: Kind,
    pub(crate) namespace: String,
    pub(crate) object: Value,
}

#[derive(Debug, Clone)]
struct Stored {
    rendered: Rendered,
    rv: u64,
}

/// Objects and history.
#[derive(Debug)]
pub(crate) struct Store {
    rv: u64,
    objects: BTreeMap<Key, Stored>,
    history: VecDeque<Change>,
    /// Versions at or below this are compacted: a watch from one gets 410 Gone.
    compacted: u64,
    max_history: usize,
}

impl Store {
    pub(crate) fn new(max_history: usize) -> Self {
        Self {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            max_history,
        }
    }

    /// The latest resourceVersion.
    pub(crate) fn rv(&self) -> u64 {
        self.rv
    }

    /// Makes the stored objects what `desired` says, one version per changed object.
    /// Returns whether anything changed.
    pub(crate) fn sync(&mut self, desired: BTreeMap<Key, Rendered>) -> bool {
        let before = self.rv;
        let gone: Vec<Key> = self
            .objects
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(stored) = self.objects.remove(&key) {
                self.rv += 1;
                let object = with_rv(&stored.rendered.object, self.rv);
                self.record(Kind::Deleted, &key, object);
            }
        }
        for (key, rendered) in desired {
            let kind = match self.objects.get(&key) {
                Some(stored) if stored.rendered == rendered => continue,
                Some(_) => Kind::Modified,
                None => Kind::Added,
            };
            self.rv += 1;
            let object = with_rv(&rendered.object, self.rv);
            self.record(kind, &key, object);
            self.objects.insert(
                key,
                Stored {
                    rendered,
                    rv: self.rv,
                },
            );
        }
        self.rv != before
    }

    fn record(&mut self, kind: Kind, key: &Key, object: Value) {
        self.history.push_back(Change {
            rv: self.rv,
            kind,
            namespace: key.0.clone(),
            object,
        });
        while self.history.len() > self.max_history {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
    }

    /// Forgets all history up to now: a watch from any version already handed out gets
    /// 410 Gone, as after an etcd compaction.
    pub(crate) fn compact(&mut self) {
        // A version of its own, so that a watch from the last version handed out is
        // too old too, while a list made after this can be watched from.
        self.rv += 1;
        self.compacted = self.rv;
        self.history.clear();
    }

    /// The objects of `namespace`, with their versions.
    pub(crate) fn list(&self, namespace: &str) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, s)| with_rv(&s.rendered.object, s.rv))
            .collect()
    }

    /// The changes after `rv`, or `None` if history no longer reaches back that far.
    pub(crate) fn since(&self, rv: u64) -> Option<impl Iterator<Item = &Change>> {
        if rv < self.compacted {
            return None;
        }
        Some(self.history.iter().filter(move |c| c.rv > rv))
    }
}

fn with_rv(object: &Value, rv: u64) -> Value {
    let mut object = object.clone();
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    object
}
