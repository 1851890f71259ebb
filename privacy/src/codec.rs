//! The store's payload codec: seals personal data on the way into the log and opens it on
//! the way out.
//!
//! A payload is walked as JSON. Every personal-data object, `{"pii": {"subject": S, "value":
//! V}}` (see `domain::personal`), becomes `{"pii": {"subject": S, "sealed": "<key id>:<base64
//! nonce ‖ ciphertext>"}}`, sealed with S's key (created on first use) and bound to S, the key
//! and the stream. Reading turns it back into the value, or into `{"pii": {"subject": S,
//! "erased": true}}` when S's key is gone or is a newer key than the one that sealed it (S
//! was forgotten, then named again). Everything else in the payload is left as it is, so the
//! store's canonical encoding and hash chain cover exactly the sealed form.

use std::collections::HashMap;
use std::sync::Arc;

use domain::personal::PII_KEY;
use serde_json::{Map, Value, json};
use store::{CodecContext, CodecError, PayloadCodec};
use uuid::Uuid;

use crate::crypto::{DataKey, split_sealed};
use crate::error::PrivacyError;
use crate::keys::SubjectKeys;

/// The field of a sealed personal-data object.
pub const SEALED_KEY: &str = "sealed";

/// [`PayloadCodec`] that encrypts personal data per data subject. Build it with
/// [`SubjectKeys::codec`].
#[derive(Debug, Clone)]
pub struct SubjectCodec {
    keys: SubjectKeys,
}

impl SubjectCodec {
    pub(crate) const fn new(keys: SubjectKeys) -> Self {
        Self { keys }
    }

    /// Seals every personal-data value in `payload`.
    pub async fn seal(&self, stream: &str, mut payload: Value) -> Result<Value, PrivacyError> {
        let mut subjects = Vec::new();
        walk(&mut payload, &mut |pii| {
            if pii.contains_key("value") {
                subjects.push(subject_of(pii)?);
            }
            Ok(())
        })?;
        if subjects.is_empty() {
            return Ok(payload);
        }
        let mut keys: HashMap<Uuid, Arc<DataKey>> = HashMap::new();
        for subject in subjects {
            if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(subject) {
                slot.insert(self.keys.key_or_create(subject).await?);
            }
        }
        walk(&mut payload, &mut |pii| {
            let Some(value) = pii.remove("value") else {
                return Ok(());
            };
            let subject = subject_of(pii)?;
            let plain = serde_json::to_vec(&value)
                .map_err(|e| PrivacyError::Invalid(format!("a personal value: {e}")))?;
            let sealed = keys[&subject].seal(subject, stream, &plain)?;
            pii.insert(SEALED_KEY.to_owned(), Value::String(sealed));
            Ok(())
        })?;
        Ok(payload)
    }

    /// Opens every sealed value in `stored`, or marks it erased when its key is gone.
    pub async fn open(&self, stream: &str, stored: Value) -> Result<Value, PrivacyError> {
        let mut opened = self.open_page(vec![(stream.to_owned(), stored)]).await?;
        Ok(opened.pop().unwrap_or(Value::Null))
    }

    /// [`SubjectCodec::open`] for a page of payloads (with their streams), fetching the
    /// keys of every subject the page names at once.
    pub async fn open_page(
        &self,
        mut page: Vec<(String, Value)>,
    ) -> Result<Vec<Value>, PrivacyError> {
        let mut subjects = Vec::new();
        for (_, stored) in &mut page {
            walk(stored, &mut |pii| {
                if pii.contains_key(SEALED_KEY) {
                    let subject = subject_of(pii)?;
                    if !subjects.contains(&subject) {
                        subjects.push(subject);
                    }
                }
                Ok(())
            })?;
        }
        if subjects.is_empty() {
            return Ok(page.into_iter().map(|(_, stored)| stored).collect());
        }
        let keys = self.keys.keys(&subjects).await?;
        let mut opened = Vec::with_capacity(page.len());
        for (stream, mut stored) in page {
            walk(&mut stored, &mut |pii| open_one(pii, &stream, &keys))?;
            opened.push(stored);
        }
        Ok(opened)
    }
}

