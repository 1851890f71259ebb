//! Reading old event versions as current ones.
//!
//! `StaffCommitmentRecorded` v1 kept the staff member's HSA-id in clear beside the sealed
//! person; v2 seals it inside the person. The log is immutable, so v1 events keep their
//! HSA-id in clear where they are stored (ARCHITECTURE.md says what that still reveals); what
//! this upcaster changes is what every reader sees: a v1 event reads as v2, the HSA-id moved
//! into the person's value while that is readable, and dropped once the person is erased (or
//! the value is sealed because the store has no codec), so no read path, read model or
//! outlet ever shows the HSA-id of an erased person. The store applies it after its codec
//! has opened the payload (`StoreOptions::upcasters`).

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::Value;

use crate::personal::PII_KEY;

/// The upcasters of the connection case's events, oldest first: put them in the store's
/// options.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(StaffCommitmentV1)]
}

/// `StaffCommitmentRecorded` v1 → v2.
#[derive(Debug, Clone, Copy)]
pub struct StaffCommitmentV1;

impl EventUpcaster for StaffCommitmentV1 {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == "StaffCommitmentRecorded" && event_version == "1"
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        upcast_staff_commitment_v1(&mut event.payload);
        "2".clone_into(&mut event.event_version);
        event
    }
}

/// Moves `change.data.hsa_id` into `change.data.person.pii.value`, or drops it when the
/// person's value is not there to hold it.
pub fn upcast_staff_commitment_v1(payload: &mut Value) {
    let Some(data) = payload
        .get_mut("change")
        .and_then(|change| change.get_mut("data"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let Some(hsa_id) = data.remove("hsa_id") else {
        return;
    };
    if let Some(value) = data
        .get_mut("person")
        .and_then(|person| person.get_mut(PII_KEY))
        .and_then(|pii| pii.get_mut("value"))
        .and_then(Value::as_object_mut)
    {
        value.insert("hsa_id".to_owned(), hsa_id);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_readable_person_takes_the_hsa_id_and_an_erased_one_drops_it() {
        let mut open = json!({"change": {"type": "StaffCommitmentRecorded", "data": {
            "hsa_id": "SE2321000180-ABC1",
            "person": {"pii": {"subject": "s", "value": {"name": "Bo", "personnummer": "198001011017"}}},
            "kind": "responsibility_commitment", "signed_on": "2025-03-03"}}});
        upcast_staff_commitment_v1(&mut open);
        assert_eq!(
            open["change"]["data"]["person"]["pii"]["value"]["hsa_id"],
            "SE2321000180-ABC1"
        );
        assert!(open["change"]["data"].get("hsa_id").is_none());

        let mut erased = json!({"change": {"type": "StaffCommitmentRecorded", "data": {
            "hsa_id": "SE2321000180-ABC1",
            "person": {"pii": {"subject": "s", "erased": true}},
            "kind": "responsibility_commitment", "signed_on": "2025-03-03"}}});
        upcast_staff_commitment_v1(&mut erased);
        assert!(!erased.to_string().contains("ABC1"), "{erased}");
    }
}
