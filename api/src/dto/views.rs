//! What the API shows of a connection case, and what a command answers.

use chrono::NaiveDate;
use domain::case::{ConnectionCase, Flag, VerificationContext};
use domain::catalogue::CatalogueRegistry;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::code_of;
use crate::problem::UnmetCondition;

/// The catalogue version a case is held to, with the digest of its text.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogueRefView {
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(example = 1)]
    pub version: u32,
    /// SHA-256 of the catalogue file, hex.
    #[schema(example = "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b")]
    pub digest: String,
}

/// An agreement recorded as signed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgreementView {
    #[schema(example = "JHV-014")]
    pub agreement: String,
    #[schema(example = "2026-03-05")]
    pub signed_on: NaiveDate,
}

/// A technical milestone recorded as completed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MilestoneView {
    /// `network_connected`, `workstations_registered`, `hsa_unit_created`,
    /// `contact_card_published` or `accounts_created`.
    #[schema(example = "network_connected")]
    pub milestone: String,
    #[schema(example = "2026-04-01")]
    pub completed_on: NaiveDate,
}

/// The current final verification round.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationView {
    #[schema(example = 1)]
    pub round: u32,
    #[schema(example = "2026-05-12")]
    pub scheduled_for: NaiveDate,
    /// `pending`, `approved` or `failed`.
    #[schema(example = "pending")]
    pub outcome: String,
}

/// A finding of a verification.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FindingView {
    #[schema(example = 1)]
    pub finding: u32,
    /// `recommendation` or `demand`.
    #[schema(value_type = crate::dto::read_models::FindingKindParam, example = "demand")]
    pub kind: String,
    /// The final verification round it came from; `None` for an on-site verification.
    #[schema(example = 1)]
    pub round: Option<u32>,
    #[schema(example = "JHV-030")]
    pub requirement: Option<String>,
    #[schema(example = false)]
    pub resolved: bool,
}

/// A request for a non-standard service and the region's decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceRequestView {
    #[schema(example = 1)]
    pub request: u32,
    /// `approved`, `rejected`, or `None` while undecided.
    #[schema(example = "approved")]
    pub decision: Option<String>,
}

/// A connection case as it stands now (strongly consistent: rebuilt from its stream). It
/// holds no personal data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    /// The provider's organisationsnummer.
    #[schema(example = "556677-8899")]
    pub org_number: String,
    #[schema(example = "Östersundshälsan Vårdcentral")]
    pub unit_name: String,
    /// `application`, `approved`, `establishment`, `final_verification`, `live`,
    /// `suspended`, `ended` or `rejected`.
    #[schema(value_type = crate::dto::read_models::PhaseParam, example = "final_verification")]
    pub phase: String,
    #[schema(example = "2026-02-16")]
    pub applied_on: NaiveDate,
    #[schema(example = "2026-09-01")]
    pub requested_go_live: NaiveDate,
    /// The catalogue version the case is held to, from contract signing on.
    pub catalogue: Option<CatalogueRefView>,
    #[schema(example = "2026-03-02")]
    pub contract_signed_on: Option<NaiveDate>,
    pub agreements: Vec<AgreementView>,
    /// `not_submitted`, `submitted`, `returned` or `accepted`.
    #[schema(example = "accepted")]
    pub declaration: String,
    pub milestones: Vec<MilestoneView>,
    #[schema(example = "2026-04-15")]
    pub training_completed_on: Option<NaiveDate>,
    pub verification: Option<VerificationView>,
    pub findings: Vec<FindingView>,
    pub final_contract_signed_on: Option<NaiveDate>,
    pub went_live_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub service_requests: Vec<ServiceRequestView>,
    /// What still blocks go-live, judged by the programme's own process (the version pinned
    /// at contract signing; before it, the one in force) and the catalogue the case is held
    /// to. Empty once the case is live, and for rejected or ended cases.
    pub blockers: Vec<UnmetCondition>,
    /// What the region should see that does not block: the lead time the requested start
    /// does not meet, new hires without the commitments the programme repeats.
    pub flags: Vec<FlagView>,
    /// The process the case follows: programme and version.
    pub process: Option<ProcessRefView>,
    /// The case stream's version, also its `ETag`.
    #[schema(example = 14)]
    pub version: u64,
}

