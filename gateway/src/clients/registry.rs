//! The clients a replica serves: the configuration's, fixed at start, and the database's,
//! re-read at run time so that every replica sees a client added or removed anywhere.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use vneid_store::{ClientRow, Database, StoreError};

use super::{Client, ClientSource};

/// Every client the gateway serves: those of the configuration file, fixed at start, and those
/// of the database, re-read by [`ClientRegistry::reload`]. A configuration client wins over a
/// database client of the same id.
pub struct ClientRegistry {
    config: HashMap<String, Arc<Client>>,
    loaded: RwLock<Loaded>,
}

struct Loaded {
    all: Arc<HashMap<String, Arc<Client>>>,
    /// Database clients already reported as shadowed or unusable (reported once, not at every
    /// reload).
    reported: HashSet<String>,
}

impl ClientRegistry {
    /// A registry of the configuration clients only; [`reload`](Self::reload) adds the
    /// database's.
    pub fn new(config: impl IntoIterator<Item = Client>) -> Self {
        let config: HashMap<String, Arc<Client>> = config
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        Self {
            loaded: RwLock::new(Loaded {
                all: Arc::new(config.clone()),
                reported: HashSet::new(),
            }),
            config,
        }
    }

    fn snapshot(&self) -> Arc<HashMap<String, Arc<Client>>> {
        match self.loaded.read() {
            Ok(g) => g.all.clone(),
            Err(p) => p.into_inner().all.clone(),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.snapshot().get(id).cloned()
    }

    /// Whether `id` is a client of the configuration file.
    pub fn in_config(&self, id: &str) -> bool {
        self.config.contains_key(id)
    }

    /// Every client, configuration clients first, each group by id.
    pub fn list(&self) -> Vec<Arc<Client>> {
        let mut all: Vec<Arc<Client>> = self.snapshot().values().cloned().collect();
        all.sort_by(|a, b| {
            (a.source != ClientSource::Config, &a.id)
                .cmp(&(b.source != ClientSource::Config, &b.id))
        });
        all
    }

    /// Replaces the database clients with `rows`. Rows shadowed by a configuration client or
    /// unusable are left out (and logged once).
    pub fn set_database_clients(&self, rows: &[ClientRow]) {
        let mut g = match self.loaded.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut all = self.config.clone();
        let mut reported = HashSet::new();
        for row in rows {
            let id = &row.client_id;
            let first = !g.reported.contains(id);
            if self.config.contains_key(id) {
                if first {
                    tracing::warn!(client_id = %id, "client is in both the configuration and the database; the configuration wins");
                }
                reported.insert(id.clone());
                continue;
            }
            match Client::from_row(row) {
                Ok(c) => {
                    if !g.all.contains_key(id) {
                        tracing::info!(client_id = %id, "serving a client of the database");
                    }
                    all.insert(id.clone(), Arc::new(c));
                }
                Err(e) => {
                    if first {
                        tracing::error!(client_id = %id, error = %e, "stored client is unusable; skipped");
                    }
                    reported.insert(id.clone());
                }
            }
        }
        for (id, c) in g.all.iter() {
            if c.source == ClientSource::Database && !all.contains_key(id) {
                tracing::info!(client_id = %id, "client removed from the database; no longer served");
            }
        }
        g.all = Arc::new(all);
        g.reported = reported;
    }

    /// Re-reads the database clients. On failure the current ones stay.
    pub async fn reload(&self, db: &Database) -> Result<(), StoreError> {
        let rows = db.list_clients().await?;
        self.set_database_clients(&rows);
        Ok(())
    }
}
