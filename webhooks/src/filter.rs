//! Which events a subscription wants, by CloudEvents type.
//!
//! Types are `se.anslut.<stream type>.<EventType>.v<version>` (see [`crate::cloudevent`]).
//! A pattern is an exact type, a prefix ending in `.*` (`se.anslut.connection_case.*`), or
//! `*` for everything. Matching is on the producer's side, as Standard Webhooks recommends:
//! a receiver gets only what it asked for. When the application gives the crate the list of
//! types it records (`WebhookOptions::known_event_types`), registration refuses exact types
//! it does not know and prefixes that match none, so a typo is an error at registration
//! rather than a subscription that silently never fires.

use std::collections::BTreeSet;

use crate::error::WebhookError;

/// The most patterns one subscription holds.
pub const MAX_PATTERNS: usize = 64;
const MAX_PATTERN_LEN: usize = 200;

/// A validated, de-duplicated list of type patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeFilter {
    patterns: Vec<String>,
}

impl EventTypeFilter {
    /// Validates `patterns` (and, with `known`, checks them against the types that exist).
    pub fn parse(
        patterns: &[String],
        known: Option<&BTreeSet<String>>,
    ) -> Result<Self, WebhookError> {
        if patterns.is_empty() {
            return Err(WebhookError::Invalid(
                "event_types needs at least one type, prefix (ending in .*) or *".into(),
            ));
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(WebhookError::Invalid(format!(
                "event_types holds at most {MAX_PATTERNS} entries"
            )));
        }
        let mut unique = BTreeSet::new();
        for (index, pattern) in patterns.iter().enumerate() {
            validate(pattern)
                .map_err(|rule| WebhookError::Invalid(format!("event_types[{index}] {rule}")))?;
            if let Some(known) = known
                && !known.iter().any(|t| matches(pattern, t))
            {
                return Err(WebhookError::Invalid(format!(
                    "event_types[{index}] matches no event type this system records"
                )));
            }
            unique.insert(pattern.clone());
        }
        Ok(Self {
            patterns: unique.into_iter().collect(),
        })
    }

    /// Reads back a stored filter without re-validating against known types (types that
    /// stopped existing simply match nothing).
    pub(crate) fn from_stored(json: &str) -> Result<Self, WebhookError> {
        let patterns: Vec<String> = serde_json::from_str(json)
            .map_err(|e| WebhookError::Corrupt(format!("stored event types: {e}")))?;
        Ok(Self { patterns })
    }

    pub(crate) fn to_stored(&self) -> String {
        serde_json::to_string(&self.patterns).expect("strings serialise")
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether an event of CloudEvents type `event_type` is wanted.
    pub fn accepts(&self, event_type: &str) -> bool {
        self.patterns.iter().any(|p| matches(p, event_type))
    }
}

fn matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

fn validate(pattern: &str) -> Result<(), &'static str> {
    if pattern == "*" {
        return Ok(());
    }
    if pattern.is_empty() || pattern.len() > MAX_PATTERN_LEN {
        return Err("must be 1 to 200 characters");
    }
    let body = pattern.strip_suffix(".*").unwrap_or(pattern);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err("may hold only letters, digits, _ and ., with .* or * only at the end");
    }
    if body.starts_with('.') || body.ends_with('.') || body.contains("..") {
        return Err("has an empty segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn exact_types_prefixes_and_star_match_what_they_say() {
        let filter = EventTypeFilter::parse(
            &strings(&[
                "se.anslut.connection_case.WentLive.v1",
                "se.anslut.security_incident.*",
            ]),
            None,
        )
        .unwrap();
        assert!(filter.accepts("se.anslut.connection_case.WentLive.v1"));
        assert!(!filter.accepts("se.anslut.connection_case.WentLive.v2"));
        assert!(!filter.accepts("se.anslut.connection_case.ContractSigned.v1"));
        assert!(filter.accepts("se.anslut.security_incident.IncidentReported.v1"));
        let all = EventTypeFilter::parse(&strings(&["*"]), None).unwrap();
        assert!(all.accepts("se.anslut.anything.At.v9"));
    }

    #[test]
    fn malformed_patterns_are_refused_with_their_index() {
        for bad in [
            "",
            "se.anslut.*.WentLive",
            "se anslut",
            "se..anslut",
            ".se",
            "se.*x",
            "**",
        ] {
            let error = EventTypeFilter::parse(&strings(&["*", bad]), None).unwrap_err();
            assert!(
                error.to_string().contains("event_types[1]"),
                "{bad}: {error}"
            );
        }
        assert!(EventTypeFilter::parse(&[], None).is_err());
        assert!(EventTypeFilter::parse(&vec!["*".to_owned(); 65], None).is_err());
    }

    #[test]
    fn with_known_types_unknown_exact_types_and_empty_prefixes_are_refused() {
        let known: BTreeSet<String> = strings(&["se.anslut.connection_case.WentLive.v1"])
            .into_iter()
            .collect();
        assert!(
            EventTypeFilter::parse(&strings(&["se.anslut.connection_case.*"]), Some(&known))
                .is_ok()
        );
        assert!(
            EventTypeFilter::parse(
                &strings(&["se.anslut.connection_case.WentLve.v1"]),
                Some(&known)
            )
            .is_err()
        );
        assert!(
            EventTypeFilter::parse(&strings(&["se.anslut.security_incident.*"]), Some(&known))
                .is_err()
        );
    }

    #[test]
    fn duplicates_collapse_and_the_stored_form_reads_back() {
        let filter = EventTypeFilter::parse(&strings(&["*", "*"]), None).unwrap();
        assert_eq!(filter.patterns(), ["*"]);
        assert_eq!(
            EventTypeFilter::from_stored(&filter.to_stored()).unwrap(),
            filter
        );
    }
}