impl CaseView {
    /// The view of a case that exists; `None` for one without an application.
    pub fn of(
        case: &ConnectionCase,
        version: u64,
        registry: &CatalogueRegistry,
        today: NaiveDate,
    ) -> Option<Self> {
        let facts = case.facts()?;
        let phase = case.phase();
        let blockers = case
            .open_blockers(registry, today)
            .iter()
            .map(UnmetCondition::from)
            .collect();
        let flags = case
            .flags(registry, today)
            .iter()
            .map(FlagView::from)
            .collect();
        let process = case.process(registry, today).map(|p| ProcessRefView {
            programme: p.programme.to_string(),
            version: p.version,
        });
        Some(Self {
            case_id: *facts.case_id.as_uuid(),
            region: facts.region.to_string(),
            programme: facts.programme.to_string(),
            org_number: facts.org_number.to_string(),
            unit_name: facts.unit_name.to_string(),
            phase: phase.as_str().to_owned(),
            applied_on: facts.applied_on,
            requested_go_live: facts.requested_go_live,
            catalogue: case.held_to().map(|held| CatalogueRefView {
                programme: held.programme.to_string(),
                version: held.version,
                digest: held.digest.clone(),
            }),
            contract_signed_on: case.contract_signed_on(),
            agreements: case
                .agreements()
                .iter()
                .map(|(agreement, signed_on)| AgreementView {
                    agreement: agreement.to_string(),
                    signed_on: *signed_on,
                })
                .collect(),
            declaration: code_of(&case.declaration_status()),
            milestones: case
                .milestones()
                .iter()
                .map(|(kind, completed_on)| MilestoneView {
                    milestone: code_of(kind),
                    completed_on: *completed_on,
                })
                .collect(),
            training_completed_on: case.training_completed_on(),
            verification: case.verification().map(|v| VerificationView {
                round: v.round,
                scheduled_for: v.scheduled_for,
                outcome: code_of(&v.outcome),
            }),
            findings: case
                .findings()
                .iter()
                .map(|(no, finding)| FindingView {
                    finding: no.get(),
                    kind: code_of(&finding.kind),
                    round: match finding.context {
                        VerificationContext::FinalVerification { round } => Some(round),
                        VerificationContext::OnSite => None,
                    },
                    requirement: finding.requirement.as_ref().map(ToString::to_string),
                    resolved: finding.resolved,
                })
                .collect(),
            final_contract_signed_on: case.final_contract_signed_on(),
            went_live_on: case.went_live_on(),
            ended_on: case.ended_on(),
            service_requests: case
                .service_requests()
                .iter()
                .map(|(no, decision)| ServiceRequestView {
                    request: no.get(),
                    decision: decision.as_ref().map(code_of),
                })
                .collect(),
            blockers,
            flags,
            process,
            version,
        })
    }
}

/// One event a command recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RecordedEventView {
    /// The event type, e.g. `ContractSigned`.
    #[serde(rename = "type")]
    #[schema(example = "ContractSigned")]
    pub event_type: String,
    /// The event's version in its stream.
    #[schema(example = 4)]
    pub version: u64,
}

/// What a command on a case recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CaseCommandResult {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    /// The command's id (also in `Command-Id`): `GET /v1/commands/{command_id}` answers
    /// this outcome again.
    #[schema(example = "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b")]
    pub command_id: Uuid,
    /// The case stream's new version, also the new `ETag`.
    #[schema(example = 4)]
    pub version: u64,
    /// The global position of the last event recorded, for read-your-writes on read models.
    #[schema(example = 1287)]
    pub position: u64,
    pub events: Vec<RecordedEventView>,
    /// What the recorded events flag without blocking, e.g. `lead_time_not_met` for an
    /// application whose requested start is earlier than the programme's lead time allows
    /// (the application is recorded all the same). The case's `flags` hold every flag.
    pub warnings: Vec<FlagView>,
}

/// What a command on an incident recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IncidentCommandResult {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d")]
    pub incident_id: Uuid,
    /// The command's id (also in `Command-Id`): `GET /v1/commands/{command_id}` answers
    /// this outcome again.
    #[schema(example = "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b")]
    pub command_id: Uuid,
    /// The incident stream's new version, also the new `ETag`.
    #[schema(example = 2)]
    pub version: u64,
    /// The global position of the last event recorded.
    #[schema(example = 1290)]
    pub position: u64,
    pub events: Vec<RecordedEventView>,
}

