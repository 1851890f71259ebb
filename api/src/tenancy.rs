//! The tenancy of every recorded event, knowable without a read model.
//!
//! The command pipeline writes the tenancy of the resource a command acted on into the
//! metadata of every event it appends (`extra`): [`TENANT_REGION`] (the case's region) and
//! [`TENANT_ORG`] (the provider's organisationsnummer). Readers of the whole log (the event
//! feed) decide from those two entries alone who may see an event, with the same rule as
//! [`crate::authz::visible`]. An event without them was not recorded through the API and is
//! shown to nobody.

use domain::case::ConnectionCase;
use domain::incident::SecurityIncident;
use store::EventMetadata;

use crate::auth::Principal;

/// The metadata key holding the region of the resource an event belongs to.
pub const TENANT_REGION: &str = "tenant_region";
/// The metadata key holding the provider organisation of the resource an event belongs to.
pub const TENANT_ORG: &str = "tenant_org";

/// An aggregate whose tenancy is known once it exists.
pub trait Tenanted {
    /// What the API calls the resource ("case", "incident"), in a 404's detail.
    const RESOURCE: &'static str;

    /// `(region, provider organisation)` as the API writes them; `None` before the resource
    /// exists.
    fn tenancy(&self) -> Option<(String, String)>;
}

impl Tenanted for ConnectionCase {
    const RESOURCE: &'static str = "case";

    fn tenancy(&self) -> Option<(String, String)> {
        self.facts()
            .map(|facts| (facts.region.to_string(), facts.org_number.to_string()))
    }
}

impl Tenanted for SecurityIncident {
    const RESOURCE: &'static str = "incident";

    fn tenancy(&self) -> Option<(String, String)> {
        self.facts()
            .map(|facts| (facts.region.to_string(), facts.provider_org.to_string()))
    }
}

/// The metadata entries that record `aggregate`'s tenancy (none before it exists).
pub fn entries(aggregate: &impl Tenanted) -> Vec<(String, String)> {
    aggregate
        .tenancy()
        .map(|(region, org)| {
            vec![
                (TENANT_REGION.to_owned(), region),
                (TENANT_ORG.to_owned(), org),
            ]
        })
        .unwrap_or_default()
}

/// The region an event's metadata names, if it names one.
pub fn region_of(metadata: &EventMetadata) -> Option<&str> {
    metadata.extra.get(TENANT_REGION).map(String::as_str)
}

/// Whether `principal` may see an event with this metadata: its region is the principal's
/// and, for providers, its organisation the principal's. Events without a recorded tenancy
/// are visible to nobody.
pub fn visible(principal: &Principal, metadata: &EventMetadata) -> bool {
    let (Some(region), Some(org)) = (
        metadata.extra.get(TENANT_REGION),
        metadata.extra.get(TENANT_ORG),
    ) else {
        return false;
    };
    principal.region().as_str() == region
        && principal
            .provider_org()
            .is_none_or(|own| own.to_string() == *org)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use uuid::Uuid;

    use super::*;

    fn metadata(entries: &[(&str, &str)]) -> EventMetadata {
        let mut metadata = EventMetadata::new(Uuid::now_v7(), None);
        metadata.extra = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>();
        metadata
    }

    #[test]
    fn events_are_visible_by_the_tenancy_they_record_and_without_one_to_nobody() {
        let officer = Principal::from_claims("o", "officer", "dalarna", None).unwrap();
        let provider =
            Principal::from_claims("p", "provider", "dalarna", Some("556036-0793")).unwrap();
        let foreign = Principal::from_claims("f", "auditor", "varmland", None).unwrap();
        let own = metadata(&[(TENANT_REGION, "dalarna"), (TENANT_ORG, "556036-0793")]);
        let other_org = metadata(&[(TENANT_REGION, "dalarna"), (TENANT_ORG, "232100-0180")]);
        let untenanted = metadata(&[]);
        assert!(visible(&officer, &own) && visible(&officer, &other_org));
        assert!(visible(&provider, &own) && !visible(&provider, &other_org));
        assert!(!visible(&foreign, &own));
        assert!(!visible(&officer, &untenanted));
        assert_eq!(region_of(&own), Some("dalarna"));
    }
}
