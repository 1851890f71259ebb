//! Security incidents: reported against a case that accepts reports, assessed and closed by
//! region IT, with actions recorded in between.

use std::sync::Arc;

use cqrs_es::test::TestFramework;
use domain::case::{CaseCommand, EndConnection, Ending, Issued, Phase, SuspendConnection};
use domain::ids::IncidentId;
use domain::incident::{
    AssessIncident, CloseIncident, IncidentChange, IncidentCommand, IncidentError,
    IncidentServices, IncidentStatus, RecordIncidentAction, ReportIncident, SecurityIncident,
    Severity,
};
use domain::{FixedClock, Role};
use uuid::Uuid;

use crate::fixtures::*;

fn incident_spec() -> TestFramework<SecurityIncident> {
    incident_spec_on(TODAY)
}

fn incident_spec_on(day: &str) -> TestFramework<SecurityIncident> {
    TestFramework::with(IncidentServices {
        clock: Arc::new(FixedClock::at(instant(day))),
    })
}

fn report(history: &History, occurred: Option<&str>, detected: &str) -> IncidentCommand {
    IncidentCommand::Report(ReportIncident {
        incident_id: IncidentId::from_uuid(Uuid::from_u128(0x77)),
        context: history
            .case()
            .incident_context()
            .expect("the case accepts reports"),
        summary: text("Phishing mail opened"),
        description: long("A user opened an attachment; the workstation was isolated."),
        detected_at: instant(detected),
        occurred_at: occurred.map(instant),
        region_it_may_be_affected: true,
        severity: Severity::High,
        personal_data_breach: false,
    })
}

fn reported() -> Vec<domain::incident::IncidentEvent> {
    incident_spec()
        .given_no_previous_events()
        .when(Issued::new(
            provider(),
            report(&History::new().live(), None, TODAY),
        ))
        .inspect_result()
        .unwrap()
}

fn assess() -> IncidentCommand {
    IncidentCommand::Assess(AssessIncident {
        severity: Severity::Medium,
        region_it_affected: false,
        assessment: long("Contained at the workstation; no spread to the region's network."),
    })
}

fn close() -> IncidentCommand {
    IncidentCommand::Close(CloseIncident {
        reason: long("Workstation reinstalled, user trained."),
    })
}

#[test]
fn a_provider_reports_an_incident_against_its_live_case() {
    let events = reported();
    let IncidentChange::IncidentReported(e) = &events[0].change else {
        panic!("expected IncidentReported");
    };
    assert_eq!(e.case_id, case_id());
    assert_eq!(e.region, region());
    assert_eq!(e.provider_org, provider_org());
    assert_eq!(e.case_phase, Phase::Live);
    assert_eq!(events[0].actor, provider());
}

#[test]
fn an_incident_is_reported_once() {
    incident_spec()
        .given(reported())
        .when(Issued::new(
            provider(),
            report(&History::new().live(), None, TODAY),
        ))
        .then_expect_error(IncidentError::WrongStatus {
            command: "report-incident",
            status: IncidentStatus::Reported,
        });
}

#[test]
fn an_incident_cannot_be_detected_in_the_future_nor_occur_after_detection() {
    let live = History::new().live();
    incident_spec()
        .given_no_previous_events()
        .when(Issued::new(provider(), report(&live, None, "2025-03-04")))
        .then_expect_error(IncidentError::InFuture {
            field: "detected_at",
        });
    incident_spec()
        .given_no_previous_events()
        .when(Issued::new(
            provider(),
            report(&live, Some(TODAY), "2025-03-01"),
        ))
        .then_expect_error(IncidentError::OccurredAfterDetection);
}

#[test]
fn a_suspended_connection_still_takes_incident_reports() {
    let suspended = History::new().live().then(
        officer(),
        CaseCommand::SuspendConnection(SuspendConnection {
            reason: long("Security review."),
        }),
    );
    incident_spec()
        .given_no_previous_events()
        .when(Issued::new(provider(), report(&suspended, None, TODAY)))
        .inspect_result()
        .unwrap();
}