/// The original answer to a command, as `GET /v1/commands/{command_id}` gives it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CommandResult {
    Case(CaseCommandResult),
    Incident(IncidentCommandResult),
}

/// What became of a command: it was recorded, and this was its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CommandStatusView {
    #[schema(example = "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b")]
    pub command_id: Uuid,
    /// Always `recorded`: a command that was not recorded answers 404.
    pub outcome: CommandOutcome,
    /// The operation that recorded it, as method and route template.
    #[schema(example = "POST /v1/cases/{case_id}/sign-contract")]
    pub operation: Option<String>,
    /// When its events were committed.
    #[schema(example = "2026-03-02T09:14:07.512Z")]
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// The HTTP status of the original answer: 201 for a command that created its case or
    /// incident, 200 otherwise.
    #[schema(example = 200)]
    pub status: u16,
    /// The created resource, for a 201.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "/v1/cases/0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub location: Option<String>,
    /// The original answer's body.
    pub result: CommandResult,
}

/// The outcome `GET /v1/commands/{command_id}` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandOutcome {
    /// The command's events are in the log.
    Recorded,
}

/// The process a case follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProcessRefView {
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(example = 1)]
    pub version: u32,
}

/// Something about a case that does not block go-live but the region should see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FlagView {
    /// `lead_time_not_met`, `staff_commitment_missing`, `attestation_required`,
    /// `attestation_overdue`, `demand_open` (an on-site verification's demand during
    /// operation; `due` as the region set it) or `workstation_allowance_exceeded`.
    #[schema(example = "lead_time_not_met")]
    pub flag: String,
    /// For `lead_time_not_met`: the earliest start the lead time allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-05-16")]
    pub earliest: Option<NaiveDate>,
    /// For `lead_time_not_met`: the start the application asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-04-01")]
    pub requested: Option<NaiveDate>,
    /// For `lead_time_not_met`: `minimum` ("minst") or `approximate` ("ca").
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "minimum")]
    pub kind: Option<String>,
    /// For `staff_commitment_missing`: the new user's data subject id (a pseudonym).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Uuid>,
    /// For `staff_commitment_missing`: the commitment not signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    /// For `attestation_required` and `attestation_overdue`: the catalogue version.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 2)]
    pub version: Option<u32>,
    /// For `attestation_required`, `attestation_overdue` and `demand_open`: the date the
    /// region set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-09-30")]
    pub due: Option<NaiveDate>,
    /// For `workstation_allowance_exceeded`: the workstations region IT registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<u32>,
    /// For `workstation_allowance_exceeded`: the groups billed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<u32>,
    /// For `workstation_allowance_exceeded`: the workstations those groups allow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowance: Option<u32>,
    /// For `demand_open`: the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<u32>,
    /// For `demand_open`: its date has passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue: Option<bool>,
    /// The flag in words.
    pub message: String,
}

impl From<&Flag> for FlagView {
    fn from(flag: &Flag) -> Self {
        let mut view = Self {
            flag: flag.code().to_owned(),
            earliest: None,
            requested: None,
            kind: None,
            subject: None,
            commitment: None,
            version: None,
            due: None,
            registered: None,
            groups: None,
            allowance: None,
            finding: None,
            overdue: None,
            message: flag.to_string(),
        };
        match flag {
            Flag::LeadTimeNotMet {
                kind,
                earliest,
                requested,
                ..
            } => {
                view.earliest = Some(*earliest);
                view.requested = Some(*requested);
                view.kind = Some(code_of(kind));
            }
            Flag::StaffCommitmentMissing {
                subject,
                commitment,
            } => {
                view.subject = Some(*subject.as_uuid());
                view.commitment = Some(commitment.as_str().to_owned());
            }
            Flag::AttestationRequired { version, due }
            | Flag::AttestationOverdue { version, due } => {
                view.version = Some(*version);
                view.due = Some(*due);
            }
            Flag::DemandOpen {
                finding,
                due,
                overdue,
            } => {
                view.finding = Some(finding.get());
                view.due = *due;
                view.overdue = Some(*overdue);
            }
            Flag::WorkstationAllowanceExceeded {
                registered,
                groups,
                allowance,
            } => {
                view.registered = Some(*registered);
                view.groups = Some(*groups);
                view.allowance = Some(*allowance);
            }
        }
        view
    }
}
