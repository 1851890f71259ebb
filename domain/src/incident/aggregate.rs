use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::case::{Issued, Permission, Phase};
use crate::clock::Clock;
use crate::identity::OrgNumber;
use crate::ids::{CaseId, IncidentId, RegionId};
use crate::text::{LongText, Reason, ShortText};

/// How serious an incident is, as reported and as assessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Self; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// The facts of the case an incident is reported against, taken when the case accepts a
/// report. Only [`crate::case::ConnectionCase::incident_context`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentContext {
    pub(crate) case_id: CaseId,
    pub(crate) region: RegionId,
    pub(crate) provider_org: OrgNumber,
    pub(crate) phase: Phase,
    pub(crate) ended_on: Option<NaiveDate>,
}

impl IncidentContext {
    pub const fn case_id(&self) -> CaseId {
        self.case_id
    }

    pub const fn region(&self) -> &RegionId {
        &self.region
    }

    pub const fn provider_org(&self) -> &OrgNumber {
        &self.provider_org
    }
}

/// Report a security incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportIncident {
    pub incident_id: IncidentId,
    pub context: IncidentContext,
    pub summary: ShortText,
    pub description: LongText,
    /// When the provider discovered it.
    pub detected_at: DateTime<Utc>,
    /// When it happened, if known.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Whether the region's IT may be affected, in the reporter's judgement.
    pub region_it_may_be_affected: bool,
    pub severity: Severity,
    /// The incident is (or may be) a personal-data breach: the controller has 72 hours from
    /// becoming aware of it to notify the supervisory authority (GDPR art. 33(1)).
    pub personal_data_breach: bool,
}

/// The hours the GDPR gives a controller to notify a personal-data breach to the
/// supervisory authority: "without undue delay and, where feasible, not later than 72 hours
/// after having become aware of it" (art. 33(1)).
pub const BREACH_NOTIFICATION_HOURS: i64 = 72;

/// The region acknowledges that a reported incident reached it (Jämtland §3.4: reported to
/// the region's helpdesk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcknowledgeIncident {
    pub note: Option<LongText>,
}

/// Record that a personal-data breach was notified to the supervisory authority (IMY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBreachNotification {
    pub notified_at: DateTime<Utc>,
    /// The authority's reference, or the notification's.
    pub reference: ShortText,
}

/// Region IT's assessment: the severity it settles on and whether the region is affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessIncident {
    pub severity: Severity,
    pub region_it_affected: bool,
    pub assessment: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordIncidentAction {
    pub action: LongText,
    pub taken_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseIncident {
    pub reason: Reason,
}

/// Every command a security incident accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentCommand {
    Report(ReportIncident),
    Assess(AssessIncident),
    RecordAction(RecordIncidentAction),
    Close(CloseIncident),
    Acknowledge(AcknowledgeIncident),
    RecordBreachNotification(RecordBreachNotification),
}

impl IncidentCommand {
    /// The command's name in kebab case.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Report(_) => "report-incident",
            Self::Assess(_) => "assess-incident",
            Self::RecordAction(_) => "record-incident-action",
            Self::Close(_) => "close-incident",
            Self::Acknowledge(_) => "acknowledge-incident",
            Self::RecordBreachNotification(_) => "record-breach-notification",
        }
    }

    pub const fn permission(&self) -> Permission {
        match self {
            Self::Report(_) | Self::RecordAction(_) | Self::RecordBreachNotification(_) => {
                Permission::ReportIncident
            }
            Self::Assess(_) | Self::Close(_) | Self::Acknowledge(_) => Permission::AssessIncident,
        }
    }
}

/// One event of a security incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentEvent {
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub change: IncidentChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum IncidentChange {
    IncidentReported(IncidentReported),
    IncidentAssessed(IncidentAssessed),
    IncidentActionRecorded(IncidentActionRecorded),
    IncidentClosed(IncidentClosed),
    IncidentAcknowledged(IncidentAcknowledged),
    BreachNotificationRecorded(BreachNotificationRecorded),
}

/// Every incident event type with its current version.
pub const INCIDENT_EVENT_TYPES: [(&str, &str); 6] = [
    ("IncidentReported", "1"),
    ("IncidentAssessed", "1"),
    ("IncidentActionRecorded", "1"),
    ("IncidentClosed", "1"),
    ("IncidentAcknowledged", "1"),
    ("BreachNotificationRecorded", "1"),
];

impl IncidentChange {
    const fn index(&self) -> usize {
        match self {
            Self::IncidentReported(_) => 0,
            Self::IncidentAssessed(_) => 1,
            Self::IncidentActionRecorded(_) => 2,
            Self::IncidentClosed(_) => 3,
            Self::IncidentAcknowledged(_) => 4,
            Self::BreachNotificationRecorded(_) => 5,
        }
    }

