use std::collections::BTreeMap;
use std::fmt;

use crate::people::Person;

/// Everything the simulator needs: where it is reachable, who may use it, who can log in.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// External base URL including the mount path, e.g. `http://127.0.0.1:8080/simulator`, with
    /// no trailing slash (one is removed if given). Every absolute URL the simulator produces
    /// starts with it.
    pub issuer: String,
    /// Registered relying parties.
    pub clients: Vec<SimClient>,
    /// Who can log in.
    pub people: Vec<Person>,
    /// Renames userinfo output keys, e.g. `{"SoDinhDanh": "personal_number"}`; empty keeps the
    /// broker's names.
    pub field_names: BTreeMap<String, String>,
}

/// A relying party registered with the simulated broker.
#[derive(Clone, PartialEq, Eq)]
pub struct SimClient {
    pub client_id: String,
    pub client_secret: String,
    /// Compared byte for byte with the `redirect_uri` of each request.
    pub redirect_uris: Vec<String>,
}

impl fmt::Debug for SimClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}
