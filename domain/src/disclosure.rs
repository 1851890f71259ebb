//! Who sees which personal data, where: the disclosure policy, and the one function every
//! outlet applies to what it is about to show.
//!
//! Personal data sits in events only inside [`crate::Personal`] objects, `{"pii": {"subject",
//! "value"}}`. The *kind* of each piece ([`DataKind`]) follows from the value's fields: a
//! staff member ([`crate::case::StaffMember`]: `name`, `personnummer`, `hsa_id`) or a contact
//! ([`crate::contact::ContactDetails`]: `name`, `email`, `phone`). Events recorded before the
//! kinds were named carry the same fields, so they need no tag; a value whose shape or field
//! is not in [`kind_of`]'s table is withheld from everyone (the conservative default: a new
//! kind of personal data is shown nowhere until this table says where).
//!
//! [`discloses`] is the table (role × kind × outlet), [`redact`] applies it to any JSON an
//! outlet is about to send: it keeps the allowed fields of each personal value, removes the
//! others and lists their names under `withheld`, so
//! `{"pii": {"subject": S, "value": {"name": "Bo Berg", "personnummer": "…", "hsa_id": "…"}}}`
//! becomes, for an auditor, `{"pii": {"subject": S, "value": {"name": "Bo Berg", "hsa_id":
//! "…"}, "withheld": ["personnummer"]}}` and, for a dashboard, `{"pii": {"subject": S,
//! "withheld": ["hsa_id", "name", "personnummer"]}}`. Erased values stay erased. The subject
//! id is a pseudonym (random, or for old events a keyed hash) and is always shown: it is what
//! an officer forgets.

use serde_json::{Map, Value};

use crate::actor::Role;
use crate::personal::PII_KEY;

/// A kind of personal data the system records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataKind {
    /// A staff member's personnummer (or samordningsnummer).
    Personnummer,
    /// A staff member's name.
    StaffName,
    /// A staff member's HSA-id: identifies the person as surely as the personnummer.
    HsaId,
    /// A named contact's name (IT contact, head of unit, ...).
    ContactName,
    /// A contact's e-mail address.
    Email,
    /// A contact's phone number.
    Phone,
}

impl DataKind {
    pub const ALL: [Self; 6] = [
        Self::Personnummer,
        Self::StaffName,
        Self::HsaId,
        Self::ContactName,
        Self::Email,
        Self::Phone,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Personnummer => "personnummer",
            Self::StaffName => "staff name",
            Self::HsaId => "HSA-id",
            Self::ContactName => "contact name",
            Self::Email => "e-mail",
            Self::Phone => "phone",
        }
    }
}

/// Where data leaves the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outlet {
    /// `GET /v1/cases/{id}`, `GET /v1/incidents/{id}`: the current state.
    Case,
    /// The same with `?as_of=` or `?as_of_position=`: a past state.
    AsOf,
    /// `GET /v1/cases/{id}/history`, `GET /v1/incidents/{id}/history`.
    History,
    /// `GET /v1/feed`.
    Feed,
    /// Webhook deliveries.
    Webhook,
    /// Every read model answered as JSON.
    ReadModelJson,
    /// Every read model answered as CSV.
    ReadModelCsv,
    /// Audit exports and proofs: the events as stored (sealed).
    AuditExport,
    /// Error bodies (problem+json).
    Error,
}

impl Outlet {
    pub const ALL: [Self; 9] = [
        Self::Case,
        Self::AsOf,
        Self::History,
        Self::Feed,
        Self::Webhook,
        Self::ReadModelJson,
        Self::ReadModelCsv,
        Self::AuditExport,
        Self::Error,
    ];
}

/// Whether a caller of `role` is shown personal data of `kind` in `outlet`.
///
/// The reasons, cell by cell, are in ARCHITECTURE.md ("Who sees which personal data"); in
/// short: the personnummer is never shown after the command that recorded it (nobody's task
/// needs it: people are told apart by subject id and HSA-id); dashboards see none; officers,
/// region IT and the region's case system (integration) see staff and contacts, which they
/// work with; providers see their own organisation's (tenancy confines them to their own
/// cases); auditors see who signed and who was responsible (names, HSA-ids), not how to reach
/// them. Webhooks carry none: a URL is no role, Anslut cannot tell who holds the receiving
/// end, and the receiver can read what its role allows through the API. CSV exports carry
/// none: a CSV is made to leave the system (spreadsheets, mail), where no role, tenancy or
/// erasure follows it; the same list as JSON shows what the role may see. Audit exports show
/// the stored, sealed form (what the hashes cover), and error bodies never carry personal
/// data.
pub const fn discloses(role: Role, kind: DataKind, outlet: Outlet) -> bool {
    match outlet {
        Outlet::Webhook | Outlet::AuditExport | Outlet::Error | Outlet::ReadModelCsv => false,
        Outlet::Case | Outlet::AsOf | Outlet::History | Outlet::Feed | Outlet::ReadModelJson => {
            role_sees(role, kind)
        }
    }
}