    pub const fn name(&self) -> &'static str {
        INCIDENT_EVENT_TYPES[self.index()].0
    }

    pub const fn version(&self) -> &'static str {
        INCIDENT_EVENT_TYPES[self.index()].1
    }

    /// The reason recorded with a decision (an assessment, a closing); `None` for reports
    /// and actions.
    pub const fn reason(&self) -> Option<&Reason> {
        match self {
            Self::IncidentAssessed(e) => Some(&e.assessment),
            Self::IncidentClosed(e) => Some(&e.reason),
            Self::IncidentReported(_)
            | Self::IncidentActionRecorded(_)
            | Self::IncidentAcknowledged(_)
            | Self::BreachNotificationRecorded(_) => None,
        }
    }
}

impl DomainEvent for IncidentEvent {
    fn event_type(&self) -> String {
        self.change.name().to_owned()
    }

    fn event_version(&self) -> String {
        self.change.version().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentReported {
    pub incident_id: IncidentId,
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    /// The case's phase when reported; `ended` marks a late report about a past connection.
    pub case_phase: Phase,
    pub summary: ShortText,
    pub description: LongText,
    pub detected_at: DateTime<Utc>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub region_it_may_be_affected: bool,
    pub severity: Severity,
    /// Absent (false) in reports recorded before breaches were flagged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub personal_data_breach: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentAcknowledged {
    pub note: Option<LongText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreachNotificationRecorded {
    pub notified_at: DateTime<Utc>,
    pub reference: ShortText,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentAssessed {
    pub severity: Severity,
    pub region_it_affected: bool,
    pub assessment: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentActionRecorded {
    pub action: LongText,
    pub taken_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentClosed {
    pub reason: Reason,
}

/// Why a security incident refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum IncidentError {
    #[error("a {role} may not {command}")]
    NotPermitted {
        command: &'static str,
        role: crate::actor::Role,
    },
    #[error("cannot {command} an incident that is {status}")]
    WrongStatus {
        command: &'static str,
        status: IncidentStatus,
    },
    #[error("{field} is in the future")]
    InFuture { field: &'static str },
    #[error("an incident cannot have occurred after it was detected")]
    OccurredAfterDetection,
    #[error(
        "the connection ended on {ended_on}: a late report must say when the incident occurred, on or before that day"
    )]
    OccurredAfterConnectionEnded { ended_on: NaiveDate },
    #[error("the incident is already acknowledged")]
    AlreadyAcknowledged,
    #[error("the incident is not a personal-data breach: there is nothing to notify")]
    NotABreach,
    #[error("the breach's notification is already recorded")]
    BreachAlreadyNotified,
    #[error("a breach cannot have been notified before it was detected")]
    NotifiedBeforeDetection,
}

impl IncidentError {
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotPermitted { .. } => "not_permitted",
            Self::WrongStatus { .. } => "wrong_status",
            Self::InFuture { .. } => "invalid_date",
            Self::OccurredAfterDetection => "occurred_after_detection",
            Self::OccurredAfterConnectionEnded { .. } => "occurred_after_connection_ended",
            Self::AlreadyAcknowledged => "already_acknowledged",
            Self::NotABreach => "not_a_breach",
            Self::BreachAlreadyNotified => "breach_already_notified",
            Self::NotifiedBeforeDetection => "notified_before_detection",
        }
    }

    pub const fn class(&self) -> crate::case::ErrorClass {
        use crate::case::ErrorClass;
        match self {
            Self::NotPermitted { .. } => ErrorClass::Forbidden,
            Self::WrongStatus { .. } | Self::AlreadyAcknowledged | Self::BreachAlreadyNotified => {
                ErrorClass::Conflict
            }
            Self::InFuture { .. }
            | Self::OccurredAfterDetection
            | Self::OccurredAfterConnectionEnded { .. }
            | Self::NotABreach
            | Self::NotifiedBeforeDetection => ErrorClass::Unprocessable,
        }
    }
}

impl crate::error::DomainError for IncidentError {
    const CODES: &'static [&'static str] = &[
        "not_permitted",
        "wrong_status",
        "invalid_date",
        "occurred_after_detection",
        "occurred_after_connection_ended",
        "already_acknowledged",
        "not_a_breach",
        "breach_already_notified",
        "notified_before_detection",
    ];

    fn code(&self) -> &'static str {
        Self::code(self)
    }

    fn class(&self) -> crate::case::ErrorClass {
        Self::class(self)
    }
}

#[cfg(test)]
mod codes {
    use super::*;

