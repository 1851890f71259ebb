//! Request bodies of security incidents, and the incident view.

use chrono::{DateTime, Utc};
use domain::ids::IncidentId;
use domain::incident::{
    AcknowledgeIncident, AssessIncident, CloseIncident, IncidentCommand, IncidentContext,
    RecordBreachNotification, RecordIncidentAction, ReportIncident, SecurityIncident, Severity,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Fields, code_of, long, long_opt, short};
use crate::all_fields;
use crate::problem::ApiError;

/// How serious an incident is.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeverityDto {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityDto> for Severity {
    fn from(value: SeverityDto) -> Self {
        match value {
            SeverityDto::Low => Self::Low,
            SeverityDto::Medium => Self::Medium,
            SeverityDto::High => Self::High,
            SeverityDto::Critical => Self::Critical,
        }
    }
}

/// Report a security incident that may affect the region's IT security.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIncidentRequest {
    #[schema(
        example = "Phishing e-mail opened on a reception workstation",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub summary: String,
    #[schema(
        example = "A receptionist opened an attachment; the workstation was disconnected within 10 minutes."
    )]
    #[schema(
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub description: String,
    /// When the provider discovered it; not in the future.
    #[schema(example = "2026-05-04T08:30:00Z")]
    pub detected_at: DateTime<Utc>,
    /// When it happened, if known; not after it was detected.
    #[schema(example = "2026-05-04T08:10:00Z")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Whether the region's IT may be affected, in the reporter's judgement.
    #[schema(example = true)]
    pub region_it_may_be_affected: bool,
    pub severity: SeverityDto,
    /// The incident is (or may be) a personal-data breach: its 72-hour notification clock
    /// (GDPR art. 33) starts at `detected_at`. Default false.
    #[serde(default)]
    #[schema(example = false)]
    pub personal_data_breach: bool,
}

impl ReportIncidentRequest {
    pub fn into_command(
        self,
        incident_id: IncidentId,
        context: IncidentContext,
    ) -> Result<IncidentCommand, ApiError> {
        let mut f = Fields::default();
        let summary = short(&mut f, "summary", &self.summary);
        let description = long(&mut f, "description", &self.description);
        all_fields!(f; summary, description);
        Ok(IncidentCommand::Report(ReportIncident {
            incident_id,
            context,
            summary,
            description,
            detected_at: self.detected_at,
            occurred_at: self.occurred_at,
            region_it_may_be_affected: self.region_it_may_be_affected,
            severity: self.severity.into(),
            personal_data_breach: self.personal_data_breach,
        }))
    }
}

/// A request body that becomes one command on an existing incident.
pub trait IncidentCommandRequest: DeserializeOwned + 'static {
    fn into_command(self) -> Result<IncidentCommand, ApiError>;
}

/// Region IT's assessment of an incident.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessIncidentRequest {
    pub severity: SeverityDto,
    /// Whether the region's IT is affected.
    #[schema(example = false)]
    pub region_it_affected: bool,
    #[schema(
        example = "No traffic from the workstation reached the region's network.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub assessment: String,
}

impl IncidentCommandRequest for AssessIncidentRequest {
    fn into_command(self) -> Result<IncidentCommand, ApiError> {
        let mut f = Fields::default();
        let assessment = long(&mut f, "assessment", &self.assessment);
        all_fields!(f; assessment);
        Ok(IncidentCommand::Assess(AssessIncident {
            severity: self.severity.into(),
            region_it_affected: self.region_it_affected,
            assessment,
        }))
    }
}

/// An action taken on an incident.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordIncidentActionRequest {
    #[schema(
        example = "The workstation was reinstalled and the user's password changed.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub action: String,
    /// When it was taken; not in the future.
    #[schema(example = "2026-05-04T11:00:00Z")]
    pub taken_at: DateTime<Utc>,
}

impl IncidentCommandRequest for RecordIncidentActionRequest {
    fn into_command(self) -> Result<IncidentCommand, ApiError> {
        let mut f = Fields::default();
        let action = long(&mut f, "action", &self.action);
        all_fields!(f; action);
        Ok(IncidentCommand::RecordAction(RecordIncidentAction {
            action,
            taken_at: self.taken_at,
        }))
    }
}

/// The region acknowledges that the report reached it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeIncidentRequest {
    #[schema(
        example = "Received by the helpdesk; region IT assesses it today.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub note: Option<String>,
}

