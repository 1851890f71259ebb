//! Data subject ids for personal data in commands: the seam where issue 7 adds encryption
//! and erasure.
//!
//! Every `Personal<T>` value names the data subject it is about. A named contact gets a new
//! id each time it is named (contacts are not matched across cases). A staff member gets a
//! deterministic id, HMAC-SHA256 of the canonical personnummer under a server secret, so that
//! the same person is the same subject in every event, and so that the id reveals nothing
//! without the key.

use domain::identity::Personnummer;
use domain::ids::DataSubjectId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::Secret;

/// Maps the people named in commands to data subject ids.
#[derive(Clone)]
pub struct SubjectIds {
    key: Secret<Vec<u8>>,
}

impl std::fmt::Debug for SubjectIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectIds([redacted])")
    }
}

impl SubjectIds {
    pub const fn new(key: Secret<Vec<u8>>) -> Self {
        Self { key }
    }

    /// The key of request fingerprints (see `RequestContext::fingerprint`), derived from the
    /// subject key so that no further secret needs configuring.
    pub fn fingerprint_key(&self) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.expose()) else {
            return [0; 32];
        };
        mac.update(b"anslut/request-fingerprint/v1");
        mac.finalize().into_bytes().into()
    }

    /// A fresh subject for a named contact.
    pub fn contact(&self) -> DataSubjectId {
        DataSubjectId::from_uuid(Uuid::now_v7())
    }

    /// The stable subject of a staff member.
    pub fn staff(&self, personnummer: &Personnummer) -> DataSubjectId {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.expose()) else {
            // HMAC takes keys of any length; this branch cannot be reached.
            return self.contact();
        };
        mac.update(b"anslut/staff/");
        mac.update(personnummer.canonical().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        DataSubjectId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn pnr(raw: &str) -> Personnummer {
        Personnummer::parse(raw, NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()).unwrap()
    }

    #[test]
    fn a_staff_member_is_the_same_subject_in_every_form_and_differs_by_key() {
        let ids = SubjectIds::new(Secret::new(vec![1; 32]));
        assert_eq!(
            ids.staff(&pnr("811218-9876")),
            ids.staff(&pnr("198112189876"))
        );
        assert_ne!(
            ids.staff(&pnr("811218-9876")),
            ids.staff(&pnr("121212-1212"))
        );
        let other = SubjectIds::new(Secret::new(vec![2; 32]));
        assert_ne!(
            ids.staff(&pnr("811218-9876")),
            other.staff(&pnr("811218-9876"))
        );
    }

    #[test]
    fn contacts_get_fresh_subjects() {
        let ids = SubjectIds::new(Secret::new(vec![1; 32]));
        assert_ne!(ids.contact(), ids.contact());
    }
}