    #[test]
    fn codes_lists_exactly_the_codes_of_the_variants() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let all = [
            IncidentError::NotPermitted {
                command: "c",
                role: crate::actor::Role::Officer,
            },
            IncidentError::WrongStatus {
                command: "c",
                status: IncidentStatus::New,
            },
            IncidentError::InFuture { field: "f" },
            IncidentError::OccurredAfterDetection,
            IncidentError::OccurredAfterConnectionEnded { ended_on: date },
            IncidentError::AlreadyAcknowledged,
            IncidentError::NotABreach,
            IncidentError::BreachAlreadyNotified,
            IncidentError::NotifiedBeforeDetection,
        ];
        // Fails to compile when a variant is added: give it an instance above.
        for error in &all {
            match error {
                IncidentError::NotPermitted { .. }
                | IncidentError::WrongStatus { .. }
                | IncidentError::InFuture { .. }
                | IncidentError::OccurredAfterDetection
                | IncidentError::OccurredAfterConnectionEnded { .. }
                | IncidentError::AlreadyAcknowledged
                | IncidentError::NotABreach
                | IncidentError::BreachAlreadyNotified
                | IncidentError::NotifiedBeforeDetection => {}
            }
        }
        crate::error::assert_codes_match(&all);
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Not reported: the incident does not exist.
    #[default]
    New,
    Reported,
    Assessed,
    Closed,
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::New => "not reported",
            Self::Reported => "reported",
            Self::Assessed => "assessed",
            Self::Closed => "closed",
        })
    }
}

/// What an incident needs from outside: the time.
#[derive(Clone)]
pub struct IncidentServices {
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for IncidentServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncidentServices").finish_non_exhaustive()
    }
}

/// The facts of a reported incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    pub incident_id: IncidentId,
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    pub severity: Severity,
    pub region_it_affected: bool,
    pub reported_at: DateTime<Utc>,
    pub assessed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When the reporter became aware of it. Required in a snapshot, so that a snapshot of
    /// the shape before it does not read and the incident is replayed from its events.
    #[serde(deserialize_with = "required")]
    pub detected_at: DateTime<Utc>,
    #[serde(default)]
    pub personal_data_breach: bool,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub breach_notified_at: Option<DateTime<Utc>>,
}

fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer)
}

/// A personal-data breach's notification clock (GDPR art. 33(1)): due
/// [`BREACH_NOTIFICATION_HOURS`] after the reporter became aware of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BreachClock {
    pub aware_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    /// Not notified and the time has passed, or notified after it.
    pub overdue: bool,
}

/// A security incident, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityIncident {
    status: IncidentStatus,
    facts: Option<IncidentFacts>,
}

impl SecurityIncident {
    pub const fn status(&self) -> IncidentStatus {
        self.status
    }

    pub const fn facts(&self) -> Option<&IncidentFacts> {
        self.facts.as_ref()
    }

    /// The breach's notification clock at `now`; `None` unless the incident is a
    /// personal-data breach.
    pub fn breach_clock(&self, now: DateTime<Utc>) -> Option<BreachClock> {
        let facts = self.facts.as_ref().filter(|f| f.personal_data_breach)?;
        let due_at = facts.detected_at + chrono::Duration::hours(BREACH_NOTIFICATION_HOURS);
        Some(BreachClock {
            aware_at: facts.detected_at,
            due_at,
            notified_at: facts.breach_notified_at,
            overdue: facts.breach_notified_at.unwrap_or(now) > due_at,
        })
    }