impl IncidentCommandRequest for AcknowledgeIncidentRequest {
    fn into_command(self) -> Result<IncidentCommand, ApiError> {
        let mut f = Fields::default();
        let note = long_opt(&mut f, "note", self.note.as_ref());
        all_fields!(f; note);
        Ok(IncidentCommand::Acknowledge(AcknowledgeIncident { note }))
    }
}

/// Record that a personal-data breach was notified to the supervisory authority.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBreachNotificationRequest {
    /// When it was notified; not in the future, not before it was detected.
    #[schema(example = "2026-05-05T10:00:00Z")]
    pub notified_at: DateTime<Utc>,
    /// The authority's reference, or the notification's.
    #[schema(
        example = "IMY-2026-4411",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 200
    )]
    pub reference: String,
}

impl IncidentCommandRequest for RecordBreachNotificationRequest {
    fn into_command(self) -> Result<IncidentCommand, ApiError> {
        let mut f = Fields::default();
        let reference = short(&mut f, "reference", &self.reference);
        all_fields!(f; reference);
        Ok(IncidentCommand::RecordBreachNotification(
            RecordBreachNotification {
                notified_at: self.notified_at,
                reference,
            },
        ))
    }
}

/// Close an assessed incident.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseIncidentRequest {
    #[schema(
        example = "Actions completed; no further risk to the region's IT.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        min_length = 1,
        max_length = 4000
    )]
    pub reason: String,
}

impl IncidentCommandRequest for CloseIncidentRequest {
    fn into_command(self) -> Result<IncidentCommand, ApiError> {
        let mut f = Fields::default();
        let reason = long(&mut f, "reason", &self.reason);
        all_fields!(f; reason);
        Ok(IncidentCommand::Close(CloseIncident { reason }))
    }
}

/// A security incident as it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d")]
    pub incident_id: Uuid,
    /// The case it was reported against.
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    #[schema(example = "556677-8899")]
    pub provider_org: String,
    /// `reported`, `assessed` or `closed`.
    #[schema(value_type = IncidentStatusDto, example = "assessed")]
    pub status: String,
    /// `low`, `medium`, `high` or `critical`: as reported, then as assessed.
    #[schema(value_type = crate::dto::read_models::SeverityParam, example = "medium")]
    pub severity: String,
    #[schema(example = false)]
    pub region_it_affected: bool,
    #[schema(example = "2026-05-04T08:35:12Z")]
    pub reported_at: DateTime<Utc>,
    #[schema(example = "2026-05-04T13:02:40Z")]
    pub assessed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Reported as a personal-data breach.
    #[schema(example = false)]
    pub personal_data_breach: bool,
    /// When the region acknowledged the report.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// For a personal-data breach: the 72-hour notification clock (GDPR art. 33(1)).
    pub breach_clock: Option<BreachClockView>,
    /// The incident stream's version, also its `ETag`.
    #[schema(example = 2)]
    pub version: u64,
}

impl IncidentView {
    /// The view of a reported incident; `None` before it is reported.
    pub fn of(incident: &SecurityIncident, version: u64, now: DateTime<Utc>) -> Option<Self> {
        let facts = incident.facts()?;
        Some(Self {
            incident_id: *facts.incident_id.as_uuid(),
            case_id: *facts.case_id.as_uuid(),
            region: facts.region.to_string(),
            provider_org: facts.provider_org.to_string(),
            status: code_of(&incident.status()),
            severity: facts.severity.as_str().to_owned(),
            region_it_affected: facts.region_it_affected,
            reported_at: facts.reported_at,
            assessed_at: facts.assessed_at,
            closed_at: facts.closed_at,
            personal_data_breach: facts.personal_data_breach,
            acknowledged_at: facts.acknowledged_at,
            breach_clock: incident.breach_clock(now).map(|clock| BreachClockView {
                aware_at: clock.aware_at,
                due_at: clock.due_at,
                notified_at: clock.notified_at,
                overdue: clock.overdue,
            }),
            version,
        })
    }
}

/// A personal-data breach's notification clock.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreachClockView {
    /// When the reporter became aware of it (`detected_at`): the clock starts here.
    #[schema(example = "2026-05-04T08:30:00Z")]
    pub aware_at: DateTime<Utc>,
    /// 72 hours later: the supervisory authority must be notified by then.
    #[schema(example = "2026-05-07T08:30:00Z")]
    pub due_at: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    /// Not notified and the time has passed, or notified after it.
    #[schema(example = false)]
    pub overdue: bool,
}

/// Where an incident stands, as views show it: a closed set the schema lists. Views carry it
/// as the domain's code (`code_of`); deserialising is what a client reading it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatusDto {
    Reported,
    Assessed,
    Closed,
}
