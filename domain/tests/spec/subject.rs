//! Data subjects: an officer or region IT forgets a subject once; nobody else may, and a
//! second forget is refused with the original decision.

use std::sync::Arc;

use cqrs_es::test::TestFramework;
use domain::case::Issued;
use domain::subject::{
    DataSubject, FORGET_ROLES, Forget, SubjectChange, SubjectCommand, SubjectError, SubjectEvent,
    SubjectForgotten, SubjectServices,
};
use domain::text::Reason;
use domain::{FixedClock, Role};

use crate::fixtures::*;

fn subject_spec() -> TestFramework<DataSubject> {
    TestFramework::with(SubjectServices {
        clock: Arc::new(FixedClock::at(instant(TODAY))),
    })
}

fn reason() -> Reason {
    Reason::parse("Erasure request 2025-17 (art. 17).").unwrap()
}

fn forget(n: u128) -> SubjectCommand {
    SubjectCommand::Forget(Forget {
        subject: subject(n),
        reason: reason(),
    })
}

fn forgotten_by(role: Role) -> SubjectEvent {
    SubjectEvent {
        actor: actor(role),
        at: instant(TODAY),
        change: SubjectChange::SubjectForgotten(SubjectForgotten {
            subject: subject(7),
            reason: reason(),
        }),
    }
}

#[test]
fn an_officer_or_region_it_forgets_a_subject_with_a_reason() {
    for role in FORGET_ROLES {
        subject_spec()
            .given_no_previous_events()
            .when(Issued::new(actor(role), forget(7)))
            .then_expect_events(vec![forgotten_by(role)]);
    }
}

#[test]
fn no_other_role_may_forget() {
    for role in Role::ALL.into_iter().filter(|r| !FORGET_ROLES.contains(r)) {
        subject_spec()
            .given_no_previous_events()
            .when(Issued::new(actor(role), forget(7)))
            .then_expect_error(SubjectError::NotPermitted {
                command: "forget-data-subject",
                role,
            });
    }
}

#[test]
fn a_second_forget_is_refused_with_the_first_decision() {
    let error = subject_spec()
        .given(vec![forgotten_by(Role::Officer)])
        .when(Issued::new(region_it(), forget(7)))
        .inspect_result()
        .unwrap_err();
    let SubjectError::AlreadyForgotten { forgotten } = error else {
        panic!("expected already_forgotten, got {error:?}");
    };
    assert_eq!(forgotten.by, officer());
    assert_eq!(forgotten.at, instant(TODAY));
}

#[test]
fn a_stream_holds_one_subject() {
    subject_spec()
        .given(vec![forgotten_by(Role::Officer)])
        .when(Issued::new(officer(), forget(8)))
        .then_expect_error(SubjectError::WrongSubject);
}