    /// Decides what a command means for this incident: the event to record, or why not.
    pub fn decide(
        &self,
        issued: Issued<IncidentCommand>,
        services: &IncidentServices,
    ) -> Result<IncidentEvent, IncidentError> {
        let Issued { actor, command } = issued;
        let name = command.name();
        if !command.permission().allows(actor.role) {
            return Err(IncidentError::NotPermitted {
                command: name,
                role: actor.role,
            });
        }
        let at = services.clock.now();
        let require = |statuses: &[IncidentStatus]| {
            if statuses.contains(&self.status) {
                Ok(())
            } else {
                Err(IncidentError::WrongStatus {
                    command: name,
                    status: self.status,
                })
            }
        };
        let change = match command {
            IncidentCommand::Report(c) => {
                require(&[IncidentStatus::New])?;
                if c.detected_at > at {
                    return Err(IncidentError::InFuture {
                        field: "detected_at",
                    });
                }
                if c.occurred_at.is_some_and(|o| o > c.detected_at) {
                    return Err(IncidentError::OccurredAfterDetection);
                }
                if let Some(ended_on) = c.context.ended_on {
                    // A late report must concern the time the connection ran.
                    let occurred_on = c.occurred_at.map(|o| o.date_naive());
                    if occurred_on.is_none_or(|day| day > ended_on) {
                        return Err(IncidentError::OccurredAfterConnectionEnded { ended_on });
                    }
                }
                IncidentChange::IncidentReported(IncidentReported {
                    incident_id: c.incident_id,
                    case_id: c.context.case_id,
                    region: c.context.region,
                    provider_org: c.context.provider_org,
                    case_phase: c.context.phase,
                    summary: c.summary,
                    description: c.description,
                    detected_at: c.detected_at,
                    occurred_at: c.occurred_at,
                    region_it_may_be_affected: c.region_it_may_be_affected,
                    severity: c.severity,
                    personal_data_breach: c.personal_data_breach,
                })
            }
            IncidentCommand::Acknowledge(c) => {
                require(&[IncidentStatus::Reported, IncidentStatus::Assessed])?;
                if self
                    .facts
                    .as_ref()
                    .is_some_and(|f| f.acknowledged_at.is_some())
                {
                    return Err(IncidentError::AlreadyAcknowledged);
                }
                IncidentChange::IncidentAcknowledged(IncidentAcknowledged { note: c.note })
            }
            IncidentCommand::RecordBreachNotification(c) => {
                require(&[
                    IncidentStatus::Reported,
                    IncidentStatus::Assessed,
                    IncidentStatus::Closed,
                ])?;
                let facts = self.facts.as_ref().ok_or(IncidentError::WrongStatus {
                    command: name,
                    status: self.status,
                })?;
                if !facts.personal_data_breach {
                    return Err(IncidentError::NotABreach);
                }
                if facts.breach_notified_at.is_some() {
                    return Err(IncidentError::BreachAlreadyNotified);
                }
                if c.notified_at > at {
                    return Err(IncidentError::InFuture {
                        field: "notified_at",
                    });
                }
                if c.notified_at < facts.detected_at {
                    return Err(IncidentError::NotifiedBeforeDetection);
                }
                IncidentChange::BreachNotificationRecorded(BreachNotificationRecorded {
                    notified_at: c.notified_at,
                    reference: c.reference,
                })
            }
            IncidentCommand::Assess(c) => {
                require(&[IncidentStatus::Reported])?;
                IncidentChange::IncidentAssessed(IncidentAssessed {
                    severity: c.severity,
                    region_it_affected: c.region_it_affected,
                    assessment: c.assessment,
                })
            }
            IncidentCommand::RecordAction(c) => {
                require(&[IncidentStatus::Reported, IncidentStatus::Assessed])?;
                if c.taken_at > at {
                    return Err(IncidentError::InFuture { field: "taken_at" });
                }
                IncidentChange::IncidentActionRecorded(IncidentActionRecorded {
                    action: c.action,
                    taken_at: c.taken_at,
                })
            }
            IncidentCommand::Close(c) => {
                require(&[IncidentStatus::Assessed])?;
                IncidentChange::IncidentClosed(IncidentClosed { reason: c.reason })
            }
        };
        Ok(IncidentEvent { actor, at, change })
    }

    fn evolve(&mut self, at: DateTime<Utc>, change: IncidentChange) {
        match change {
            IncidentChange::IncidentReported(e) => {
                self.status = IncidentStatus::Reported;
                self.facts = Some(IncidentFacts {
                    incident_id: e.incident_id,
                    case_id: e.case_id,
                    region: e.region,
                    provider_org: e.provider_org,
                    severity: e.severity,
                    region_it_affected: e.region_it_may_be_affected,
                    reported_at: at,
                    assessed_at: None,
                    closed_at: None,
                    detected_at: e.detected_at,
                    personal_data_breach: e.personal_data_breach,
                    acknowledged_at: None,
                    breach_notified_at: None,
                });
            }
            IncidentChange::IncidentAssessed(e) => {
                self.status = IncidentStatus::Assessed;
                if let Some(facts) = &mut self.facts {
                    facts.severity = e.severity;
                    facts.region_it_affected = e.region_it_affected;
                    facts.assessed_at = Some(at);
                }
            }
            IncidentChange::IncidentActionRecorded(_) => {}
            IncidentChange::IncidentAcknowledged(_) => {
                if let Some(facts) = &mut self.facts {
                    facts.acknowledged_at = Some(at);
                }
            }
            IncidentChange::BreachNotificationRecorded(e) => {
                if let Some(facts) = &mut self.facts {
                    facts.breach_notified_at = Some(e.notified_at);
                }
            }
            IncidentChange::IncidentClosed(_) => {
                self.status = IncidentStatus::Closed;
                if let Some(facts) = &mut self.facts {
                    facts.closed_at = Some(at);
                }
            }
        }
    }
}

impl Aggregate for SecurityIncident {
    const TYPE: &'static str = "security_incident";
    type Command = Issued<IncidentCommand>;
    type Event = IncidentEvent;
    type Error = IncidentError;
    type Services = IncidentServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command, services)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: IncidentEvent) {
        self.evolve(event.at, event.change);
    }
}