const fn role_sees(role: Role, kind: DataKind) -> bool {
    match kind {
        DataKind::Personnummer => false,
        DataKind::StaffName | DataKind::HsaId | DataKind::ContactName => {
            !matches!(role, Role::Dashboard)
        }
        DataKind::Email | DataKind::Phone => {
            matches!(
                role,
                Role::Officer | Role::RegionIt | Role::Provider | Role::Integration
            )
        }
    }
}

/// The shape of a personal value, recognised by its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Staff,
    Contact,
}

/// Recognises the holder by the names of its fields (present, or already withheld).
fn holder_of<'a>(mut fields: impl Iterator<Item = &'a str> + Clone) -> Option<Holder> {
    if fields.clone().any(|f| f == "email") {
        Some(Holder::Contact)
    } else if fields.any(|f| f == "personnummer" || f == "hsa_id") {
        Some(Holder::Staff)
    } else {
        None
    }
}

/// The kind of field `field` of a personal value with these fields; `None` for a field (or
/// a shape) the policy does not know, which is withheld from everyone.
pub fn kind_of(value: &Map<String, Value>, field: &str) -> Option<DataKind> {
    kind_in(holder_of(value.keys().map(String::as_str)), field)
}

fn kind_in(holder: Option<Holder>, field: &str) -> Option<DataKind> {
    match (holder?, field) {
        (Holder::Staff, "name") => Some(DataKind::StaffName),
        (Holder::Staff, "personnummer") => Some(DataKind::Personnummer),
        (Holder::Staff, "hsa_id") => Some(DataKind::HsaId),
        (Holder::Contact, "name") => Some(DataKind::ContactName),
        (Holder::Contact, "email") => Some(DataKind::Email),
        (Holder::Contact, "phone") => Some(DataKind::Phone),
        _ => None,
    }
}

/// Applies the policy to every personal value inside `value`, for a caller of `role` in
/// `outlet`. Idempotent.
pub fn redact(value: &mut Value, role: Role, outlet: Outlet) {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::Object(pii)) = map.get_mut(PII_KEY)
            {
                redact_one(pii, role, outlet);
                return;
            }
            for inner in map.values_mut() {
                redact(inner, role, outlet);
            }
        }
        Value::Array(items) => {
            for inner in items {
                redact(inner, role, outlet);
            }
        }
        _ => {}
    }
}

/// The names of the fields of a personal value that `redact` withholds.
const WITHHELD: &str = "withheld";

fn redact_one(pii: &mut Map<String, Value>, role: Role, outlet: Outlet) {
    let mut withheld: Vec<String> = pii
        .get(WITHHELD)
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if pii.contains_key("sealed") {
        withheld.push("value".to_owned());
    }
    // Anything but a subject, an erased mark, a value and the withheld list goes: a sealed
    // value included (it is shown only by the audit export, which does not redact).
    pii.retain(|key, _| matches!(key.as_str(), "subject" | "erased" | "value" | WITHHELD));
    match pii.remove("value") {
        None => {}
        Some(Value::Object(fields)) => {
            // A value redacted before keeps the names of what it lost in `withheld`.
            let holder = holder_of(
                fields
                    .keys()
                    .map(String::as_str)
                    .chain(withheld.iter().map(String::as_str)),
            );
            let mut kept = Map::new();
            for (field, inner) in &fields {
                if kind_in(holder, field).is_some_and(|kind| discloses(role, kind, outlet)) {
                    kept.insert(field.clone(), inner.clone());
                } else {
                    withheld.push(field.clone());
                }
            }
            if !kept.is_empty() {
                pii.insert("value".to_owned(), Value::Object(kept));
            }
        }
        Some(_) => withheld.push("value".to_owned()),
    }
    withheld.sort();
    withheld.dedup();
    if withheld.is_empty() {
        pii.remove(WITHHELD);
    } else {
        pii.insert(
            WITHHELD.to_owned(),
            Value::Array(withheld.into_iter().map(Value::String).collect()),
        );
    }
}

/// The policy as a Markdown table, one row per kind, one column per role, each cell listing
/// the outlets that show the kind to the role ("—" for none): ARCHITECTURE.md holds the same
/// table, and a test keeps them equal.
pub fn policy_table() -> String {
    let mut table = String::from("| kind |");
    for role in Role::ALL {
        table.push(' ');
        table.push_str(role.as_str());
        table.push_str(" |");
    }
    table.push_str("\n| --- |");
    for _ in Role::ALL {
        table.push_str(" --- |");
    }
    for kind in DataKind::ALL {
        table.push_str("\n| ");
        table.push_str(kind.as_str());
        table.push_str(" |");
        for role in Role::ALL {
            let outlets: Vec<&str> = Outlet::ALL
                .into_iter()
                .filter(|outlet| discloses(role, kind, *outlet))
                .map(outlet_name)
                .collect();
            table.push(' ');
            if outlets.is_empty() {
                table.push('—');
            } else if outlets.len() == READ_OUTLETS {
                table.push_str("reads");
            } else {
                table.push_str(&outlets.join(", "));
            }
            table.push_str(" |");
        }
    }
    table.push('\n');
    table
}

