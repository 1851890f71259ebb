//! `incidents`: every security incident, open and closed, with its severity as reported and
//! as assessed, and the time from report to assessment.

use chrono::{DateTime, Utc};
use domain::case::Phase;
use domain::identity::OrgNumber;
use domain::ids::{CaseId, IncidentId, RegionId};
use domain::incident::{IncidentChange, IncidentStatus, Severity};
use domain::text::ShortText;
use serde::{Deserialize, Serialize};

use super::{Page, PageRequest, ReadModels, Tabular, Tenancy, doc, median, opt};
use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Column, Context, ReadModel, Row};
use crate::name::ProjectionName;
use crate::sql::Filter;

/// An incident as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRow {
    pub incident_id: IncidentId,
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    /// The case's phase when reported (`ended`: a late report).
    pub case_phase: Phase,
    pub summary: ShortText,
    pub status: IncidentStatus,
    pub reported_severity: Severity,
    pub assessed_severity: Option<Severity>,
    pub region_it_may_be_affected: bool,
    pub region_it_affected: Option<bool>,
    pub detected_at: DateTime<Utc>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub reported_at: DateTime<Utc>,
    pub assessed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Seconds from report to assessment.
    pub seconds_to_assessment: Option<i64>,
    pub actions: u32,
    /// Reported as a personal-data breach (GDPR art. 33: 72 hours to notify).
    #[serde(default)]
    pub personal_data_breach: bool,
    /// When the region acknowledged the report.
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When the breach was notified to the supervisory authority.
    #[serde(default)]
    pub breach_notified_at: Option<DateTime<Utc>>,
}

impl IncidentRow {
    /// The assessed severity once there is one, else the reported one.
    pub fn severity(&self) -> Severity {
        self.assessed_severity.unwrap_or(self.reported_severity)
    }

    pub fn is_open(&self) -> bool {
        self.status != IncidentStatus::Closed
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct IncidentState {
    incident: Option<IncidentRow>,
}

pub(crate) struct IncidentsModel;

const fn status_str(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::New => "new",
        IncidentStatus::Reported => "reported",
        IncidentStatus::Assessed => "assessed",
        IncidentStatus::Closed => "closed",
    }
}

impl ReadModel for IncidentsModel {
    const NAME: ProjectionName = ProjectionName::Incidents;
    /// 2: breaches, acknowledgements and notifications.
    const SCHEMA_VERSION: u32 = 2;
    const COLUMNS: &'static [Column] = &[
        Column::text("region", false),
        Column::text("provider_org", true),
        Column::text("case_id", true),
        Column::text("severity", false),
        Column::int("open", false),
        Column::int("seconds_to_assessment", false),
    ];
    const STREAMS: &'static [&'static str] = super::INCIDENTS;
    type State = IncidentState;

    fn partition(event: &Envelope) -> Option<String> {
        matches!(event.event, DomainEvent::Incident(_)).then(|| event.stream_id.clone())
    }

    fn apply(state: &mut IncidentState, event: &Envelope, _: Context<'_>) -> Result<(), String> {
        let DomainEvent::Incident(incident_event) = &event.event else {
            return Ok(());
        };
        let at = incident_event.at;
        if let IncidentChange::IncidentReported(e) = &incident_event.change {
            state.incident = Some(IncidentRow {
                incident_id: e.incident_id,
                case_id: e.case_id,
                region: e.region.clone(),
                provider_org: e.provider_org.clone(),
                case_phase: e.case_phase,
                summary: e.summary.clone(),
                status: IncidentStatus::Reported,
                reported_severity: e.severity,
                assessed_severity: None,
                region_it_may_be_affected: e.region_it_may_be_affected,
                region_it_affected: None,
                detected_at: e.detected_at,
                occurred_at: e.occurred_at,
                reported_at: at,
                assessed_at: None,
                closed_at: None,
                seconds_to_assessment: None,
                actions: 0,
                personal_data_breach: e.personal_data_breach,
                acknowledged_at: None,
                breach_notified_at: None,
            });
            return Ok(());
        }
        let incident = state
            .incident
            .as_mut()
            .ok_or_else(|| "an event of an incident that was never reported".to_owned())?;
        match &incident_event.change {
            IncidentChange::IncidentReported(_) => {}
            IncidentChange::IncidentAssessed(e) => {
                incident.status = IncidentStatus::Assessed;
                incident.assessed_severity = Some(e.severity);
                incident.region_it_affected = Some(e.region_it_affected);
                incident.assessed_at = Some(at);
                incident.seconds_to_assessment = Some((at - incident.reported_at).num_seconds());
            }
            IncidentChange::IncidentActionRecorded(_) => incident.actions += 1,
            IncidentChange::IncidentAcknowledged(_) => incident.acknowledged_at = Some(at),
            IncidentChange::BreachNotificationRecorded(e) => {
                incident.breach_notified_at = Some(e.notified_at);
            }
            IncidentChange::IncidentClosed(_) => {
                incident.status = IncidentStatus::Closed;
                incident.closed_at = Some(at);
            }
        }
        Ok(())
    }

    fn rows(state: &IncidentState, _: Context<'_>) -> Result<Vec<Row>, String> {
        state
            .incident
            .iter()
            .map(|i| {
                Row::new(
                    i.incident_id.to_string(),
                    vec![
                        Cell::text(&i.region),
                        Cell::text(&i.provider_org),
                        Cell::text(i.case_id),
                        Cell::text(i.severity().as_str()),
                        Cell::flag(i.is_open()),
                        i.seconds_to_assessment.map_or(Cell::Null, Cell::Int),
                    ],
                    i,
                )
            })
            .collect()
    }
}

