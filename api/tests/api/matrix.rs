//! The authorisation matrix: every operation × every role × own tenant, foreign region and
//! foreign provider organisation. The operations and their request bodies come from the
//! OpenAPI document (every POST's example), so a new case command joins the matrix by itself;
//! the reads (including the time-travel reads of `as_of_position`), the audit endpoints
//! (`ReadAudit`: not providers, not dashboards), the feed, the read models and the webhooks
//! (`ManageWebhooks`: region IT and integrations) are listed here,
//! and a check counts them against the document. The read models' lists are filtered rather
//! than refused: another tenant gets 200 with none of the resources' content.
//!
//! Each cell's status is exact: 403 where the role lacks the permission (whatever the
//! tenant); 404 for another tenant's resource, with the same body as a missing one and none
//! of its content; otherwise what the domain decides for that actor on the resource as it
//! stands (replayed here from the store), 2xx or its 409/422.

use std::collections::BTreeMap;

use api::auth::Principal;
use api::authz::{ForgetSubject, ManageWebhooks, ReadAudit, Requirement};
use api::dto::commands::{CaseCommandRequest, Conversion};
use api::dto::incidents::IncidentCommandRequest;
use api::parse_json;
use cqrs_es::EventStore as _;
use domain::Role;
use domain::case::{CaseError, ConnectionCase, ErrorClass, Issued, Permission, permission_by_name};
use domain::ids::{CaseId, IncidentId};
use domain::incident::{IncidentCommand, SecurityIncident};
use serde_json::Value;
use store::StreamRef;

use crate::helpers::{JAMTLAND, ORG, OTHER_ORG, TestApp, spawn_app};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tenancy {
    Own,
    ForeignRegion,
    ForeignOrg,
}

const TENANCIES: [Tenancy; 3] = [Tenancy::Own, Tenancy::ForeignRegion, Tenancy::ForeignOrg];

fn claims(role: Role, tenancy: Tenancy) -> (&'static str, Option<&'static str>) {
    let region = if tenancy == Tenancy::ForeignRegion {
        "dalarna"
    } else {
        JAMTLAND
    };
    let org = if tenancy == Tenancy::ForeignOrg {
        OTHER_ORG
    } else {
        ORG
    };
    (region, (role == Role::Provider).then_some(org))
}

fn foreign(role: Role, tenancy: Tenancy) -> bool {
    match tenancy {
        Tenancy::Own => false,
        Tenancy::ForeignRegion => true,
        Tenancy::ForeignOrg => role == Role::Provider,
    }
}

fn class_status(class: ErrorClass) -> u16 {
    match class {
        ErrorClass::Forbidden => 403,
        ErrorClass::Conflict => 409,
        ErrorClass::Unprocessable => 422,
    }
}