/// How many outlets answer an authenticated read with the caller's role: the case and its
/// past states, history, feed, read models as JSON ("reads" in the table).
const READ_OUTLETS: usize = 5;

const fn outlet_name(outlet: Outlet) -> &'static str {
    match outlet {
        Outlet::Case => "case",
        Outlet::AsOf => "as_of",
        Outlet::History => "history",
        Outlet::Feed => "feed",
        Outlet::Webhook => "webhooks",
        Outlet::ReadModelJson => "read models (JSON)",
        Outlet::ReadModelCsv => "read models (CSV)",
        Outlet::AuditExport => "audit export",
        Outlet::Error => "errors",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn staff() -> Value {
        json!({"person": {"pii": {"subject": "s1", "value": {
            "name": "Bo Berg", "personnummer": "198001011017", "hsa_id": "SE2321000180-ABC1"}}}})
    }

    fn contact() -> Value {
        json!({"contacts": [{"role": "it_contact", "person": {"pii": {"subject": "s2", "value": {
            "name": "Karin", "email": "k@x.se", "phone": "+46 1 23 45"}}}}]})
    }

    #[test]
    fn the_architecture_shows_the_policy_in_code() {
        let doc = include_str!("../../ARCHITECTURE.md");
        let table = policy_table();
        assert!(
            doc.contains(&table),
            "ARCHITECTURE.md must hold the policy table as the code has it:\n{table}"
        );
    }

    #[test]
    fn the_personnummer_is_never_shown() {
        for role in Role::ALL {
            for outlet in Outlet::ALL {
                assert!(!discloses(role, DataKind::Personnummer, outlet));
                let mut shown = staff();
                redact(&mut shown, role, outlet);
                assert!(!shown.to_string().contains("198001011017"), "{shown}");
            }
        }
    }

    #[test]
    fn dashboards_webhooks_and_errors_show_no_personal_data() {
        for (role, outlet) in [
            (Role::Dashboard, Outlet::History),
            (Role::Dashboard, Outlet::ReadModelCsv),
            (Role::Officer, Outlet::Webhook),
            (Role::Integration, Outlet::Webhook),
            (Role::Officer, Outlet::Error),
        ] {
            let mut shown = json!([staff(), contact()]);
            redact(&mut shown, role, outlet);
            let text = shown.to_string();
            for secret in ["Bo Berg", "ABC1", "Karin", "k@x.se", "45"] {
                assert!(!text.contains(secret), "{role:?} {outlet:?}: {text}");
            }
            assert!(text.contains("s1") && text.contains("s2"), "subjects stay");
        }
    }

    #[test]
    fn auditors_see_who_but_not_how_to_reach_them() {
        let mut shown = json!([staff(), contact()]);
        redact(&mut shown, Role::Auditor, Outlet::History);
        assert_eq!(
            shown[0]["person"]["pii"],
            json!({"subject": "s1", "value": {"name": "Bo Berg", "hsa_id": "SE2321000180-ABC1"},
                   "withheld": ["personnummer"]})
        );
        assert_eq!(
            shown[1]["contacts"][0]["person"]["pii"],
            json!({"subject": "s2", "value": {"name": "Karin"}, "withheld": ["email", "phone"]})
        );
        let again = shown.clone();
        redact(&mut shown, Role::Auditor, Outlet::History);
        assert_eq!(shown, again, "idempotent");
    }

    #[test]
    fn unknown_shapes_fields_and_sealed_values_are_withheld() {
        let mut shown = json!([
            {"pii": {"subject": "a", "value": {"nickname": "Bo"}}},
            {"pii": {"subject": "b", "value": "Bo"}},
            {"pii": {"subject": "c", "value": {"name": "Bo", "hsa_id": "H", "shoe_size": 44}}},
            {"pii": {"subject": "d", "sealed": "k:abc"}},
            {"pii": {"subject": "e", "erased": true}},
        ]);
        redact(&mut shown, Role::Officer, Outlet::History);
        assert_eq!(
            shown[0]["pii"],
            json!({"subject": "a", "withheld": ["nickname"]})
        );
        assert_eq!(
            shown[1]["pii"],
            json!({"subject": "b", "withheld": ["value"]})
        );
        assert_eq!(
            shown[2]["pii"],
            json!({"subject": "c", "value": {"name": "Bo", "hsa_id": "H"}, "withheld": ["shoe_size"]})
        );
        assert_eq!(
            shown[3]["pii"],
            json!({"subject": "d", "withheld": ["value"]})
        );
        assert_eq!(shown[4]["pii"], json!({"subject": "e", "erased": true}));
    }
}