/// Opens one personal-data object in place, or marks it erased.
fn open_one(
    pii: &mut Map<String, Value>,
    stream: &str,
    keys: &HashMap<Uuid, Option<Arc<DataKey>>>,
) -> Result<(), PrivacyError> {
    let Some(sealed) = pii.get(SEALED_KEY).and_then(Value::as_str) else {
        return Ok(());
    };
    let subject = subject_of(pii)?;
    let (key_id, body) = split_sealed(sealed).ok_or_else(|| {
        PrivacyError::Corrupt(format!(
            "a sealed value of data subject {subject} in {stream} is malformed"
        ))
    })?;
    let opened = match keys.get(&subject) {
        Some(Some(key)) if key.id == key_id => {
            let plain = key.open(subject, stream, body)?;
            let value: Value = serde_json::from_slice(&plain).map_err(|e| {
                PrivacyError::Corrupt(format!(
                    "a sealed value of data subject {subject} in {stream}: {e}"
                ))
            })?;
            json!({"subject": subject.to_string(), "value": value})
        }
        // No key, or a key created after the one that sealed this: forgotten.
        _ => json!({"subject": subject.to_string(), "erased": true}),
    };
    if let Value::Object(opened) = opened {
        *pii = opened;
    }
    Ok(())
}

fn stream_of(context: &CodecContext<'_>) -> String {
    context.stream.to_string()
}

#[async_trait::async_trait]
impl PayloadCodec for SubjectCodec {
    async fn encode(
        &self,
        context: &CodecContext<'_>,
        payload: Value,
    ) -> Result<Value, CodecError> {
        self.seal(&stream_of(context), payload)
            .await
            .map_err(PrivacyError::into_codec_error)
    }

    async fn decode(&self, context: &CodecContext<'_>, stored: Value) -> Result<Value, CodecError> {
        self.open(&stream_of(context), stored)
            .await
            .map_err(PrivacyError::into_codec_error)
    }

    async fn decode_page(
        &self,
        items: Vec<(CodecContext<'_>, Value)>,
    ) -> Result<Vec<Value>, CodecError> {
        let page = items
            .into_iter()
            .map(|(context, stored)| (stream_of(&context), stored))
            .collect();
        self.open_page(page)
            .await
            .map_err(PrivacyError::into_codec_error)
    }
}

/// The data subjects whose personal data (sealed, plain or erased) `value` holds.
pub fn subjects_in(value: &Value) -> Vec<Uuid> {
    let mut value = value.clone();
    let mut found = Vec::new();
    let _ = walk(&mut value, &mut |pii| {
        if let Ok(subject) = subject_of(pii)
            && !found.contains(&subject)
        {
            found.push(subject);
        }
        Ok(())
    });
    found
}

/// What [`walk`] calls with each personal-data object's inner object.
type Visit<'a> = dyn FnMut(&mut Map<String, Value>) -> Result<(), PrivacyError> + 'a;

/// Calls `visit` with the inner object of every personal-data object in `value`, depth
/// first (a personal value is not searched for further personal data inside it).
fn walk(value: &mut Value, visit: &mut Visit<'_>) -> Result<(), PrivacyError> {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::Object(pii)) = map.get_mut(PII_KEY)
            {
                return visit(pii);
            }
            for inner in map.values_mut() {
                walk(inner, visit)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for inner in items {
                walk(inner, visit)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn subject_of(pii: &Map<String, Value>) -> Result<Uuid, PrivacyError> {
    pii.get("subject")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| PrivacyError::Corrupt("a personal-data object without a subject id".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_found_wherever_personal_data_sits() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let payload = json!({
            "contacts": [
                {"person": {"pii": {"subject": a.to_string(), "value": {"name": "Anna"}}}},
                {"person": {"pii": {"subject": b.to_string(), "erased": true}}},
                {"person": {"pii": {"subject": a.to_string(), "sealed": "x:y"}}},
            ],
            "pii": "a field that merely has the name",
        });
        assert_eq!(subjects_in(&payload), vec![a, b]);
    }
}
