//! The `sub` each client sees for a person (OpenID Connect Core §8): the person id, or for a
//! pairwise client a per-sector subject, remembered so that it leads back to the person.

use base64::Engine as _;
use vneid_store::StoreError;
use vneid_tokens::MasterKey;

use crate::clients::Client;
use crate::state::AppState;

/// Domain of the keyed hash that makes pairwise subjects.
pub const NS_PAIRWISE: &str = "pairwise_sub";

/// The pairwise `sub` of a person in a sector: base64url of HMAC-SHA-256 under the master
/// key's lookup subkey, over the sector and the person id. Stable for as long as the master
/// key; other sectors cannot link it to the person id or to each other.
pub fn pairwise_subject(master: &MasterKey, sector: &str, person_id: &str) -> String {
    let hex = master.lookup_hash(NS_PAIRWISE, &format!("{sector}\0{person_id}"));
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The `sub` `client` sees for a person: the person id, or for a pairwise client its sector's
/// pairwise subject, remembered so that the subject leads back to the person (userinfo).
pub async fn subject_for(
    state: &AppState,
    client: &Client,
    person_id: &str,
) -> Result<String, StoreError> {
    let Some(sector) = &client.sector else {
        return Ok(person_id.to_owned());
    };
    let sub = pairwise_subject(&state.master, sector, person_id);
    if state
        .db
        .person_by_pairwise_subject(sector, &sub)
        .await?
        .is_none()
    {
        state
            .db
            .remember_pairwise_subject(sector, &sub, person_id, state.clock.now())
            .await?;
    }
    Ok(sub)
}

/// The person behind the `sub` a client was given; `None` when the client is gone or the
/// pairwise subject is unknown.
pub async fn person_for_subject(
    state: &AppState,
    client_id: &str,
    sub: &str,
) -> Result<Option<String>, StoreError> {
    let Some(client) = state.clients.get(client_id) else {
        return Ok(None);
    };
    match &client.sector {
        None => Ok(Some(sub.to_owned())),
        Some(sector) => state.db.person_by_pairwise_subject(sector, sub).await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_subjects_differ_by_sector_and_are_stable() {
        let master = MasterKey::generate().unwrap();
        let a = pairwise_subject(&master, "a.example", "person-1");
        assert_eq!(a, pairwise_subject(&master, "a.example", "person-1"));
        assert_ne!(a, pairwise_subject(&master, "b.example", "person-1"));
        assert_ne!(a, pairwise_subject(&master, "a.example", "person-2"));
        assert_eq!(a.len(), 43, "256 bits, base64url");
        assert!(!a.contains("person"));
        // Another master key (another deployment) gives other subjects.
        let other = MasterKey::generate().unwrap();
        assert_ne!(a, pairwise_subject(&other, "a.example", "person-1"));
    }
}