#[test]
fn after_ending_a_late_report_must_concern_the_time_the_connection_ran() {
    let ended = History::new().live().then(
        officer(),
        CaseCommand::EndConnection(EndConnection {
            ending: Ending::ContractEnded,
            ended_on: date(TODAY),
            reason: long("The contract ran out."),
        }),
    );
    let later = "2025-04-10";
    incident_spec_on(later)
        .given_no_previous_events()
        .when(Issued::new(provider(), report(&ended, None, later)))
        .then_expect_error(IncidentError::OccurredAfterConnectionEnded {
            ended_on: date(TODAY),
        });
    incident_spec_on(later)
        .given_no_previous_events()
        .when(Issued::new(
            provider(),
            report(&ended, Some("2025-03-04"), later),
        ))
        .then_expect_error(IncidentError::OccurredAfterConnectionEnded {
            ended_on: date(TODAY),
        });
    let events = incident_spec_on(later)
        .given_no_previous_events()
        .when(Issued::new(
            provider(),
            report(&ended, Some("2025-03-03"), later),
        ))
        .inspect_result()
        .unwrap();
    let IncidentChange::IncidentReported(e) = &events[0].change else {
        panic!("expected IncidentReported");
    };
    assert_eq!(e.case_phase, Phase::Ended);
}

#[test]
fn region_it_assesses_and_closes_and_the_provider_does_neither() {
    incident_spec()
        .given(reported())
        .when(Issued::new(provider(), assess()))
        .then_expect_error(IncidentError::NotPermitted {
            command: "assess-incident",
            role: Role::Provider,
        });
    let assessed = incident_spec()
        .given(reported())
        .when(Issued::new(region_it(), assess()))
        .inspect_result()
        .unwrap();
    let mut history = reported();
    history.extend(assessed);
    incident_spec()
        .given(history.clone())
        .when(Issued::new(provider(), close()))
        .then_expect_error(IncidentError::NotPermitted {
            command: "close-incident",
            role: Role::Provider,
        });
    incident_spec()
        .given(history)
        .when(Issued::new(region_it(), close()))
        .inspect_result()
        .unwrap();
}

#[test]
fn an_incident_is_closed_only_after_assessment_and_then_takes_nothing_more() {
    incident_spec()
        .given(reported())
        .when(Issued::new(region_it(), close()))
        .then_expect_error(IncidentError::WrongStatus {
            command: "close-incident",
            status: IncidentStatus::Reported,
        });
    let mut history = reported();
    let services = IncidentServices {
        clock: Arc::new(FixedClock::at(instant(TODAY))),
    };
    let mut incident = SecurityIncident::default();
    for e in &history {
        cqrs_es::Aggregate::apply(&mut incident, e.clone());
    }
    for command in [assess(), close()] {
        let e = incident
            .decide(Issued::new(region_it(), command), &services)
            .unwrap();
        cqrs_es::Aggregate::apply(&mut incident, e.clone());
        history.push(e);
    }
    assert_eq!(incident.status(), IncidentStatus::Closed);
    let facts = incident.facts().unwrap();
    assert_eq!(facts.severity, Severity::Medium);
    assert!(facts.assessed_at.is_some() && facts.closed_at.is_some());
    incident_spec()
        .given(history)
        .when(Issued::new(
            provider(),
            IncidentCommand::RecordAction(RecordIncidentAction {
                action: long("More."),
                taken_at: instant(TODAY),
            }),
        ))
        .then_expect_error(IncidentError::WrongStatus {
            command: "record-incident-action",
            status: IncidentStatus::Closed,
        });
}

#[test]
fn actions_are_recorded_while_the_incident_is_open_but_not_in_the_future() {
    incident_spec()
        .given(reported())
        .when(Issued::new(
            provider(),
            IncidentCommand::RecordAction(RecordIncidentAction {
                action: long("Passwords reset."),
                taken_at: instant(TODAY),
            }),
        ))
        .inspect_result()
        .unwrap();
    incident_spec()
        .given(reported())
        .when(Issued::new(
            provider(),
            IncidentCommand::RecordAction(RecordIncidentAction {
                action: long("Passwords reset."),
                taken_at: instant("2025-03-05"),
            }),
        ))
        .then_expect_error(IncidentError::InFuture { field: "taken_at" });
}

#[test]
fn readers_report_nothing() {
    for role in [Role::Auditor, Role::Dashboard] {
        incident_spec()
            .given_no_previous_events()
            .when(Issued::new(
                actor(role),
                report(&History::new().live(), None, TODAY),
            ))
            .then_expect_error(IncidentError::NotPermitted {
                command: "report-incident",
                role,
            });
    }
}

