//! Data subject ids for personal data in commands.
//!
//! Every `Personal<T>` value names the data subject it is about, and every subject belongs
//! to one region (each region is its own controller: see ARCHITECTURE.md, "Personal data").
//! A named contact gets a new random id each time it is named (contacts are not matched
//! across cases). A staff member gets a random id the first time a region's case names them,
//! found again through the staff index (`privacy::SubjectKeys::staff_subject`), whose key is
//! [`SubjectIds::staff_lookup`]: HMAC-SHA256 of the region and the canonical personnummer
//! under the server's subject key. Forgetting the subject deletes that index row, so the id
//! kept in the log can no longer be reached from the personnummer, with the key or without.
//! [`assign_subjects`] does both before a command runs, and records which region names each
//! subject the command names.

use domain::Personal;
use domain::case::CaseCommand;
use domain::identity::Personnummer;
use domain::ids::{DataSubjectId, RegionId};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::Secret;
use crate::problem::ApiError;

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

    /// A fresh subject for a named contact (and, until [`assign_subjects`] replaces it, for
    /// a staff member).
    pub fn contact(&self) -> DataSubjectId {
        DataSubjectId::from_uuid(Uuid::new_v4())
    }

    /// The staff index's key of a personnummer in a region: hex HMAC-SHA256 under the
    /// subject key, so the index holds no personnummer and answers only with the key.
    pub fn staff_lookup(&self, personnummer: &Personnummer, region: &RegionId) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.expose()) else {
            // HMAC takes keys of any length; this branch cannot be reached.
            return Uuid::new_v4().to_string();
        };
        mac.update(b"anslut/staff-index/v2/");
        mac.update(region.as_str().as_bytes());
        mac.update(b"/");
        mac.update(personnummer.canonical().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The subject a staff member had before the staff index (events written then still name
    /// it): HMAC-SHA256 of the personnummer alone, the same in every region. Used only to find
    /// such events' subject again.
    pub fn legacy_staff(&self, personnummer: &Personnummer) -> DataSubjectId {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.expose()) else {
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

/// Gives a command's staff member their subject in `region` (from the staff index), and
/// records that `region`'s records name every subject the command names (contacts too), so
/// that forgetting and lookups find them without scanning the log. Runs before the command.
pub async fn assign_subjects(
    keys: &::privacy::SubjectKeys,
    subjects: &SubjectIds,
    region: &RegionId,
    mut command: CaseCommand,
) -> Result<CaseCommand, ApiError> {
    let staff = match &mut command {
        CaseCommand::RecordStaffCommitment(c) => Some(&mut c.person),
        CaseCommand::ListStaffMember(c) => Some(&mut c.person),
        _ => None,
    };
    if let Some(person) = staff
        && let Some(member) = person.value()
    {
        let subject = keys
            .staff_subject(
                &subjects.staff_lookup(&member.personnummer, region),
                subjects.legacy_staff(&member.personnummer),
                region.as_str(),
            )
            .await?;
        *person = Personal::new(subject, member.clone());
    }
    let named: Vec<DataSubjectId> =
        ::privacy::subjects_in(&serde_json::to_value(&command).map_err(ApiError::internal)?)
            .into_iter()
            .map(DataSubjectId::from_uuid)
            .collect();
    keys.name_in_region(&named, region.as_str()).await?;
    Ok(command)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn pnr(raw: &str) -> Personnummer {
        Personnummer::parse(raw, NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()).unwrap()
    }

    #[test]
    fn a_staff_members_index_key_is_the_same_in_every_form_and_differs_by_region_and_key() {
        let ids = SubjectIds::new(Secret::new(vec![1; 32]));
        let a = RegionId::parse("jamtland-harjedalen").unwrap();
        let b = RegionId::parse("dalarna").unwrap();
        assert_eq!(
            ids.staff_lookup(&pnr("811218-9876"), &a),
            ids.staff_lookup(&pnr("198112189876"), &a)
        );
        assert_ne!(
            ids.staff_lookup(&pnr("811218-9876"), &a),
            ids.staff_lookup(&pnr("121212-1212"), &a)
        );
        assert_ne!(
            ids.staff_lookup(&pnr("811218-9876"), &a),
            ids.staff_lookup(&pnr("811218-9876"), &b)
        );
        let other = SubjectIds::new(Secret::new(vec![2; 32]));
        assert_ne!(
            ids.staff_lookup(&pnr("811218-9876"), &a),
            other.staff_lookup(&pnr("811218-9876"), &a)
        );
        assert!(!ids.staff_lookup(&pnr("811218-9876"), &a).contains("9876"));
    }

    #[test]
    fn contacts_get_fresh_subjects() {
        let ids = SubjectIds::new(Secret::new(vec![1; 32]));
        assert_ne!(ids.contact(), ids.contact());
    }
}
