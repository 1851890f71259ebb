//! Erasure of personal data in read models.
//!
//! Documents keep personal data exactly as the domain serialises it, a
//! `{"pii": {"subject": "<uuid>", "value": ...}}` object (see `domain::personal`), never
//! flattened into typed columns. Erasing a data subject therefore means rewriting each such
//! object of that subject to the erased form `{"pii": {"subject": "<uuid>", "erased": true}}`,
//! wherever it sits in whichever document: [`erase_personal`] does that to one JSON value,
//! and `Projections::erase_subject` to every live document. When the store's payload codec
//! erases the subject's key (crypto-shredding), the events read back erased too, so a later
//! rebuild produces the same erased documents. A future `SubjectForgotten` event would be
//! projected by calling the same rewrite in its batch transaction.

use domain::ids::DataSubjectId;
use domain::personal::PII_KEY;
use serde_json::{Map, Value, json};

/// Rewrites every personal-data object of `subject` inside `value` to its erased form.
/// Returns whether anything changed.
pub fn erase_personal(value: &mut Value, subject: DataSubjectId) -> bool {
    let subject = subject.to_string();
    erase(value, &subject)
}

fn erase(value: &mut Value, subject: &str) -> bool {
    match value {
        Value::Object(map) => {
            if is_personal_of(map, subject) {
                map.insert(
                    PII_KEY.to_owned(),
                    json!({"subject": subject, "erased": true}),
                );
                return true;
            }
            let mut changed = false;
            for inner in map.values_mut() {
                changed |= erase(inner, subject);
            }
            changed
        }
        Value::Array(items) => {
            let mut changed = false;
            for inner in items {
                changed |= erase(inner, subject);
            }
            changed
        }
        _ => false,
    }
}

fn is_personal_of(map: &Map<String, Value>, subject: &str) -> bool {
    map.len() == 1
        && map
            .get(PII_KEY)
            .and_then(Value::as_object)
            .is_some_and(|pii| {
                pii.get("subject").and_then(Value::as_str) == Some(subject)
                    && pii.contains_key("value")
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn only_the_subjects_personal_data_is_erased_wherever_it_is() {
        let anna = DataSubjectId::from_uuid(Uuid::from_u128(1));
        let bo = DataSubjectId::from_uuid(Uuid::from_u128(2));
        let mut doc = json!({
            "staff": [
                {"person": {"pii": {"subject": anna.to_string(), "value": {"name": "Anna"}}}},
                {"person": {"pii": {"subject": bo.to_string(), "value": {"name": "Bo"}}}},
            ],
            "note": anna.to_string(),
        });
        assert!(erase_personal(&mut doc, anna));
        assert_eq!(
            doc["staff"][0]["person"],
            json!({"pii": {"subject": anna.to_string(), "erased": true}})
        );
        assert_eq!(doc["staff"][1]["person"]["pii"]["value"]["name"], "Bo");
        assert_eq!(doc["note"], anna.to_string());
        assert!(
            !erase_personal(&mut doc, anna),
            "erasing twice changes nothing"
        );
    }
}