fn breach_reported(detected: &str) -> Vec<domain::incident::IncidentEvent> {
    let mut command = report(&History::new().live(), None, detected);
    if let IncidentCommand::Report(r) = &mut command {
        r.personal_data_breach = true;
    }
    incident_spec()
        .given_no_previous_events()
        .when(Issued::new(provider(), command))
        .inspect_result()
        .unwrap()
}

fn notify(at: &str) -> IncidentCommand {
    IncidentCommand::RecordBreachNotification(domain::incident::RecordBreachNotification {
        notified_at: instant(at),
        reference: text("IMY-2025-0042"),
    })
}

fn incident_from(events: &[domain::incident::IncidentEvent]) -> SecurityIncident {
    let mut incident = SecurityIncident::default();
    for event in events {
        cqrs_es::Aggregate::apply(&mut incident, event.clone());
    }
    incident
}

#[test]
fn a_personal_data_breach_has_72_hours_from_detection_to_be_notified() {
    // GDPR art. 33(1): "not later than 72 hours after having become aware of it".
    let reported = breach_reported("2025-03-01");
    let incident = incident_from(&reported);
    let clock = incident.breach_clock(instant("2025-03-03")).unwrap();
    assert_eq!(clock.aware_at, instant("2025-03-01"));
    assert_eq!(clock.due_at, instant("2025-03-04"));
    assert!(!clock.overdue, "two days in");
    assert!(
        incident
            .breach_clock(instant("2025-03-05"))
            .unwrap()
            .overdue,
        "four days in, not notified"
    );
    // Notified in time: never overdue afterwards.
    let notified = incident_spec()
        .given(reported.clone())
        .when(Issued::new(provider(), notify("2025-03-03")))
        .inspect_result()
        .unwrap();
    let incident = incident_from(&[reported.clone(), notified].concat());
    let clock = incident.breach_clock(instant("2025-04-01")).unwrap();
    assert_eq!(clock.notified_at, Some(instant("2025-03-03")));
    assert!(!clock.overdue);
    // Once only; not before it was detected; not for an incident that is no breach.
    incident_spec()
        .given(reported)
        .when(Issued::new(provider(), notify("2025-02-28")))
        .then_expect_error(IncidentError::NotifiedBeforeDetection);
    incident_spec()
        .given(reported_then_notified())
        .when(Issued::new(provider(), notify("2025-03-03")))
        .then_expect_error(IncidentError::BreachAlreadyNotified);
    incident_spec()
        .given(reported_plain())
        .when(Issued::new(provider(), notify("2025-03-03")))
        .then_expect_error(IncidentError::NotABreach);
    assert!(
        incident_from(&reported_plain())
            .breach_clock(instant(TODAY))
            .is_none()
    );
}

fn reported_plain() -> Vec<domain::incident::IncidentEvent> {
    reported()
}

fn reported_then_notified() -> Vec<domain::incident::IncidentEvent> {
    let reported = breach_reported("2025-03-01");
    let notified = incident_spec()
        .given(reported.clone())
        .when(Issued::new(provider(), notify("2025-03-02")))
        .inspect_result()
        .unwrap();
    [reported, notified].concat()
}

#[test]
fn the_region_acknowledges_a_report_once_and_only_region_it_may() {
    let reported = reported();
    incident_spec()
        .given(reported.clone())
        .when(Issued::new(
            provider(),
            IncidentCommand::Acknowledge(domain::incident::AcknowledgeIncident { note: None }),
        ))
        .then_expect_error(IncidentError::NotPermitted {
            command: "acknowledge-incident",
            role: Role::Provider,
        });
    let acknowledged = incident_spec()
        .given(reported.clone())
        .when(Issued::new(
            region_it(),
            IncidentCommand::Acknowledge(domain::incident::AcknowledgeIncident {
                note: Some(long("Received.")),
            }),
        ))
        .inspect_result()
        .unwrap();
    let incident = incident_from(&[reported.clone(), acknowledged.clone()].concat());
    assert_eq!(
        incident.facts().unwrap().acknowledged_at,
        Some(instant(TODAY))
    );
    incident_spec()
        .given([reported, acknowledged].concat())
        .when(Issued::new(
            region_it(),
            IncidentCommand::Acknowledge(domain::incident::AcknowledgeIncident { note: None }),
        ))
        .then_expect_error(IncidentError::AlreadyAcknowledged);
}
