//! `staff_commitments`: per case (one provider unit) and user, the commitments signed and
//! what is missing: every user must sign both the IT responsibility commitment
//! (ansvarsförbindelse) and the confidentiality reminder (sekretesserinran).
//!
//! A user is keyed by their data subject id, never by HSA-id (personal data). The person is
//! kept as the domain's [`Personal`] object (`{"pii": {...}}`) so that erasure can find and
//! blank it (see [`crate::erase_personal`]), but with only what the read model answers with,
//! the name and the HSA-id: read models store no personnummer at all. No personal data goes
//! into a typed column, a row key or a cursor; the API decides per role what a response shows
//! (`domain::disclosure`).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain::Personal;
use domain::case::{CaseChange, CommitmentKind, StaffMember};
use domain::identity::{HsaId, OrgNumber};
use domain::ids::{CaseId, DataSubjectId, RegionId};
use domain::text::ShortText;
use serde::{Deserialize, Serialize};

use super::{Owner, Page, PageRequest, ReadModels, Tabular, Tenancy, case_partition, doc, owner};
use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Column, Context, ReadModel, Row};
use crate::name::ProjectionName;
use crate::sql::Filter;

/// What the read model keeps of a staff member: personal data, without the personnummer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffListing {
    pub name: ShortText,
    pub hsa_id: HsaId,
}

impl StaffListing {
    /// The listing of a recorded person (erased stays erased).
    pub fn of(person: &Personal<StaffMember>) -> Personal<Self> {
        person.value().map_or_else(
            || Personal::erased(person.subject()),
            |member| {
                Personal::new(
                    person.subject(),
                    Self {
                        name: member.name.clone(),
                        hsa_id: member.hsa_id.clone(),
                    },
                )
            },
        )
    }
}

/// One user's commitments in one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffCommitmentRow {
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    /// The person as last recorded: name and HSA-id, possibly erased.
    pub person: Personal<StaffListing>,
    pub signed: BTreeMap<CommitmentKind, NaiveDate>,
    pub missing: Vec<CommitmentKind>,
    /// The day the user's access starts, where the user was listed (`list-staff-member`).
    #[serde(default)]
    pub access_from: Option<NaiveDate>,
    /// Listed after go-live: a new hire.
    #[serde(default)]
    pub new_hire: bool,
}

impl StaffCommitmentRow {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StaffState {
    owner: Option<Owner>,
    staff: BTreeMap<DataSubjectId, StaffCommitmentRow>,
}

pub(crate) struct StaffModel;

/// The row of a user of the case (listed, or signing a commitment), made when the user first
/// appears, with the person as the latest event names them.
fn user<'s>(
    state: &'s mut StaffState,
    person: &Personal<StaffMember>,
) -> Result<&'s mut StaffCommitmentRow, String> {
    let owner = owner(state.owner.as_ref())?;
    let listing = StaffListing::of(person);
    let row = state
        .staff
        .entry(person.subject())
        .or_insert_with(|| StaffCommitmentRow {
            case_id: owner.case_id,
            region: owner.region.clone(),
            provider_org: owner.provider_org.clone(),
            person: listing.clone(),
            signed: BTreeMap::new(),
            missing: CommitmentKind::ALL.to_vec(),
            access_from: None,
            new_hire: false,
        });
    row.person = listing;
    Ok(row)
}

const fn kind_str(kind: CommitmentKind) -> &'static str {
    match kind {
        CommitmentKind::ResponsibilityCommitment => "responsibility_commitment",
        CommitmentKind::ConfidentialityReminder => "confidentiality_reminder",
    }
}

impl ReadModel for StaffModel {
    const NAME: ProjectionName = ProjectionName::StaffCommitments;
    /// 2: keyed by data subject, no personnummer, the HSA-id inside the person.
    /// 3: listed users, with the day their access starts, before they sign anything.
    const SCHEMA_VERSION: u32 = 3;
    const COLUMNS: &'static [Column] = &[
        Column::text("region", false),
        Column::text("provider_org", true),
        Column::text("case_id", false),
        Column::int("complete", false),
    ];
    const STREAMS: &'static [&'static str] = super::CASES;
    type State = StaffState;

    fn partition(event: &Envelope) -> Option<String> {
        case_partition(event)
    }

    fn apply(state: &mut StaffState, event: &Envelope, _: Context<'_>) -> Result<(), String> {
        let DomainEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        match &case_event.change {
            CaseChange::ApplicationSubmitted(e) => {
                state.owner = Some(Owner {
                    case_id: e.case_id,
                    region: e.region.clone(),
                    provider_org: e.org_number.clone(),
                    programme: e.programme.clone(),
                });
            }
            CaseChange::StaffCommitmentRecorded(e) => {
                let row = user(state, &e.person)?;
                row.signed.insert(e.kind, e.signed_on);
                row.missing = CommitmentKind::ALL
                    .into_iter()
                    .filter(|k| !row.signed.contains_key(k))
                    .collect();
            }
            CaseChange::StaffMemberListed(e) => {
                let row = user(state, &e.person)?;
                row.access_from = Some(e.access_from);
                row.new_hire = e.new_hire;
            }
            _ => {}
        }
        Ok(())
    }

    fn rows(state: &StaffState, _: Context<'_>) -> Result<Vec<Row>, String> {
        state
            .staff
            .values()
            .map(|s| {
                Row::new(
                    format!("{}/{}", s.case_id, s.person.subject()),
                    vec![
                        Cell::text(&s.region),
                        Cell::text(&s.provider_org),
                        Cell::text(s.case_id),
                        Cell::flag(s.is_complete()),
                    ],
                    s,
                )
            })
            .collect()
    }
}

/// The CSV of the rows as stored carries no personal data (the API answers CSV from its
/// per-role views instead).
impl Tabular for StaffCommitmentRow {
    const HEADERS: &'static [&'static str] = &[
        "case_id",
        "person_subject",
        "responsibility_commitment_signed_on",
        "confidentiality_reminder_signed_on",
        "missing",
    ];

    fn cells(&self) -> Vec<String> {
        let signed = |kind| {
            self.signed
                .get(&kind)
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        vec![
            self.case_id.to_string(),
            self.person.subject().to_string(),
            signed(CommitmentKind::ResponsibilityCommitment),
            signed(CommitmentKind::ConfidentialityReminder),
            missing_codes(&self.missing),
        ]
    }
}

/// The missing commitments as a CSV cell: their codes, space-separated.
pub fn missing_codes(missing: &[CommitmentKind]) -> String {
    missing
        .iter()
        .map(|k| kind_str(*k))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Narrows a list of commitments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffFilter {
    pub case_id: Option<CaseId>,
    /// `Some(false)`: only users with something missing.
    pub complete: Option<bool>,
}

impl ReadModels {
    /// Users by case and data subject.
    pub async fn staff_commitments(
        &self,
        tenancy: &Tenancy,
        filter: &StaffFilter,
        page: &PageRequest,
    ) -> Result<Page<StaffCommitmentRow>, ProjectionError> {
        let mut filters = Vec::new();
        if let Some(case) = filter.case_id {
            filters.push(Filter::KeyPrefix(format!("{case}/")));
        }
        if let Some(complete) = filter.complete {
            filters.push(Filter::eq("complete", Cell::flag(complete)));
        }
        self.page(
            ProjectionName::StaffCommitments,
            tenancy,
            filters,
            page,
            false,
            |record| doc(ProjectionName::StaffCommitments, &record),
        )
        .await
    }
}