impl Tabular for IncidentRow {
    const HEADERS: &'static [&'static str] = &[
        "incident_id",
        "case_id",
        "provider_org",
        "case_phase",
        "summary",
        "status",
        "reported_severity",
        "assessed_severity",
        "region_it_affected",
        "detected_at",
        "reported_at",
        "assessed_at",
        "closed_at",
        "seconds_to_assessment",
        "actions",
        "personal_data_breach",
        "acknowledged_at",
        "breach_notified_at",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.incident_id.to_string(),
            self.case_id.to_string(),
            self.provider_org.to_string(),
            self.case_phase.to_string(),
            self.summary.to_string(),
            status_str(self.status).to_owned(),
            self.reported_severity.as_str().to_owned(),
            opt(self.assessed_severity.map(Severity::as_str)),
            opt(self.region_it_affected),
            self.detected_at.to_rfc3339(),
            self.reported_at.to_rfc3339(),
            opt(self.assessed_at.map(|t| t.to_rfc3339())),
            opt(self.closed_at.map(|t| t.to_rfc3339())),
            opt(self.seconds_to_assessment),
            self.actions.to_string(),
            self.personal_data_breach.to_string(),
            opt(self.acknowledged_at.map(|t| t.to_rfc3339())),
            opt(self.breach_notified_at.map(|t| t.to_rfc3339())),
        ]
    }
}

/// Narrows a list of incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub case_id: Option<CaseId>,
    /// The assessed severity, or the reported one before assessment.
    pub severity: Option<Severity>,
    /// `Some(true)`: not closed; `Some(false)`: closed.
    pub open: Option<bool>,
}

/// Incidents of one severity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentSummary {
    pub severity: Severity,
    pub open: u64,
    pub closed: u64,
    /// Assessed incidents, which the median is over.
    pub assessed: u64,
    /// The median time from report to assessment, in hours (two decimals).
    pub median_hours_to_assessment: Option<f64>,
}

impl Tabular for IncidentSummary {
    const HEADERS: &'static [&'static str] = &[
        "severity",
        "open",
        "closed",
        "assessed",
        "median_hours_to_assessment",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.severity.as_str().to_owned(),
            self.open.to_string(),
            self.closed.to_string(),
            self.assessed.to_string(),
            opt(self.median_hours_to_assessment.map(|h| format!("{h:.2}"))),
        ]
    }
}

impl ReadModels {
    /// Incidents in id order.
    pub async fn incidents(
        &self,
        tenancy: &Tenancy,
        filter: &IncidentFilter,
        page: &PageRequest,
    ) -> Result<Page<IncidentRow>, ProjectionError> {
        let mut filters = Vec::new();
        if let Some(case) = filter.case_id {
            filters.push(Filter::eq("case_id", Cell::text(case)));
        }
        if let Some(severity) = filter.severity {
            filters.push(Filter::eq("severity", Cell::text(severity.as_str())));
        }
        if let Some(open) = filter.open {
            filters.push(Filter::eq("open", Cell::flag(open)));
        }
        self.page(
            ProjectionName::Incidents,
            tenancy,
            filters,
            page,
            false,
            |record| doc(ProjectionName::Incidents, &record),
        )
        .await
    }

    /// Counts by severity (every severity, lowest first) and the median time to assessment.
    pub async fn incident_summary(
        &self,
        tenancy: &Tenancy,
    ) -> Result<Vec<IncidentSummary>, ProjectionError> {
        let records = self
            .all(ProjectionName::Incidents, tenancy, Vec::new())
            .await?;
        let mut summary: Vec<(IncidentSummary, Vec<i64>)> = Severity::ALL
            .into_iter()
            .map(|severity| {
                (
                    IncidentSummary {
                        severity,
                        open: 0,
                        closed: 0,
                        assessed: 0,
                        median_hours_to_assessment: None,
                    },
                    Vec::new(),
                )
            })
            .collect();
        for record in &records {
            let severity = record.cells[3].as_text().unwrap_or_default();
            let Some((entry, seconds)) = summary
                .iter_mut()
                .find(|(s, _)| s.severity.as_str() == severity)
            else {
                return Err(ProjectionError::Corrupt(format!(
                    "incident {} has severity {severity:?}",
                    record.key
                )));
            };
            if record.cells[4].as_int() == Some(1) {
                entry.open += 1;
            } else {
                entry.closed += 1;
            }
            if let Some(s) = record.cells[5].as_int() {
                seconds.push(s);
            }
        }
        Ok(summary
            .into_iter()
            .map(|(mut entry, mut seconds)| {
                seconds.sort_unstable();
                entry.assessed = seconds.len() as u64;
                entry.median_hours_to_assessment =
                    median(&seconds).map(|s| (s / 3600.0 * 100.0).round() / 100.0);
                entry
            })
            .collect())
    }
}