/// One operation of the API, for the matrix.
#[derive(Debug, Clone)]
enum Op {
    Submit,
    CaseCommand(String),
    GetCase,
    Report,
    GetIncident,
    IncidentCommand(&'static str, Permission),
    Catalogue(&'static str),
    CaseHistory,
    CaseAsOf,
    IncidentHistory,
    IncidentAsOf,
    Feed,
    CheckpointKey,
    /// An audit read that concerns no tenant's resource.
    Audit(&'static str),
    /// The inclusion proof of the case's first event.
    InclusionProof,
    /// The case's audit export (JSON Lines with proofs; `ReadAudit`, tenanted like the case).
    CaseExport,
    /// The incident's audit export.
    IncidentExport,
    /// The case's read-model overview, read once it is projected.
    CaseOverview,
    /// A read-model list or aggregate: tenancy filters its rows.
    ReadModel(&'static str),
    /// A webhook operation on the fixture's subscription or its parked delivery.
    Webhook(Hook),
    /// Forgetting a contact named in the fixture's case (`ForgetSubject`: officers and
    /// region IT of a region whose events name it; the first forget wins, later ones are 409).
    Forget,
    /// Finding a staff member's subject (`ForgetSubject`; not tenanted).
    Lookup,
    /// What became of the command that submitted the fixture's case (tenanted like the case).
    CommandStatus,
}

/// The webhook operations. The fixture's subscription was deactivated by its receiver
/// (410 Gone), which parked its first delivery: so nothing changes underneath the matrix,
/// redelivery always answers 409 (a deactivated subscription) and only the first skip 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Create,
    List,
    Get,
    Deactivate,
    Deliveries,
    Delivery,
    Redeliver,
    Skip,
    Rotate,
}

struct Fixture {
    case: CaseId,
    incident_case: CaseId,
    incident: IncidentId,
    /// The position of the case's first event.
    case_position: u64,
    /// The position of the incident's report.
    incident_position: u64,
    /// The head of the log once the fixture is recorded.
    head: u64,
    /// Jämtland's deactivated subscription.
    subscription: String,
    /// Its parked delivery.
    delivery: String,
    /// A data subject named in the case's application.
    subject: String,
    /// The command that submitted the case.
    command: uuid::Uuid,
}

impl Op {
    fn path(&self, f: &Fixture) -> String {
        match self {
            Self::Submit => "/v1/cases".into(),
            Self::CaseCommand(name) => format!("/v1/cases/{}/{name}", f.case),
            Self::GetCase => format!("/v1/cases/{}", f.case),
            Self::Report => format!("/v1/cases/{}/incidents", f.incident_case),
            Self::GetIncident => format!("/v1/incidents/{}", f.incident),
            Self::IncidentCommand(suffix, _) => format!("/v1/incidents/{}/{suffix}", f.incident),
            Self::Catalogue(path) | Self::Audit(path) => (*path).into(),
            Self::CaseHistory => format!("/v1/cases/{}/history?limit=2", f.case),
            Self::CaseAsOf => format!("/v1/cases/{}?as_of_position={}", f.case, f.case_position),
            Self::IncidentHistory => format!("/v1/incidents/{}/history", f.incident),
            Self::IncidentAsOf => format!(
                "/v1/incidents/{}?as_of_position={}",
                f.incident, f.incident_position
            ),
            Self::Feed => "/v1/feed?limit=5".into(),
            Self::CheckpointKey => "/.well-known/anslut-checkpoint-key".into(),
            Self::InclusionProof => {
                format!("/v1/audit/proofs/inclusion?position={}", f.case_position)
            }
            Self::CaseExport => format!("/v1/cases/{}/audit-export", f.case),
            Self::IncidentExport => format!("/v1/incidents/{}/audit-export", f.incident),
            Self::CaseOverview => format!("/v1/cases/{}/overview?min_position={}", f.case, f.head),
            Self::ReadModel(path) => format!("{path}?min_position={}", f.head),
            Self::Webhook(hook) => match hook {
                Hook::Create | Hook::List => "/v1/webhooks/subscriptions".into(),
                Hook::Get | Hook::Deactivate => {
                    format!("/v1/webhooks/subscriptions/{}", f.subscription)
                }
                Hook::Deliveries => {
                    format!("/v1/webhooks/subscriptions/{}/deliveries", f.subscription)
                }
                Hook::Delivery => format!("/v1/webhooks/deliveries/{}", f.delivery),
                Hook::Redeliver => format!("/v1/webhooks/deliveries/{}/redeliver", f.delivery),
                Hook::Skip => format!("/v1/webhooks/deliveries/{}/skip", f.delivery),
                Hook::Rotate => format!(
                    "/v1/webhooks/subscriptions/{}/rotate-secret",
                    f.subscription
                ),
            },
            Self::Forget => format!("/v1/privacy/subjects/{}/forget", f.subject),
            Self::Lookup => "/v1/privacy/subjects/lookup".into(),
            Self::CommandStatus => format!("/v1/commands/{}", f.command),
        }
    }

    fn is_get(&self) -> bool {
        !matches!(
            self,
            Self::Submit
                | Self::CaseCommand(_)
                | Self::Report
                | Self::IncidentCommand(..)
                | Self::Webhook(
                    Hook::Create | Hook::Deactivate | Hook::Redeliver | Hook::Skip | Hook::Rotate
                )
                | Self::Forget
                | Self::Lookup
        )
    }

    /// Whether the role may call the operation at all (else 403).
    fn admits(&self, role: Role) -> bool {
        match self {
            Self::Audit(_) | Self::InclusionProof | Self::CaseExport | Self::IncidentExport => {
                ReadAudit::admits(role)
            }
            Self::Webhook(_) => ManageWebhooks::admits(role),
            Self::Forget | Self::Lookup => ForgetSubject::admits(role),
            _ => self
                .permission()
                .is_none_or(|permission| permission.allows(role)),
        }
    }

    fn template(&self) -> String {
        match self {
            Self::Submit => "/v1/cases".into(),
            Self::CaseCommand(name) => format!("/v1/cases/{{case_id}}/{name}"),
            Self::Report => "/v1/cases/{case_id}/incidents".into(),
            Self::IncidentCommand(suffix, _) => format!("/v1/incidents/{{incident_id}}/{suffix}"),
            Self::Webhook(Hook::Create) => "/v1/webhooks/subscriptions".into(),
            Self::Forget => "/v1/privacy/subjects/{subject_id}/forget".into(),
            Self::Lookup => "/v1/privacy/subjects/lookup".into(),
            _ => String::new(),
        }
    }

    fn permission(&self) -> Option<Permission> {
        match self {
            Self::Submit => permission_by_name("submit-application"),
            Self::CaseCommand(name) => permission_by_name(name),
            Self::Report => Some(Permission::ReportIncident),
            Self::IncidentCommand(_, permission) => Some(*permission),
            _ => None,
        }
    }

    fn tenanted(&self) -> bool {
        !matches!(
            self,
            Self::Catalogue(_)
                | Self::Submit
                | Self::Feed
                | Self::CheckpointKey
                | Self::Audit(_)
                | Self::ReadModel(_)
                | Self::Webhook(Hook::Create | Hook::List)
                | Self::Lookup
        )
    }
}

fn example(spec: &Value, template: &str) -> Value {
    spec["paths"][template]["post"]["requestBody"]["content"]["application/json"]["example"].clone()
}

/// The status the domain gives this command, for this actor, on the resource as stored now.
async fn domain_status(
    app: &TestApp,
    op: &Op,
    principal: &Principal,
    body: &Value,
    f: &Fixture,
) -> u16 {
    let state = &app.state;
    let conversion = Conversion {
        today: state.clock.today(),
        subjects: &state.subjects,
    };
    let bytes = serde_json::to_vec(body).unwrap();
    let actor = principal.actor().clone();
    match op {
        Op::Submit => {
            let request: api::dto::commands::SubmitApplicationRequest = parse_json(&bytes).unwrap();
            let Ok(command) =
                request.into_command(CaseId::from_uuid(uuid::Uuid::now_v7()), &conversion)
            else {
                return 400;
            };
            decided(
                ConnectionCase::default()
                    .decide(Issued::new(actor, command), &state.case_services())
                    .map(|_| 201),
            )
        }
        Op::CaseCommand(name) => {
            let case = load_case(app, f.case).await;
            let Some(command) = case_command(name.as_str(), &bytes, &conversion) else {
                return 400;
            };
            decided(
                case.decide(Issued::new(actor, command), &state.case_services())
                    .map(|_| 200),
            )
        }
        Op::Report => {
            let case = load_case(app, f.incident_case).await;
            let context = match case.incident_context() {
                Ok(context) => context,
                Err(error) => return class_status(error.class()),
            };
            let request: api::dto::incidents::ReportIncidentRequest = parse_json(&bytes).unwrap();
            let command = request
                .into_command(IncidentId::from_uuid(uuid::Uuid::now_v7()), context)
                .unwrap();
            match SecurityIncident::default()
                .decide(Issued::new(actor, command), &state.incident_services())
            {
                Ok(_) => 201,
                Err(error) => class_status(error.class()),
            }
        }
        Op::IncidentCommand(suffix, _) => {
            let suffix: &str = suffix;
            let incident = state
                .store
                .aggregate_store::<SecurityIncident>()
                .load_aggregate(&f.incident.to_string())
                .await
                .unwrap()
                .aggregate;
            let command: IncidentCommand = match suffix {
                "assess" => parse_json::<api::dto::incidents::AssessIncidentRequest>(&bytes)
                    .unwrap()
                    .into_command(),
                "record-action" => {
                    parse_json::<api::dto::incidents::RecordIncidentActionRequest>(&bytes)
                        .unwrap()
                        .into_command()
                }
                "acknowledge" => {
                    parse_json::<api::dto::incidents::AcknowledgeIncidentRequest>(&bytes)
                        .unwrap()
                        .into_command()
                }
                "record-breach-notification" => {
                    parse_json::<api::dto::incidents::RecordBreachNotificationRequest>(&bytes)
                        .unwrap()
                        .into_command()
                }
                _ => parse_json::<api::dto::incidents::CloseIncidentRequest>(&bytes)
                    .unwrap()
                    .into_command(),
            }
            .unwrap();
            match incident.decide(Issued::new(actor, command), &state.incident_services()) {
                Ok(_) => 200,
                Err(error) => class_status(error.class()),
            }
        }
        Op::Webhook(Hook::Create) => 201,
        Op::Forget => {
            let subject = state
                .store
                .aggregate_store::<domain::subject::DataSubject>()
                .load_aggregate(&f.subject)
                .await
                .unwrap()
                .aggregate;
            if subject.forgotten().is_some() {
                409
            } else {
                200
            }
        }
        // The fixture's subscription is deactivated: it has no secret to rotate.
        Op::Webhook(Hook::Redeliver | Hook::Rotate) => 409,
        Op::Webhook(Hook::Skip) => {
            let delivery = app
                .state
                .webhooks
                .delivery(
                    JAMTLAND,
                    ::webhooks::DeliveryId::parse(&f.delivery).unwrap(),
                )
                .await
                .unwrap()
                .unwrap();
            if delivery.delivery.status == ::webhooks::DeliveryStatus::Parked {
                200
            } else {
                409
            }
        }
        _ => 200,
    }
}

fn decided(result: Result<u16, CaseError>) -> u16 {
    result.unwrap_or_else(|error| class_status(error.class()))
}

async fn load_case(app: &TestApp, id: CaseId) -> ConnectionCase {
    app.state
        .store
        .aggregate_store::<ConnectionCase>()
        .load_aggregate(&id.to_string())
        .await
        .unwrap()
        .aggregate
}

/// The domain command a route's body becomes, through the route's own request type.
fn case_command(
    name: &str,
    bytes: &[u8],
    conversion: &Conversion<'_>,
) -> Option<domain::case::CaseCommand> {
    use api::dto::commands as c;
    fn convert<R: CaseCommandRequest>(
        bytes: &[u8],
        conversion: &Conversion<'_>,
    ) -> Option<domain::case::CaseCommand> {
        parse_json::<R>(bytes).ok()?.into_command(conversion).ok()
    }
    match name {
        "approve-application" => convert::<c::ApproveApplicationRequest>(bytes, conversion),
        "reject-application" => convert::<c::RejectApplicationRequest>(bytes, conversion),
        "sign-contract" => convert::<c::SignContractRequest>(bytes, conversion),
        "sign-agreement" => convert::<c::SignAgreementRequest>(bytes, conversion),
        "submit-self-declaration" => convert::<c::SubmitSelfDeclarationRequest>(bytes, conversion),
        "accept-self-declaration" => convert::<c::AcceptSelfDeclarationRequest>(bytes, conversion),
        "return-self-declaration" => convert::<c::ReturnSelfDeclarationRequest>(bytes, conversion),
        "agree-deviation" => convert::<c::AgreeDeviationRequest>(bytes, conversion),
        "record-staff-commitment" => convert::<c::RecordStaffCommitmentRequest>(bytes, conversion),
        "record-milestone" => convert::<c::RecordMilestoneRequest>(bytes, conversion),
        "complete-training" => convert::<c::CompleteTrainingRequest>(bytes, conversion),
        "schedule-final-verification" => {
            convert::<c::ScheduleFinalVerificationRequest>(bytes, conversion)
        }
        "record-finding" => convert::<c::RecordFindingRequest>(bytes, conversion),
        "resolve-finding" => convert::<c::ResolveFindingRequest>(bytes, conversion),
        "approve-final-verification" => {
            convert::<c::ApproveFinalVerificationRequest>(bytes, conversion)
        }
        "fail-final-verification" => convert::<c::FailFinalVerificationRequest>(bytes, conversion),
        "sign-final-contract" => convert::<c::SignFinalContractRequest>(bytes, conversion),
        "go-live" => convert::<c::GoLiveRequest>(bytes, conversion),
        "report-organisational-change" => {
            convert::<c::ReportOrganisationalChangeRequest>(bytes, conversion)
        }
        "request-non-standard-service" => {
            convert::<c::RequestNonStandardServiceRequest>(bytes, conversion)
        }
        "decide-non-standard-service" => {
            convert::<c::DecideNonStandardServiceRequest>(bytes, conversion)
        }
        "attest-catalogue-version" => {
            convert::<c::AttestCatalogueVersionRequest>(bytes, conversion)
        }
        "suspend-connection" => convert::<c::SuspendConnectionRequest>(bytes, conversion),
        "resume-connection" => convert::<c::ResumeConnectionRequest>(bytes, conversion),
        "end-connection" => convert::<c::EndConnectionRequest>(bytes, conversion),
        "list-staff-member" => convert::<c::ListStaffMemberRequest>(bytes, conversion),
        "record-step-applicability" => {
            convert::<c::RecordStepApplicabilityRequest>(bytes, conversion)
        }
        "record-plan" => convert::<c::RecordPlanRequest>(bytes, conversion),
        "record-technical-check" => convert::<c::RecordTechnicalCheckRequest>(bytes, conversion),
        "respond-to-finding" => convert::<c::RespondToFindingRequest>(bytes, conversion),
        "reject-finding-response" => convert::<c::RejectFindingResponseRequest>(bytes, conversion),
        "require-attestation" => convert::<c::RequireAttestationRequest>(bytes, conversion),
        "change-workstations" => convert::<c::ChangeWorkstationsRequest>(bytes, conversion),
        "update-contact" => convert::<c::UpdateContactRequest>(bytes, conversion),
        other => panic!("the matrix knows no command {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_every_role_and_tenant_exactly() {
    let app = spawn_app().await;
    let spec = serde_json::to_value(api::openapi::spec()).unwrap();
    // A subscription to every event, at a receiver that answers 410 Gone.
    let receiver = crate::webhooks::Receiver::start(410);
    let subscribed = crate::webhooks::subscribe(&app, &receiver.url, &["*"]).await;
    let subscription = subscribed["subscription"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The resources: a case in its application, and an incident on a case in establishment.
    let case = CaseId::parse(&app.submit_jamtland().await).unwrap();
    let incident_case = CaseId::parse(&app.establishment_case().await).unwrap();
    let reported = app
        .post(
            &format!("/v1/cases/{incident_case}/incidents"),
            &app.officer(),
            &example(&spec, "/v1/cases/{case_id}/incidents"),
            None,
            None,
        )
        .await;
    assert_eq!(reported.status, 201, "{}", reported.text);
    let incident = IncidentId::parse(reported.json()["incident_id"].as_str().unwrap()).unwrap();
    let first_position = |stream: StreamRef| {
        let store = app.state.store.clone();
        async move {
            store.read_stream(&stream, 0, 1).await.unwrap()[0]
                .position
                .get()
        }
    };
    let fixture = Fixture {
        case,
        incident_case,
        incident,
        case_position: first_position(StreamRef::new("connection_case", case.to_string())).await,
        incident_position: first_position(StreamRef::new(
            "security_incident",
            incident.to_string(),
        ))
        .await,
        head: app.head().await,
        delivery: {
            let it = crate::webhooks::region_it(&app, JAMTLAND);
            let parked = crate::webhooks::poll(
                &app,
                &format!("/v1/webhooks/subscriptions/{subscription}/deliveries?status=parked"),
                &it,
                |page| page["deliveries"].as_array().is_some_and(|d| !d.is_empty()),
            )
            .await;
            crate::webhooks::poll(
                &app,
                &format!("/v1/webhooks/subscriptions/{subscription}"),
                &it,
                |s| s["active"] == false,
            )
            .await;
            parked["deliveries"][0]["delivery_id"]
                .as_str()
                .unwrap()
                .to_owned()
        },
        subscription,
        subject: {
            let events = app
                .state
                .store
                .read_stream(&StreamRef::new("connection_case", case.to_string()), 0, 1)
                .await
                .unwrap();
            events[0].payload["change"]["data"]["contacts"][0]["person"]["pii"]["subject"]
                .as_str()
                .expect("the application names a contact")
                .to_owned()
        },
        command: app
            .state
            .store
            .read_stream(&StreamRef::new("connection_case", case.to_string()), 0, 1)
            .await
            .unwrap()[0]
            .metadata
            .command_id,
    };
    let checkpoint = app.state.audit.checkpoint_now().await.unwrap().unwrap();
    let checkpoint_at: &'static str =
        format!("/v1/audit/checkpoints/{}", checkpoint.tree_size).leak();
    let missing_case = app
        .get(
            &format!("/v1/cases/{}", uuid::Uuid::now_v7()),
            &app.officer(),
        )
        .await
        .json();

    // The operations, from the document.
    let mut operations = vec![Op::Submit, Op::GetCase, Op::Report, Op::GetIncident];
    for (path, _) in spec["paths"].as_object().unwrap() {
        if let Some(name) = path.strip_prefix("/v1/cases/{case_id}/")
            && !["incidents", "history", "overview", "audit-export"].contains(&name)
        {
            operations.push(Op::CaseCommand(name.to_owned()));
        }
    }
    operations.extend([
        Op::IncidentCommand("assess", Permission::AssessIncident),
        Op::IncidentCommand("record-action", Permission::ReportIncident),
        Op::IncidentCommand("close", Permission::AssessIncident),
        Op::IncidentCommand("acknowledge", Permission::AssessIncident),
        Op::IncidentCommand("record-breach-notification", Permission::ReportIncident),
        Op::Catalogue("/v1/catalogues"),
        Op::Catalogue("/v1/catalogues/jamtland-halsoval/versions/1"),
        Op::Catalogue("/v1/catalogues/jamtland-halsoval/versions/1/process"),
        Op::Catalogue("/v1/catalogues/dalarna-bup/diff?from=1&to=2"),
        Op::CaseHistory,
        Op::CaseAsOf,
        Op::IncidentHistory,
        Op::IncidentAsOf,
        Op::Feed,
        Op::CheckpointKey,
        Op::Audit("/v1/audit/checkpoint"),
        Op::Audit(checkpoint_at),
        Op::Audit("/v1/audit/proofs/consistency?from=1"),
        Op::InclusionProof,
        Op::CaseExport,
        Op::IncidentExport,
        Op::CaseOverview,
        Op::ReadModel("/v1/cases"),
        Op::ReadModel("/v1/pipeline"),
        Op::ReadModel("/v1/findings"),
        Op::ReadModel("/v1/incidents"),
        Op::ReadModel("/v1/incidents/summary"),
        Op::ReadModel("/v1/compliance"),
        Op::ReadModel("/v1/staff-commitments"),
        Op::ReadModel("/v1/costs"),
        Op::Webhook(Hook::Create),
        Op::Webhook(Hook::List),
        Op::Webhook(Hook::Get),
        Op::Webhook(Hook::Deliveries),
        Op::Webhook(Hook::Delivery),
        Op::Webhook(Hook::Redeliver),
        Op::Webhook(Hook::Skip),
        Op::Webhook(Hook::Deactivate),
        Op::Webhook(Hook::Rotate),
        Op::Lookup,
        Op::Forget,
        Op::CommandStatus,
    ]);
    let documented: usize = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| !["/healthz", "/readyz", "/metrics"].contains(&path.as_str()))
        .map(|(_, item)| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        operations.len(),
        documented + 2,
        "every documented operation but the operations endpoints is in the matrix, and the \
         two time-travel reads"
    );
    assert_eq!(operations.len(), 4 + 34 + 8 + 13 + 9 + 9 + 2 + 1);

    let mut cells = 0;
    let mut tally: BTreeMap<u16, usize> = BTreeMap::new();
    for op in &operations {
        for role in Role::ALL {
            for tenancy in TENANCIES {
                let (region, org) = claims(role, tenancy);
                let token = app.token(role.as_str(), region, org);
                let principal = Principal::from_claims(
                    &format!("test-{}", role.as_str()),
                    role.as_str(),
                    region,
                    org,
                )
                .unwrap();
                let is_post = !op.is_get();
                let body = if is_post {
                    example(&spec, &op.template())
                } else {
                    Value::Null
                };
                let expected = if !op.admits(role) {
                    403
                } else if op.tenanted() && foreign(role, tenancy) {
                    404
                } else {
                    domain_status(&app, op, &principal, &body, &fixture).await
                };
                let path = op.path(&fixture);
                let answer = if matches!(op, Op::Webhook(Hook::Deactivate)) {
                    app.send(
                        app.client
                            .delete(format!("{}{path}", app.address))
                            .bearer_auth(&token),
                    )
                    .await
                } else if is_post {
                    let if_match =
                        matches!(op, Op::CaseCommand(_) | Op::IncidentCommand(..)).then_some("*");
                    app.post(&path, &token, &body, if_match, None).await
                } else {
                    app.get(&path, &token).await
                };
                assert_eq!(
                    answer.status, expected,
                    "{op:?} as {role} ({tenancy:?}): {}",
                    answer.text
                );
                if expected == 404 {
                    let mut body = answer.json();
                    let mut missing = missing_case.clone();
                    // A command's answer names its own command id, whatever it refused.
                    for b in [&mut body, &mut missing] {
                        b.as_object_mut().unwrap().remove("detail");
                        b.as_object_mut().unwrap().remove("command_id");
                    }
                    assert_eq!(
                        body, missing,
                        "a foreign resource answers like a missing one"
                    );
                    for secret in ["Östersundshälsan", ORG, "jamtland-halsoval"] {
                        assert!(!answer.text.contains(secret), "{op:?} leaked {secret}");
                    }
                }
                if matches!(op, Op::Webhook(Hook::List)) && foreign(role, tenancy) {
                    assert!(
                        !answer.text.contains(&fixture.subscription),
                        "another region's subscription listed"
                    );
                }
                if matches!(op, Op::CaseExport | Op::IncidentExport) && expected == 200 {
                    // The export is the JSON Lines of `anslut audit export`, and checks out.
                    let report = audit::verify_export(
                        answer.text.as_bytes(),
                        app.state.audit.verifier_key(),
                    )
                    .unwrap();
                    assert!(report.is_valid(), "{op:?} as {role}: {report:?}");
                    assert!(report.events_checked > 0);
                    assert_eq!(answer.headers["content-type"], "application/jsonl");
                }
                if matches!(op, Op::ReadModel(_)) && foreign(role, tenancy) {
                    for secret in ["Östersundshälsan", ORG] {
                        assert!(!answer.text.contains(secret), "{op:?} leaked {secret}");
                    }
                }
                cells += 1;
                *tally.entry(answer.status).or_default() += 1;
            }
        }
    }
    assert_eq!(cells, operations.len() * Role::ALL.len() * TENANCIES.len());
    assert_eq!(cells, 1440);
    for status in [200, 201, 403, 404, 409] {
        assert!(
            tally.get(&status).is_some_and(|n| *n > 0),
            "no {status} in {tally:?}"
        );
    }
}
